//! Campaigns: which closed contacts to survey, with which questionnaire, over which channel,
//! how long after the contact closed and for how long the invitation stays open. They are
//! defined in configuration (`[[campaigns]]`), so they are versioned with it.

pub mod sample;
pub mod schedule;
pub mod window;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{ContactChannel, Resolution, SurveyChannel};
use crate::questionnaire::Questionnaire;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Unique; letters, digits, `-` and `_` (it appears in URLs and commands).
    pub name: String,
    /// A questionnaire in `templates/questionnaires/`, by file name without `.toml`.
    pub questionnaire: String,
    /// The channels to try, in order (`channels = ["whatsapp", "sms", "email"]`; one may be
    /// written alone, `channel = "email"`). Planning picks the first the customer has an
    /// address for and has not opted out of; an invitation that fails for good on one moves
    /// to the next.
    #[serde(alias = "channel", deserialize_with = "one_or_more")]
    pub channels: Vec<SurveyChannel>,
    /// How long after the contact closed the invitation is sent, e.g. `2h`.
    #[serde(with = "crate::domain::duration")]
    pub delay: Duration,
    /// How long after it is sent the invitation can be answered, e.g. `7d`. One still unsent
    /// this long after it was due expires unsent.
    #[serde(with = "crate::domain::duration")]
    pub expiry: Duration,
    /// When invitations may arrive, on the customer's clock (`window = { start = "09:00",
    /// end = "20:00", weekdays_only = true }`); unset, at any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<window::SendWindow>,
    /// At most one invitation per customer in this period, counting every campaign's (`0s`:
    /// no cap); unset, `defaults.frequency_cap`.
    #[serde(
        default,
        with = "crate::domain::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_cap: Option<Duration>,
    /// Survey a share of the eligible contacts, the same ones on every run (`sample = { share
    /// = 0.25, min_per_agent = 5 }`); unset, all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<sample::Sample>,
    /// When `surveyd serve` plans it by itself (`schedule = { cron = "0 9 * * *" }` in
    /// `defaults.time_zone`, or `schedule = { every = "15m" }`); unset, only by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<schedule::Schedule>,
    /// Reminders to customers who have not answered, each `after` the invitation was sent,
    /// inside the send window and before the expiry (`reminders = [{ after = "2d" }, { after
    /// = "4d", channel = "next" }]`); unset, none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<Reminder>,
    /// How each chat channel carries this campaign's survey (`modes = { sms = "link" }`),
    /// where it should differ from its provider's way (see `ChatProvider::mode_for`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub modes: std::collections::BTreeMap<SurveyChannel, crate::domain::ChatMode>,
    pub audience: Audience,
}

/// At most this many reminders per invitation.
pub const MAX_REMINDERS: usize = 5;

/// One reminder of an unanswered invitation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    /// How long after the invitation was sent, e.g. `2d`.
    #[serde(with = "crate::domain::duration")]
    pub after: Duration,
    /// `same` (the default): on the invitation's channel; `next`: on the first of the
    /// campaign's channels after it that reaches the customer, else on the same.
    #[serde(default)]
    pub channel: ReminderChannel,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderChannel {
    #[default]
    Same,
    Next,
}

impl Campaign {
    /// The channels after `channel` in the campaign's order.
    pub fn after(&self, channel: SurveyChannel) -> Vec<SurveyChannel> {
        self.channels
            .iter()
            .skip_while(|c| **c != channel)
            .skip(1)
            .copied()
            .collect()
    }

    /// The channels reminder `reminder` may go on after an invitation on `channel`, best
    /// first: the channel itself, or the ones after it and then the channel itself.
    pub fn reminder_channels(
        &self,
        reminder: &Reminder,
        channel: SurveyChannel,
    ) -> Vec<SurveyChannel> {
        match reminder.channel {
            ReminderChannel::Same => vec![channel],
            ReminderChannel::Next => {
                let mut channels = self.after(channel);
                channels.push(channel);
                channels
            }
        }
    }
}

/// A channel, or a list of them.
fn one_or_more<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SurveyChannel>, D::Error> {
    struct Channels;
    impl<'de> serde::de::Visitor<'de> for Channels {
        type Value = Vec<SurveyChannel>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a channel (email, sms or whatsapp) or a list of them in order")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            use serde::de::IntoDeserializer;
            SurveyChannel::deserialize(text.into_deserializer()).map(|c| vec![c])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut channels = Vec::new();
            while let Some(channel) = seq.next_element()? {
                channels.push(channel);
            }
            Ok(channels)
        }
    }
    d.deserialize_any(Channels)
}

