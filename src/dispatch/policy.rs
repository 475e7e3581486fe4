//! The dispatch policy: what becomes of a claimed delivery, decided from the delivery, the
//! campaign's rules and the time alone, with no I/O. Whether it goes at all (opted out,
//! expired, a reminder after the answer, outside the send window), what a send changes (the
//! invitation's expiry and reminders), and what a failure makes of it (a retry after a
//! backoff, a fallback to the campaign's next channel, or the end).

use super::DispatchSettings;
use crate::campaign::Campaign;
use crate::channels::SendError;
use crate::domain::{Channel, InvitationState, MessageKind, SurveyChannel, TimeZone};
use crate::store::{Claimed, FinalStatus, FollowUp, Outcome, ReminderDue};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// What to do with a claimed delivery now.
#[derive(Debug)]
pub enum Decision {
    /// Render and send it.
    Send,
    /// Do not send it: this is what became of it.
    Skip(Outcome),
}

/// The rules a delivery is judged by: the dispatch settings (attempts, backoff), the
/// campaigns (windows, expiry, reminders, fallback channels) and the default time zone.
pub struct Policy {
    settings: DispatchSettings,
    campaigns: Arc<HashMap<String, Campaign>>,
    default_time_zone: TimeZone,
}

impl Policy {
    pub fn new(
        settings: DispatchSettings,
        campaigns: Arc<HashMap<String, Campaign>>,
        default_time_zone: TimeZone,
    ) -> Self {
        Policy {
            settings,
            campaigns,
            default_time_zone,
        }
    }

    pub fn settings(&self) -> &DispatchSettings {
        &self.settings
    }

    /// Whether `c` goes at `now`, or what becomes of it instead.
    pub fn decide(&self, c: &Claimed, now: DateTime<Utc>) -> Decision {
        // Confirmations and "this survey has closed" answer the customer's own message, and
        // alerts go to the team: they go even when the customer just opted out, and after the
        // expiry.
        let answers_customer = c.kind.answers_customer();
        if c.opted_out && !answers_customer {
            return Decision::Skip(self.give_up(
                c,
                FinalStatus::Cancelled,
                format!("the customer opted out of {}", c.channel),
            ));
        }
        if c.expires_at.is_some_and(|expiry| expiry <= now) && !answers_customer {
            return Decision::Skip(self.give_up(
                c,
                FinalStatus::Expired,
                "the invitation expired unsent".into(),
            ));
        }
        // A reminder goes only to a customer who has not answered yet.
        if c.kind == MessageKind::Reminder && c.invitation_state != InvitationState::Sent {
            let reason = match c.invitation_state {
                InvitationState::Answered => "the customer answered".to_owned(),
                state => format!("the invitation is {state}"),
            };
            return Decision::Skip(self.give_up(c, FinalStatus::Cancelled, reason));
        }
        // An invitation or a reminder arrives inside the campaign's send window, on the
        // customer's clock.
        if let (true, Some(window)) = (
            c.kind.opens_conversation(),
            self.campaigns.get(&c.campaign).and_then(|c| c.window),
        ) {
            let opening =
                window.next_opening(now, customer_time_zone(c, self.default_time_zone).tz());
            if opening > now {
                tracing::debug!(%opening, "outside the send window");
                return Decision::Skip(Outcome::Released {
                    delivery_id: c.delivery_id,
                    until: Some(opening),
                });
            }
        }
        Decision::Send
    }

    /// `c` sent at `now`, the provider's id for it `message_id`.
    pub fn sent(&self, c: &Claimed, message_id: String, now: DateTime<Utc>) -> Outcome {
        Outcome::Sent {
            delivery_id: c.delivery_id,
            invitation_id: c.invitation_id,
            message_id,
            follow_up: self.follow_up(c, now),
        }
    }

    /// What a failure to send `c` at `now` makes of it: retried (transient, with attempts
    /// left), cancelled (the customer opted out at the provider), or given up.
    pub fn failed(&self, c: &Claimed, error: SendError, now: DateTime<Utc>) -> Outcome {
        let retry = |error: String, wait: chrono::Duration| {
            if c.attempts as u32 >= self.settings.max_attempts {
                return self.give_up(
                    c,
                    FinalStatus::Failed,
                    format!("gave up after {} attempts: {error}", c.attempts),
                );
            }
            Outcome::Retry {
                delivery_id: c.delivery_id,
                due_at: now + wait,
                error,
            }
        };
        match error {
            SendError::Permanent(error) => self.give_up(c, FinalStatus::Failed, error),
            SendError::OptedOut(error) => self.give_up(c, FinalStatus::Cancelled, error),
            SendError::Transient(error) => retry(error, backoff(&self.settings, c.attempts as u32)),
            SendError::Throttled {
                reason,
                retry_after,
            } => {
                let wait = backoff(&self.settings, c.attempts as u32);
                let asked = retry_after
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .unwrap_or(wait);
                retry(reason, wait.max(asked))
            }
        }
    }

    /// Gives `c` up with `status` and the reason. A failed invitation moves on to the
    /// campaign's next channels; other messages do not.
    pub fn give_up(&self, c: &Claimed, status: FinalStatus, error: String) -> Outcome {
        let fallback = match (c.kind, c.channel, self.campaigns.get(&c.campaign)) {
            (MessageKind::Invite, Channel::Survey(channel), Some(campaign)) => {
                campaign.after(channel)
            }
            _ => Vec::new(),
        };
        Outcome::Failed {
            delivery_id: c.delivery_id,
            invitation_id: c.invitation_id,
            status,
            error,
            fallback,
        }
    }

    /// What sending `c` at `now` changes: an invitation can be answered for the campaign's
    /// expiry from now, and its reminders are queued; a reminder on a chat channel moves the
    /// conversation there.
    fn follow_up(&self, c: &Claimed, now: DateTime<Utc>) -> FollowUp {
        let (Some(campaign), Some(channel)) = (self.campaigns.get(&c.campaign), c.channel.survey())
        else {
            return FollowUp::Nothing;
        };
        match c.kind {
            MessageKind::Invite => FollowUp::Invitation {
                expires_at: now + campaign.expiry,
                reminders: campaign
                    .reminders
                    .iter()
                    .map(|r| ReminderDue {
                        due_at: now + r.after,
                        channels: campaign.reminder_channels(r, channel),
                    })
                    .collect(),
            },
            MessageKind::Reminder if channel != SurveyChannel::Email => {
                FollowUp::ConversationOn(channel)
            }
            _ => FollowUp::Nothing,
        }
    }
}

/// The customer's time zone, else `default`.
pub fn customer_time_zone(c: &Claimed, default: TimeZone) -> TimeZone {
    c.time_zone
        .as_deref()
        .and_then(|tz| TimeZone::parse(tz).ok())
        .unwrap_or(default)
}