/// Which contacts a campaign surveys: those closed within `lookback`, narrowed by every
/// filter that is not empty.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(with = "crate::domain::duration")]
    pub lookback: Duration,
    /// Teams, as named in the imported contacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_channels: Vec<ContactChannel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolutions: Vec<Resolution>,
}

/// Checks the campaigns against each other and the questionnaires; every problem is listed,
/// each naming its campaign.
pub fn check(campaigns: &[Campaign], questionnaires: &[Questionnaire]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for c in campaigns {
        let place = format!("campaign `{}`", c.name);
        if !is_name(&c.name) {
            problems.push(format!(
                "{place}: the name must be letters, digits, `-` and `_`"
            ));
        }
        if !names.insert(c.name.as_str()) {
            problems.push(format!("{place} is defined twice"));
        }
        if !questionnaires.iter().any(|q| q.name == c.questionnaire) {
            let known: Vec<&str> = questionnaires.iter().map(|q| q.name.as_str()).collect();
            problems.push(format!(
                "{place}: questionnaire `{}` does not exist (known: {})",
                c.questionnaire,
                known.join(", ")
            ));
        }
        if c.channels.is_empty() {
            problems.push(format!("{place}: channels must name at least one channel"));
        }
        if let Some(sample) = &c.sample
            && !(sample.share > 0.0 && sample.share <= 1.0)
        {
            problems.push(format!(
                "{place}: sample.share must be more than 0 and at most 1, not {}",
                sample.share
            ));
        }
        if let Some(schedule::Schedule::Every(every)) = &c.schedule
            && every.as_secs() < 60
        {
            problems.push(format!(
                "{place}: schedule.every must be at least a minute, not {}",
                describe(*every)
            ));
        }
        if let Some(w) = &c.window
            && w.start >= w.end
        {
            problems.push(format!(
                "{place}: window.start ({}) must come before window.end ({}) on the same day",
                w.start.format("%H:%M"),
                w.end.format("%H:%M")
            ));
        }
        let distinct: BTreeSet<&str> = c.channels.iter().map(|ch| ch.as_str()).collect();
        if distinct.len() != c.channels.len() {
            problems.push(format!("{place}: a channel is listed twice in channels"));
        }
        if c.expiry.is_zero() {
            problems.push(format!("{place}: expiry must be longer than 0"));
        }
        if c.reminders.len() > MAX_REMINDERS {
            problems.push(format!(
                "{place}: at most {MAX_REMINDERS} reminders, not {}",
                c.reminders.len()
            ));
        }
        let mut previous = Duration::ZERO;
        for (i, r) in c.reminders.iter().enumerate() {
            if r.after <= previous {
                problems.push(format!(
                    "{place}: reminders[{i}].after ({}) must be later than {}",
                    describe(r.after),
                    if i == 0 {
                        "0".to_owned()
                    } else {
                        format!("reminders[{}].after ({})", i - 1, describe(previous))
                    }
                ));
            }
            if r.after >= c.expiry {
                problems.push(format!(
                    "{place}: reminders[{i}].after ({}) must be shorter than expiry ({}): it would never go",
                    describe(r.after),
                    describe(c.expiry)
                ));
            }
            previous = r.after;
        }
        if c.audience.lookback.is_zero() {
            problems.push(format!("{place}: audience.lookback must be longer than 0"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Whether `name` may name a campaign or a source: letters, digits, `-` and `_` (it appears in
/// URLs, commands and log lines).
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// A duration as people write it in configuration (`2h`, `7days`).
pub fn describe(duration: Duration) -> String {
    crate::domain::duration::format(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Locale;

    fn questionnaires() -> Vec<Questionnaire> {
        Questionnaire::load_all(
            &crate::templates::TemplateFiles::built_in(),
            &Locale::parse("id").unwrap(),
        )
        .unwrap()
    }

    fn campaign(toml: &str) -> Campaign {
        toml::from_str(toml).unwrap()
    }

    const GOOD: &str = r#"
name = "after-call"
questionnaire = "post-contact"
channel = "email"
delay = "2h"
expiry = "7d"
[audience]
lookback = "14d"
contact_channels = ["phone", "Walk-in"]
resolutions = ["resolved"]
"#;

    #[test]
    fn parses_durations_and_filters() {
        let c = campaign(GOOD);
        assert_eq!(c.delay, Duration::from_secs(2 * 3600));
        assert_eq!(c.expiry, Duration::from_secs(7 * 86400));
        assert_eq!(
            c.audience.contact_channels,
            [ContactChannel::Phone, ContactChannel::WalkIn]
        );
        assert_eq!(describe(c.delay), "2h");
        assert!(check(&[c], &questionnaires()).is_ok());
    }

    #[test]
    fn refuses_unknown_words_with_the_accepted_ones() {
        let err = toml::from_str::<Campaign>(&GOOD.replace("\"phone\"", "\"fax\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`fax` is not a contact channel"), "{err}");
        let err = toml::from_str::<Campaign>(&GOOD.replace("\"2h\"", "\"two hours\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("delay"), "{err}");
    }

    #[test]
    fn a_send_window_reads_clock_times_and_must_not_run_backwards() {
        let with =
            |window: &str| GOOD.replace("[audience]", &format!("window = {window}\n[audience]"));
        let c = campaign(&with(
            r#"{ start = "09:00", end = "20:00", weekdays_only = true }"#,
        ));
        let w = c.window.unwrap();
        assert_eq!(
            (w.start.to_string(), w.end.to_string(), w.weekdays_only),
            ("09:00:00".into(), "20:00:00".into(), true)
        );
        let err = toml::from_str::<Campaign>(&with(r#"{ start = "9am", end = "20:00" }"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`9am` is not a time such as 09:00"), "{err}");
        let backwards = campaign(&with(r#"{ start = "20:00", end = "09:00" }"#));
        assert_eq!(
            check(&[backwards], &questionnaires()).unwrap_err(),
            [
                "campaign `after-call`: window.start (20:00) must come before window.end (09:00) on the same day"
            ]
        );
    }

    #[test]
    fn a_sample_share_and_a_schedule_period_are_checked() {
        let with = |share: &str| {
            GOOD.replace(
                "[audience]",
                &format!("sample = {{ share = {share} }}\n[audience]"),
            )
        };
        assert!(check(&[campaign(&with("0.25"))], &questionnaires()).is_ok());
        let every = GOOD.replace("[audience]", "schedule = { every = \"10s\" }\n[audience]");
        let problems = check(&[campaign(&every)], &questionnaires()).unwrap_err();
        assert_eq!(
            problems,
            ["campaign `after-call`: schedule.every must be at least a minute, not 10s"]
        );
        for bad in ["0", "1.5", "-0.1", "nan"] {
            let problems = check(&[campaign(&with(bad))], &questionnaires()).unwrap_err();
            assert!(
                problems[0].contains("sample.share must be more than 0 and at most 1"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn reminders_come_in_order_before_the_expiry() {
        let with = |reminders: &str| {
            GOOD.replace(
                "[audience]",
                &format!("reminders = {reminders}\n[audience]"),
            )
        };
        let c = campaign(&with(
            r#"[{ after = "2d" }, { after = "4d", channel = "next" }]"#,
        ));
        assert!(check(std::slice::from_ref(&c), &questionnaires()).is_ok());
        assert_eq!(c.reminders[0].channel, ReminderChannel::Same);
        let mut c = c;
        c.channels = vec![
            SurveyChannel::Whatsapp,
            SurveyChannel::Sms,
            SurveyChannel::Email,
        ];
        assert_eq!(
            c.reminder_channels(&c.reminders[1], SurveyChannel::Whatsapp),
            [
                SurveyChannel::Sms,
                SurveyChannel::Email,
                SurveyChannel::Whatsapp
            ]
        );
        assert_eq!(
            c.reminder_channels(&c.reminders[1], SurveyChannel::Email),
            [SurveyChannel::Email]
        );
        assert_eq!(
            c.reminder_channels(&c.reminders[0], SurveyChannel::Sms),
            [SurveyChannel::Sms]
        );

        let bad = campaign(&with(
            r#"[{ after = "3d" }, { after = "3d" }, { after = "7d" }]"#,
        ));
        assert_eq!(
            check(&[bad], &questionnaires()).unwrap_err(),
            [
                "campaign `after-call`: reminders[1].after (3d) must be later than reminders[0].after (3d)",
                "campaign `after-call`: reminders[2].after (7d) must be shorter than expiry (7d): it would never go",
            ]
        );
        let err = toml::from_str::<Campaign>(&with(r#"[{ after = "2d", channel = "other" }]"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `other`"), "{err}");
    }

    #[test]
    fn check_names_every_problem() {
        let mut twin = campaign(GOOD);
        twin.questionnaire = "nps-only".into();
        twin.expiry = Duration::ZERO;
        let bad_name = campaign(&GOOD.replace("after-call", "after call"));
        let problems = check(&[campaign(GOOD), twin, bad_name], &questionnaires()).unwrap_err();
        assert_eq!(
            problems,
            [
                "campaign `after-call` is defined twice",
                "campaign `after-call`: questionnaire `nps-only` does not exist (known: post-contact)",
                "campaign `after-call`: expiry must be longer than 0",
                "campaign `after call`: the name must be letters, digits, `-` and `_`",
            ]
        );
    }
}