/// The wait before retrying after `attempts` attempts: `backoff` doubled per attempt, capped
/// at `backoff_max`, then between half and all of it at random (so retries spread out).
pub fn backoff(settings: &DispatchSettings, attempts: u32) -> chrono::Duration {
    let doubled = settings
        .backoff
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = doubled.min(settings.backoff_max);
    let jittered = capped.mul_f64(rand::random_range(0.5..=1.0));
    chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-04T03:00:00Z";

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    /// The default settings and campaign, with two reminders, a fallback to SMS, and a send
    /// window of 09:00–17:00 on the customer's clock.
    fn policy() -> Policy {
        let settings = crate::config::Settings::load(None).unwrap();
        let mut campaign = settings.campaigns[0].clone();
        campaign.channels = vec![SurveyChannel::Email, SurveyChannel::Sms];
        campaign.reminders = toml::from_str::<HashMap<String, Vec<crate::campaign::Reminder>>>(
            "r = [{ after = \"2d\" }, { after = \"4d\" }]",
        )
        .unwrap()
        .remove("r")
        .unwrap();
        campaign.window = None;
        let campaigns = [(campaign.name.clone(), campaign)].into();
        Policy::new(
            settings.dispatch,
            Arc::new(campaigns),
            TimeZone::parse("Asia/Jakarta").unwrap(),
        )
    }

    fn claimed(p: &Policy, kind: MessageKind) -> Claimed {
        Claimed {
            delivery_id: 7,
            invitation_id: 3,
            contact_id: 1,
            customer_id: 2,
            attempts: 1,
            kind,
            channel: Channel::Survey(SurveyChannel::Email),
            message_key: "0123456789abcdef0123456789abcdef".into(),
            question: None,
            campaign: p.campaigns.keys().next().unwrap().clone(),
            questionnaire: "csat".into(),
            customer_name: None,
            email: Some("a@example.com".into()),
            phone: None,
            whatsapp: None,
            locale: None,
            time_zone: None,
            agent_name: None,
            category: None,
            closed_at: at(NOW),
            invitation_state: InvitationState::Planned,
            opted_out: false,
            expires_at: None,
            last_inbound_at: None,
        }
    }

    fn failed(outcome: Outcome) -> (FinalStatus, String, Vec<SurveyChannel>) {
        match outcome {
            Outcome::Failed {
                status,
                error,
                fallback,
                ..
            } => (status, error, fallback),
            other => panic!("not given up: {other:?}"),
        }
    }

    fn skipped(decision: Decision) -> Outcome {
        match decision {
            Decision::Skip(outcome) => outcome,
            Decision::Send => panic!("sent"),
        }
    }

    #[test]
    fn an_invitation_goes_and_its_send_sets_expiry_and_reminders() {
        let p = policy();
        let c = claimed(&p, MessageKind::Invite);
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
        let Outcome::Sent { follow_up, .. } = p.sent(&c, "m-1".into(), at(NOW)) else {
            panic!("not sent");
        };
        let FollowUp::Invitation {
            expires_at,
            reminders,
        } = follow_up
        else {
            panic!("no follow-up: {follow_up:?}");
        };
        assert!(expires_at > at(NOW));
        let due: Vec<_> = reminders.iter().map(|r| r.due_at).collect();
        assert_eq!(
            due,
            [at("2026-12-06T03:00:00Z"), at("2026-12-08T03:00:00Z")]
        );
    }

    #[test]
    fn an_opt_out_cancels_survey_messages_but_not_the_confirmation() {
        let p = policy();
        let mut c = claimed(&p, MessageKind::Invite);
        c.opted_out = true;
        let (status, error, fallback) = failed(skipped(p.decide(&c, at(NOW))));
        assert_eq!(status, FinalStatus::Cancelled);
        assert_eq!(error, "the customer opted out of email");
        // Given up for this channel: the campaign's next one may still reach the customer.
        assert_eq!(fallback, [SurveyChannel::Sms]);
        c.kind = MessageKind::OptOut;
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
    }

    #[test]
    fn an_expired_invitation_is_not_sent() {
        let p = policy();
        let mut c = claimed(&p, MessageKind::Invite);
        c.expires_at = Some(at(NOW));
        let (status, error, _) = failed(skipped(p.decide(&c, at(NOW))));
        assert_eq!(
            (status, error.as_str()),
            (FinalStatus::Expired, "the invitation expired unsent")
        );
        c.kind = MessageKind::Closed;
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
    }

    #[test]
    fn a_reminder_goes_only_while_the_invitation_waits_for_an_answer() {
        let p = policy();
        let mut c = claimed(&p, MessageKind::Reminder);
        c.invitation_state = InvitationState::Sent;
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
        c.invitation_state = InvitationState::Answered;
        let (status, error, fallback) = failed(skipped(p.decide(&c, at(NOW))));
        assert_eq!(status, FinalStatus::Cancelled);
        assert_eq!(error, "the customer answered");
        assert!(fallback.is_empty(), "only invitations fall back");
        c.invitation_state = InvitationState::Failed;
        assert_eq!(
            failed(skipped(p.decide(&c, at(NOW)))).1,
            "the invitation is failed"
        );
    }

    #[test]
    fn outside_the_window_an_invitation_waits_for_the_opening_on_the_customers_clock() {
        let mut p = policy();
        let name = p.campaigns.keys().next().unwrap().clone();
        let mut campaigns = (*p.campaigns).clone();
        campaigns.get_mut(&name).unwrap().window = Some(
            toml::from_str::<HashMap<String, crate::campaign::window::SendWindow>>(
                "w = { start = \"09:00\", end = \"17:00\" }",
            )
            .unwrap()
            .remove("w")
            .unwrap(),
        );
        p.campaigns = Arc::new(campaigns);
        // 03:00 UTC is 10:00 in Jakarta, 19:00 in Los Angeles the day before.
        let mut c = claimed(&p, MessageKind::Invite);
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
        c.time_zone = Some("America/Los_Angeles".into());
        let Outcome::Released { until, .. } = skipped(p.decide(&c, at(NOW))) else {
            panic!("not released");
        };
        assert_eq!(until, Some(at("2026-12-04T17:00:00Z")));
        // A reply to the customer does not wait.
        c.kind = MessageKind::Thanks;
        assert!(matches!(p.decide(&c, at(NOW)), Decision::Send));
    }

    #[test]
    fn a_transient_failure_is_retried_until_the_attempts_run_out() {
        let p = policy();
        let mut c = claimed(&p, MessageKind::Invite);
        let transient = || SendError::Transient("421 try later".into());
        let Outcome::Retry { due_at, error, .. } = p.failed(&c, transient(), at(NOW)) else {
            panic!("not retried");
        };
        assert_eq!(error, "421 try later");
        let wait = due_at - at(NOW);
        let backoff = chrono::Duration::from_std(p.settings.backoff).unwrap();
        assert!(wait >= backoff / 2 && wait <= backoff, "{wait}");
        c.attempts = p.settings.max_attempts as i32;
        let (status, error, fallback) = failed(p.failed(&c, transient(), at(NOW)));
        assert_eq!(status, FinalStatus::Failed);
        assert_eq!(
            error,
            format!("gave up after {} attempts: 421 try later", c.attempts)
        );
        assert_eq!(fallback, [SurveyChannel::Sms]);
    }

    #[test]
    fn a_throttled_send_waits_at_least_as_long_as_the_provider_asks() {
        let p = policy();
        let c = claimed(&p, MessageKind::Question);
        let throttled = SendError::Throttled {
            reason: "429".into(),
            retry_after: Some(std::time::Duration::from_secs(86_400)),
        };
        let Outcome::Retry { due_at, .. } = p.failed(&c, throttled, at(NOW)) else {
            panic!("not retried");
        };
        assert_eq!(due_at, at(NOW) + chrono::Duration::days(1));
    }

    #[test]
    fn permanent_failures_and_provider_opt_outs_end_the_delivery() {
        let p = policy();
        let c = claimed(&p, MessageKind::Invite);
        let (status, ..) = failed(p.failed(&c, SendError::Permanent("550".into()), at(NOW)));
        assert_eq!(status, FinalStatus::Failed);
        let (status, ..) = failed(p.failed(&c, SendError::OptedOut("21610".into()), at(NOW)));
        assert_eq!(status, FinalStatus::Cancelled);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let settings = crate::config::Settings::load(None).unwrap().dispatch;
        let minute = chrono::Duration::minutes(1);
        for _ in 0..100 {
            let first = backoff(&settings, 1);
            assert!(first >= minute / 2 && first <= minute, "{first}");
            let third = backoff(&settings, 3);
            assert!(third >= minute * 2 && third <= minute * 4, "{third}");
            let late = backoff(&settings, 30);
            assert!(late >= minute * 30 && late <= minute * 60, "{late}");
        }
    }
}
