//! Dispatch: the worker pool that empties the outbox. Each channel (email, SMS, WhatsApp,
//! and the alert webhook when one is configured) has its own lane: a claimer takes that channel's due deliveries in batches under a lease
//! and hands them to the lane's senders (one per allowed connection); senders render and
//! send, and one recorder writes the outcomes of all lanes in batches. No database
//! transaction is open while a message is on its way, and a slow provider holds up only its
//! own lane.
//!
//! `surveyd dispatch` runs the pool until nothing is due; `surveyd serve` runs it until
//! shutdown. On shutdown the claimers stop, each sender finishes the message in hand, and
//! claimed deliveries not yet started are released for the next worker.
//!
//! Each lane's provider has a circuit breaker ([`breaker`]): after a run of transient
//! failures the lane's due messages wait out a cool-down instead of hammering it.
//!
//! No send can stop a sender: each runs [`isolate`]d, so a panic in rendering or in a channel
//! fails that delivery with the reason (`internal error: panicked: …`), logged at error, and
//! the sender goes on with a fresh connection. What the process has claimed and not recorded
//! is tracked ([`in_hand`]): its own claims whose lease ran out while no job held them are
//! taken back for the queue, so a lost job is late, never stuck. Each delivery handled is
//! logged once ([`journal`]).

pub mod breaker;
pub mod in_hand;
pub mod isolate;
pub mod journal;
mod settings;

pub use settings::DispatchSettings;

use crate::alerts;
use crate::alerts::AlertSettings;
use crate::auth::SurveyKey;
use crate::campaign::{Campaign, SurveyChannel};
use crate::channels::email::{Email, EmailChannel, EmailSender};
use crate::channels::{ChatOption, ChatOutbound, ChatProvider, HttpApi, SendError};
use crate::clock::Clock;
use crate::domain::{Locale, TimeZone};
use crate::questionnaire::Questionnaire;
use crate::render::{ChatVars, EmailKind, EmailVars, Invitee, QuestionVars, Renderer, SurveyLinks};
use crate::store::{Alert, Claimed, FinalStatus, FollowUp, Outcome, ReminderDue, Store};
use crate::telemetry;
use breaker::{Breaker, Permit};
use in_hand::{Held, InHand};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, watch};

/// Outcomes written per transaction at most.
const OUTCOMES_PER_WRITE: usize = 1000;
/// How long the recorder waits for more outcomes before writing what it has. Longer means
/// fewer writes, and more sends unrecorded (so sent again) if the process dies.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

/// What a dispatch run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchCounts {
    pub sent: u64,
    /// Transient failures, queued again for later.
    pub retried: u64,
    /// Given up: permanent failures, too many attempts, expired or opted out.
    pub failed: u64,
    /// Claimed but not started before shutdown (or before the claim ran out), handed back.
    pub released: u64,
    /// Due outside the campaign's send window: moved to its next opening.
    pub deferred: u64,
}

impl DispatchCounts {
    /// Logs the counts, each a field, with what happened and how long it `took`.
    pub fn log(&self, what: &str, took: std::time::Duration) {
        tracing::info!(
            sent = self.sent,
            retried = self.retried,
            failed = self.failed,
            released = self.released,
            deferred = self.deferred,
            took = %journal::human(chrono::Duration::from_std(took).unwrap_or_default()),
            "{what}"
        );
    }
}

/// Whether the pool stops when nothing is due or runs until shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    UntilIdle,
    UntilShutdown,
}

/// Everything a worker needs; cheap to share.
pub struct Dispatcher {
    store: Store,
    clock: Clock,
    settings: DispatchSettings,
    public_url: url::Url,
    default_locale: Locale,
    default_time_zone: TimeZone,
    renderer: Renderer,
    questionnaires: Arc<HashMap<String, Questionnaire>>,
    /// The campaigns by name, for the channels an invitation falls back to.
    campaigns: Arc<HashMap<String, Campaign>>,
    key: SurveyKey,
    email: EmailChannel,
    sms: Option<Arc<ChatProvider>>,
    whatsapp: Option<Arc<ChatProvider>>,
    /// Where detractor alerts go; the webhook's client when one is configured.
    alerts: AlertSettings,
    webhook: Option<HttpApi>,
    /// Per lane (email, SMS, WhatsApp, webhook): its provider's circuit breaker.
    breakers: [Breaker; 4],
    /// This process's name on its leases.
    owner: String,
    /// The deliveries claimed and not recorded yet.
    in_hand: InHand,
}

/// What the pool sends with: its settings, the templates, questionnaires, campaigns and survey
/// key, and the channels (email, the chat providers, the alert webhook's client).
pub struct DispatchParts {
    pub settings: DispatchSettings,
    pub alerts: AlertSettings,
    /// The daemon's public base URL, for survey and unsubscribe links.
    pub public_url: url::Url,
    pub defaults: crate::domain::Defaults,
    pub renderer: Renderer,
    pub questionnaires: Arc<HashMap<String, Questionnaire>>,
    pub campaigns: Arc<HashMap<String, Campaign>>,
    pub key: SurveyKey,
    pub email: EmailChannel,
    pub sms: Option<Arc<ChatProvider>>,
    pub whatsapp: Option<Arc<ChatProvider>>,
    pub webhook: Option<HttpApi>,
}

/// What a sender sends with: its SMTP connection (or the file outbox), or the provider of its
/// chat channel (`None` when none is configured).
enum Sender {
    Email(Box<EmailSender>),
    Chat(Option<Arc<ChatProvider>>),
    Webhook(HttpApi),
}

/// A message ready to go, with what sends it: rendered and addressed (an alert read as it
/// stands now).
enum Prepared<'a> {
    Email(&'a mut EmailSender, Email),
    Chat(&'a ChatProvider, ChatOutbound),
    Alert(&'a HttpApi, &'a crate::alerts::AlertWebhook, Alert),
}

impl Prepared<'_> {
    /// Waits for the provider's rate limit (email has none).
    async fn ready(&self) {
        match self {
            Prepared::Email(..) => {}
            Prepared::Chat(provider, _) => provider.api().ready().await,
            Prepared::Alert(api, ..) => api.ready().await,
        }
    }

    /// Hands the message to its provider; returns the provider's id for it.
    async fn send(
        self,
        delivery_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SendError> {
        match self {
            Prepared::Email(sender, email) => sender.send(&email).await,
            Prepared::Chat(provider, message) => provider.send(&message).await,
            Prepared::Alert(api, webhook, alert) => {
                alerts::post(api, webhook, &alert, delivery_id, now).await
            }
        }
    }
}

/// What a lane sends: one survey channel's messages, or alerts to the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Survey(SurveyChannel),
    Webhook,
}

impl Lane {
    /// Every lane, by its channel as stored (`email`, `sms`, `whatsapp`, `webhook`).
    const ALL: [Lane; 4] = [
        Lane::Survey(SurveyChannel::Email),
        Lane::Survey(SurveyChannel::Sms),
        Lane::Survey(SurveyChannel::Whatsapp),
        Lane::Webhook,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Lane::Survey(channel) => channel.as_str(),
            Lane::Webhook => alerts::WEBHOOK,
        }
    }
}

/// A claimed delivery, the token its links carry, and until when the claim holds.
struct Job {
    claimed: Claimed,
    token: String,
    lease_until: chrono::DateTime<chrono::Utc>,
    /// Over the channel's daily cap: held until the next day begins.
    held_until: Option<chrono::DateTime<chrono::Utc>>,
    /// In hand from the claim until its outcome is recorded.
    held: Held,
}

/// A message as a delivery would carry it ([`Dispatcher::compose`]).
#[derive(Debug, Clone)]
pub enum Composed {
    Email(Email),
    Chat(Box<ChatOutbound>),
}

/// What became of a job, on its way to the recorder (in hand until written).
struct Done {
    outcome: Outcome,
    held: Held,
}

impl Dispatcher {
    /// The pool sending with `parts`, built once by the daemon's assembly ([`crate::app`]).
    pub fn new(store: Store, parts: DispatchParts, clock: Clock) -> Self {
        let DispatchParts {
            settings,
            alerts,
            public_url,
            defaults,
            renderer,
            questionnaires,
            campaigns,
            key,
            email,
            sms,
            whatsapp,
            webhook,
        } = parts;
        Dispatcher {
            store,
            clock,
            breakers: [(); 4]
                .map(|()| Breaker::new(settings.breaker_failures, settings.breaker_cool_down)),
            settings,
            public_url,
            default_locale: defaults.locale,
            default_time_zone: defaults.time_zone,
            renderer,
            questionnaires,
            campaigns,
            key,
            email,
            sms,
            whatsapp,
            alerts,
            webhook,
            owner: crate::process::name(),
            in_hand: InHand::default(),
        }
    }

    /// This process's name on its leases (`deliveries.lease_owner`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs the pool. `shutdown` turning true stops claiming; the messages in hand finish.
    pub async fn run(
        self: Arc<Self>,
        mode: Mode,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<DispatchCounts> {
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel::<Done>();
        let recorder = tokio::spawn(Arc::clone(&self).record(outcome_rx));
        let lanes: Vec<_> = Lane::ALL
            .into_iter()
            .filter(|lane| *lane != Lane::Webhook || self.webhook.is_some())
            .map(|channel| {
                tokio::spawn(Arc::clone(&self).lane(
                    channel,
                    mode,
                    outcome_tx.clone(),
                    shutdown.clone(),
                ))
            })
            .collect();
        drop(outcome_tx);
        let mut claimed = Ok(());
        for lane in lanes {
            if let Err(e) = lane.await? {
                claimed = Err(e);
            }
        }
        let counts = recorder.await??;
        claimed?;
        Ok(counts)
    }

    /// One channel's claimer and senders, until nothing of it is due (or shutdown).
    async fn lane(
        self: Arc<Self>,
        channel: Lane,
        mode: Mode,
        outcomes: mpsc::UnboundedSender<Done>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let senders = match channel {
            Lane::Survey(SurveyChannel::Email) => self.email.concurrency(),
            // Without a provider one sender suffices: it fails each delivery with the reason.
            Lane::Survey(chat) => self.provider(chat).map_or(1, |p| p.api().concurrency()),
            Lane::Webhook => self.webhook.as_ref().map_or(1, HttpApi::concurrency),
        };
        let (job_tx, job_rx) = mpsc::channel::<Job>(self.settings.batch_size.max(1));
        let job_rx = Arc::new(Mutex::new(job_rx));
        // Who carries this lane's messages, as metrics name it.
        let provider: Arc<str> = match channel {
            Lane::Survey(SurveyChannel::Email) => self.email.provider().into(),
            Lane::Survey(chat) => self
                .provider(chat)
                .map_or("none".into(), |p| p.name().into()),
            Lane::Webhook => alerts::WEBHOOK.into(),
        };
        let mut workers = Vec::with_capacity(senders);
        for _ in 0..senders {
            workers.push(tokio::spawn(Arc::clone(&self).work(
                channel,
                Arc::clone(&provider),
                Arc::clone(&job_rx),
                outcomes.clone(),
                shutdown.clone(),
            )));
        }
        let claimed = self.claim_loop(channel, mode, &job_tx, &mut shutdown).await;
        drop(job_tx);
        for worker in workers {
            worker.await?;
        }
        claimed
    }

    /// A fresh sender for `lane` (for the email lane, not connected yet).
    fn sender(&self, lane: Lane) -> Sender {
        match (lane, &self.webhook) {
            (Lane::Survey(SurveyChannel::Email), _) => Sender::Email(Box::new(self.email.sender())),
            (Lane::Survey(chat), _) => Sender::Chat(self.provider(chat).cloned()),
            (Lane::Webhook, Some(api)) => Sender::Webhook(api.clone()),
            (Lane::Webhook, None) => Sender::Chat(None),
        }
    }

    /// The circuit breaker of the provider of `channel` (as stored: `email`, `sms`,
    /// `whatsapp`, `webhook`).
    fn breaker(&self, channel: &str) -> &Breaker {
        let lane = Lane::ALL
            .iter()
            .position(|lane| lane.as_str() == channel)
            .unwrap_or(0);
        &self.breakers[lane]
    }

    fn provider(&self, channel: SurveyChannel) -> Option<&Arc<ChatProvider>> {
        match channel {
            SurveyChannel::Sms => self.sms.as_ref(),
            SurveyChannel::Whatsapp => self.whatsapp.as_ref(),
            SurveyChannel::Email => None,
        }
    }

    /// Claims batches of `channel` until nothing is due (or shutdown), feeding the senders.
    async fn claim_loop(
        &self,
        channel: Lane,
        mode: Mode,
        jobs: &mpsc::Sender<Job>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let batch = match self.claim(channel).await {
                Ok(batch) => {
                    failures = 0;
                    batch
                }
                // The database may be restarting: keep trying in `serve`, give up in `dispatch`
                // (after a few tries when the database asked for one: a deadlock, a conflict).
                Err(e)
                    if mode == Mode::UntilShutdown
                        || (failures < 3
                            && e.downcast_ref::<crate::store::StoreError>()
                                .is_some_and(crate::store::StoreError::is_retryable)) =>
                {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "cannot claim deliveries; trying again");
                    self.pause(shutdown, self.settings.poll_interval * failures.min(30))
                        .await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if batch.is_empty() {
                match mode {
                    Mode::UntilIdle => break,
                    Mode::UntilShutdown => {
                        self.pause(shutdown, self.settings.poll_interval).await;
                        continue;
                    }
                }
            }
            for job in batch {
                if jobs.send(job).await.is_err() {
                    anyhow::bail!("every sender stopped");
                }
            }
        }
        Ok(())
    }

    async fn pause(&self, shutdown: &mut watch::Receiver<bool>, wait: std::time::Duration) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }

    /// One claim on `channel`: the deliveries, each with the token its links carry. Under a
    /// daily cap, invitations past the day's remaining budget are held for the next day
    /// (messages of conversations already under way still go).
    async fn claim(&self, channel: Lane) -> anyhow::Result<Vec<Job>> {
        let now = self.clock.now();
        let lease_until = now + self.settings.lease;
        // This process's claims that ran out with no job holding them were lost (their job
        // vanished without an outcome): back to the queue, so this claim takes them again.
        let lost = self
            .store
            .requeue_lost_claims(channel.as_str(), &self.owner, now, |id| {
                self.in_hand.holds(id)
            })
            .await?;
        if !lost.is_empty() {
            tracing::warn!(
                channel = channel.as_str(),
                deliveries = lost.len(),
                "claims of this process lost without an outcome are queued again"
            );
        }
        // Counted before claiming: what this claim takes is not sent yet.
        let cap = match channel {
            Lane::Survey(survey) => self.settings.daily_caps.get(&survey),
            Lane::Webhook => None,
        };
        let mut budget = match cap {
            Some(cap) => {
                let (today, tomorrow) = day_around(now, self.default_time_zone.tz());
                let sent = self.store.sent_since(channel.as_str(), today).await?;
                Some((cap.saturating_sub(sent), tomorrow))
            }
            None => None,
        };
        let claimed = self
            .store
            .claim_due(
                channel.as_str(),
                &self.owner,
                now,
                lease_until,
                self.settings.batch_size,
            )
            .await?;
        Ok(claimed
            .into_iter()
            .map(|claimed| {
                let held_until = match &mut budget {
                    Some((left, tomorrow)) if opens_conversation(&claimed.kind) => {
                        if *left == 0 {
                            Some(*tomorrow)
                        } else {
                            *left -= 1;
                            None
                        }
                    }
                    _ => None,
                };
                Job {
                    token: self.key.token(&claimed.campaign, claimed.contact_id),
                    held: self.in_hand.hold(claimed.delivery_id),
                    claimed,
                    lease_until,
                    held_until,
                }
            })
            .collect())
    }

    /// A sender of `lane`: takes jobs until there are none (or shutdown), sending one at a
    /// time, each isolated (a panic fails that delivery and the sender starts afresh).
    async fn work(
        self: Arc<Self>,
        lane: Lane,
        provider: Arc<str>,
        jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
        outcomes: mpsc::UnboundedSender<Done>,
        shutdown: watch::Receiver<bool>,
    ) {
        let mut sender = self.sender(lane);
        loop {
            let job = jobs.lock().await.recv().await;
            let Some(job) = job else { break };
            let c = &job.claimed;
            // A claim that waited past its lease may be another worker's now: never send it.
            let lapsed = job.lease_until <= self.clock.now();
            let (outcome, logged) = if *shutdown.borrow() || lapsed || job.held_until.is_some() {
                let released = Outcome::Released {
                    delivery_id: c.delivery_id,
                    until: job.held_until,
                };
                (released, false)
            } else {
                match isolate::isolated(self.deliver(&mut sender, &provider, &job)).await {
                    Ok(outcome) => (outcome, false),
                    Err(panic) => {
                        journal::internal_error(c, &provider, &panic);
                        // It may have held a connection left mid-command.
                        sender = self.sender(lane);
                        let reason = format!("internal error: {panic}");
                        (self.give_up(c, FinalStatus::Failed, reason), true)
                    }
                }
            };
            if !logged {
                journal::log(c, &provider, &outcome, self.clock.now());
            }
            metrics::counter!(
                telemetry::DELIVERIES,
                "channel" => c.channel.clone(),
                "provider" => provider.to_string(),
                "outcome" => journal::label(&outcome),
            )
            .increment(1);
            if outcomes
                .send(Done {
                    outcome,
                    held: job.held,
                })
                .is_err()
            {
                break;
            }
        }
        if let Sender::Email(email) = &mut sender {
            email.close().await;
        }
    }

    /// Renders and sends one delivery (through `provider`), and says what became of it.
    #[tracing::instrument(name = "deliver", skip_all, fields(
        delivery = job.claimed.delivery_id,
        invitation = job.claimed.invitation_id,
        campaign = %job.claimed.campaign,
        channel = %job.claimed.channel,
        kind = %job.claimed.kind,
    ))]
    async fn deliver(&self, sender: &mut Sender, provider: &str, job: &Job) -> Outcome {
        let c = &job.claimed;
        let now = self.clock.now();
        // Confirmations and "this survey has closed" answer the customer's own message, and
        // alerts go to the team: they go even when the customer just opted out, and after the
        // expiry.
        let answers_customer = matches!(c.kind.as_str(), "opt_out" | "opt_in" | "closed" | "alert");
        if c.opted_out && !answers_customer {
            return self.give_up(
                c,
                FinalStatus::Cancelled,
                format!("the customer opted out of {}", c.channel),
            );
        }
        if c.expires_at.is_some_and(|expiry| expiry <= now) && !answers_customer {
            return self.give_up(
                c,
                FinalStatus::Expired,
                "the invitation expired unsent".into(),
            );
        }
        // A reminder goes only to a customer who has not answered yet.
        if c.kind == "reminder" && c.invitation_state != "sent" {
            let reason = match c.invitation_state.as_str() {
                "answered" => "the customer answered".to_owned(),
                state => format!("the invitation is {state}"),
            };
            return self.give_up(c, FinalStatus::Cancelled, reason);
        }
        // An invitation or a reminder arrives inside the campaign's send window, on the
        // customer's clock.
        if let (true, Some(window)) = (
            opens_conversation(&c.kind),
            self.campaigns.get(&c.campaign).and_then(|c| c.window),
        ) {
            let opening = window.next_opening(now, self.customer_locale(c).1.tz());
            if opening > now {
                tracing::debug!(%opening, "outside the send window");
                return Outcome::Released {
                    delivery_id: c.delivery_id,
                    until: Some(opening),
                };
            }
        }
        let prepared = match self.prepare(sender, job).await {
            Ok(prepared) => prepared,
            Err(e) => return self.after_failure(c, e, now).await,
        };
        let breaker = self.breaker(&c.channel);
        if let Permit::Wait(until) = breaker.permit(now) {
            return Outcome::Released {
                delivery_id: c.delivery_id,
                until: Some(until),
            };
        }
        // Timed from the rate limit's go to the provider's answer.
        prepared.ready().await;
        let started = std::time::Instant::now();
        let result = prepared.send(c.delivery_id, self.clock.now()).await;
        metrics::histogram!(
            telemetry::SEND_SECONDS,
            "channel" => c.channel.clone(),
            "provider" => provider.to_owned(),
        )
        .record(started.elapsed().as_secs_f64());
        breaker.record(
            matches!(
                result,
                Err(SendError::Transient(_) | SendError::Throttled { .. })
            ),
            self.clock.now(),
        );
        match result {
            Ok(message_id) => Outcome::Sent {
                delivery_id: c.delivery_id,
                invitation_id: c.invitation_id,
                message_id,
                follow_up: self.follow_up(c, now),
            },
            Err(e) => self.after_failure(c, e, now).await,
        }
    }

    /// What a failure to send `c` at `now` makes of it: retried (transient, with attempts
    /// left), cancelled (the customer opted out at the provider: recorded), or given up.
    async fn after_failure(
        &self,
        c: &Claimed,
        error: SendError,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Outcome {
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
            SendError::OptedOut(error) => {
                let channel = SurveyChannel::parse(&c.channel).unwrap_or(SurveyChannel::Email);
                if let Err(e) = self
                    .store
                    .opt_out_customer(c.customer_id, channel, "provider", now)
                    .await
                {
                    // The delivery is cancelled all the same; the next send meets the same answer.
                    tracing::warn!(error = %e, "cannot record the opt-out the provider reported");
                }
                self.give_up(c, FinalStatus::Cancelled, error)
            }
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
    fn give_up(&self, c: &Claimed, status: FinalStatus, error: String) -> Outcome {
        let fallback = match (c.kind.as_str(), self.campaigns.get(&c.campaign)) {
            ("invite", Some(campaign)) => campaign.after(&c.channel),
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

    /// The message of `job` as `sender` sends it: rendered and addressed, an alert read as it
    /// stands now. What cannot be prepared fails (a read of the alert that failed is retried).
    async fn prepare<'a>(
        &'a self,
        sender: &'a mut Sender,
        job: &Job,
    ) -> Result<Prepared<'a>, SendError> {
        let c = &job.claimed;
        if c.kind == "alert" {
            let alert = match self.store.alert_of_invitation(c.invitation_id).await {
                Ok(alert) => alert,
                Err(e @ crate::store::StoreError::NotFound(_)) => {
                    return Err(SendError::Permanent(e.to_string()));
                }
                Err(e) => return Err(SendError::Transient(format!("cannot read the alert: {e}"))),
            };
            return match sender {
                Sender::Email(email) => Ok(Prepared::Email(email, self.alert_email(c, &alert)?)),
                Sender::Webhook(api) => match &self.alerts.webhook {
                    Some(webhook) => Ok(Prepared::Alert(api, webhook, alert)),
                    None => Err(SendError::Permanent(
                        "alerts.webhook is not configured".into(),
                    )),
                },
                Sender::Chat(_) => Err(SendError::Permanent(
                    "alerts go by email or to the webhook".into(),
                )),
            };
        }
        match sender {
            Sender::Email(email) => match self.email_for(c, &job.token) {
                Ok(message) => Ok(Prepared::Email(email, message)),
                Err(reason) => Err(SendError::Permanent(reason)),
            },
            Sender::Chat(Some(provider)) => match self.chat_for(c, &job.token) {
                Ok(message) => Ok(Prepared::Chat(provider, message)),
                Err(reason) => Err(SendError::Permanent(reason)),
            },
            Sender::Chat(None) => Err(SendError::Permanent(format!(
                "no provider is configured for {0} (channels.{0})",
                c.channel
            ))),
            Sender::Webhook(_) => Err(SendError::Permanent("only alerts go to the webhook".into())),
        }
    }

    /// What sending `c` at `now` changes: an invitation can be answered for the campaign's
    /// expiry from now, and its reminders are queued; a reminder on a chat channel moves the
    /// conversation there.
    fn follow_up(&self, c: &Claimed, now: chrono::DateTime<chrono::Utc>) -> FollowUp {
        let (Some(campaign), Some(channel)) = (
            self.campaigns.get(&c.campaign),
            SurveyChannel::parse(&c.channel),
        ) else {
            return FollowUp::Nothing;
        };
        match c.kind.as_str() {
            "invite" => FollowUp::Invitation {
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
            "reminder" if channel != SurveyChannel::Email => FollowUp::ConversationOn(channel),
            _ => FollowUp::Nothing,
        }
    }

    /// The chat message for a claimed delivery on SMS or WhatsApp, in the customer's language.
    fn chat_for(&self, c: &Claimed, token: &str) -> Result<ChatOutbound, String> {
        let channel = match SurveyChannel::parse(&c.channel) {
            Some(channel @ (SurveyChannel::Sms | SurveyChannel::Whatsapp)) => channel,
            _ => return Err(format!("`{}` is not a chat channel", c.channel)),
        };
        let to = match channel {
            SurveyChannel::Whatsapp => c.whatsapp.as_deref().or(c.phone.as_deref()),
            _ => c.phone.as_deref(),
        }
        .ok_or_else(|| format!("the customer has no number for {}", c.channel))?;
        let questionnaire = self.questionnaire(&c.questionnaire)?;
        let (locale, time_zone) = self.customer_locale(c);
        // The invitation and its reminders ask the first question; a question or a re-ask
        // names its own.
        let asked = match c.kind.as_str() {
            "invite" | "reminder" => questionnaire.questions.first(),
            "question" | "reask" => c
                .question
                .as_deref()
                .and_then(|id| questionnaire.question(id)),
            _ => None,
        };
        let question = asked.map(|q| QuestionVars::new(q, &locale, &self.default_locale));
        let links = SurveyLinks::new(&self.public_url, token);
        let vars = ChatVars::new(&self.invitee(c, time_zone), &locale, links.survey, question);
        let text = self
            .renderer
            .chat(channel, &c.kind, &locale, &self.default_locale, &vars)?;
        let word = |kind| {
            self.renderer
                .chat(channel, kind, &locale, &self.default_locale, &vars)
        };
        let (options, list_button) = match (&vars.question, channel) {
            (Some(q), SurveyChannel::Whatsapp) => (
                chat_options(q, (word("yes")?, word("no")?)),
                word("choose")?,
            ),
            _ => (Vec::new(), String::new()),
        };
        let window_open = c
            .last_inbound_at
            .is_some_and(|at| self.clock.now() - at < chrono::Duration::hours(24));
        Ok(ChatOutbound {
            delivery_id: c.delivery_id,
            kind: c.kind.clone(),
            channel,
            to: to.to_owned(),
            text,
            options,
            list_button,
            window_open,
            vars,
        })
    }

    /// The email of `c`'s alert, to its team's lead (else `alerts.email`).
    fn alert_email(&self, c: &Claimed, alert: &Alert) -> Result<Email, SendError> {
        let to = alerts::recipients(&self.alerts, alert)
            .map_err(SendError::Permanent)?
            .iter()
            .map(|a| a.parse())
            .collect::<Result<Vec<lettre::message::Mailbox>, _>>()
            .map_err(|e| SendError::Permanent(format!("alert recipient: {e}")))?;
        let (subject, text) = alerts::email_text(alert, &self.public_url);
        Ok(Email {
            delivery_id: c.delivery_id,
            to,
            subject,
            text,
            html: None,
            unsubscribe_url: None,
        })
    }

    /// The invitation email for a claimed delivery, in the customer's language.
    fn email_for(&self, c: &Claimed, token: &str) -> Result<Email, String> {
        let questionnaire = self.questionnaire(&c.questionnaire)?;
        let address = c
            .email
            .as_deref()
            .ok_or("the customer has no email address")?;
        let name = c.customer_name.as_deref().unwrap_or("");
        let to = lettre::message::Mailbox::new(
            Some(name.to_owned()).filter(|n| !n.is_empty()),
            address
                .parse()
                .map_err(|e| format!("email address `{address}`: {e}"))?,
        );
        let (locale, time_zone) = self.customer_locale(c);
        let links = SurveyLinks::new(&self.public_url, token);
        let vars = EmailVars::new(
            questionnaire,
            &locale,
            &self.default_locale,
            &links,
            &self.invitee(c, time_zone),
        );
        let kind = if c.kind == "reminder" {
            EmailKind::Reminder
        } else {
            EmailKind::Invitation
        };
        let message = self
            .renderer
            .email(kind, &locale, &self.default_locale, &vars)?;
        Ok(Email {
            delivery_id: c.delivery_id,
            to: vec![to],
            subject: message.subject,
            text: message.text,
            html: Some(message.html),
            unsubscribe_url: Some(links.unsubscribe),
        })
    }

    /// The message a delivery of `claimed` carries, composed exactly as a send composes it
    /// (rendered in the customer's language, addressed, with the links its token makes),
    /// nothing sent or recorded: for `surveyd campaign preview`.
    pub fn compose(&self, claimed: &Claimed) -> Result<Composed, String> {
        let token = self.key.token(&claimed.campaign, claimed.contact_id);
        match SurveyChannel::parse(&claimed.channel) {
            Some(SurveyChannel::Email) => self.email_for(claimed, &token).map(Composed::Email),
            Some(_) => self
                .chat_for(claimed, &token)
                .map(|chat| Composed::Chat(Box::new(chat))),
            None => Err(format!("`{}` is not a channel", claimed.channel)),
        }
    }

    /// Sends a composed message once through its channel's provider, outside the outbox: a
    /// test message, with no delivery, invitation or outcome recorded. The provider's id for it.
    pub async fn send_once(&self, message: &Composed) -> Result<String, SendError> {
        match message {
            Composed::Email(email) => {
                let mut sender = self.email.sender();
                let sent = sender.send(email).await;
                sender.close().await;
                sent
            }
            Composed::Chat(chat) => match self.provider(chat.channel) {
                Some(provider) => provider.send(chat).await,
                None => Err(SendError::Permanent(format!(
                    "no provider is configured for {0} (channels.{0})",
                    chat.channel.as_str()
                ))),
            },
        }
    }

    fn questionnaire(&self, name: &str) -> Result<&Questionnaire, String> {
        self.questionnaires
            .get(name)
            .ok_or_else(|| format!("questionnaire `{name}` is not configured any more"))
    }

    /// The customer's locale and time zone, else the defaults.
    fn customer_locale(&self, c: &Claimed) -> (Locale, TimeZone) {
        let locale = c
            .locale
            .as_deref()
            .and_then(|l| Locale::parse(l).ok())
            .unwrap_or_else(|| self.default_locale.clone());
        let time_zone = c
            .time_zone
            .as_deref()
            .and_then(|tz| TimeZone::parse(tz).ok())
            .unwrap_or(self.default_time_zone);
        (locale, time_zone)
    }

    fn invitee<'a>(&self, c: &'a Claimed, time_zone: TimeZone) -> Invitee<'a> {
        Invitee {
            customer_name: c.customer_name.as_deref().unwrap_or(""),
            agent_name: c.agent_name.as_deref(),
            category: c.category.as_deref(),
            closed_at: c.closed_at,
            time_zone: time_zone.tz(),
        }
    }

    /// Writes outcomes in batches as they come; counts them. A delivery stays in hand until
    /// its outcome is written.
    async fn record(
        self: Arc<Self>,
        mut done: mpsc::UnboundedReceiver<Done>,
    ) -> anyhow::Result<DispatchCounts> {
        let mut counts = DispatchCounts::default();
        let mut batch = Vec::with_capacity(OUTCOMES_PER_WRITE);
        while done.recv_many(&mut batch, OUTCOMES_PER_WRITE).await > 0 {
            // Let a few more arrive, so one write covers many sends.
            let gather = tokio::time::sleep(GATHER);
            tokio::pin!(gather);
            while batch.len() < OUTCOMES_PER_WRITE {
                let room = OUTCOMES_PER_WRITE - batch.len();
                tokio::select! {
                    () = &mut gather => break,
                    got = done.recv_many(&mut batch, room) => if got == 0 { break },
                }
            }
            let (outcomes, held): (Vec<Outcome>, Vec<Held>) =
                batch.drain(..).map(|d| (d.outcome, d.held)).unzip();
            self.write_outcomes(&outcomes).await?;
            drop(held);
            for outcome in &outcomes {
                match outcome {
                    Outcome::Sent { .. } => counts.sent += 1,
                    Outcome::Retry { .. } => counts.retried += 1,
                    Outcome::Failed { .. } => counts.failed += 1,
                    Outcome::Released { until: None, .. } => counts.released += 1,
                    Outcome::Released { until: Some(_), .. } => counts.deferred += 1,
                }
            }
        }
        Ok(counts)
    }

    /// Records a batch, trying again while the database is unreachable (up to the lease: after
    /// that another worker has taken the deliveries over anyway).
    async fn write_outcomes(&self, batch: &[Outcome]) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match self
                .store
                .record_outcomes(&self.owner, self.clock.now(), batch)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() < self.settings.lease => {
                    tracing::warn!(error = %e, "cannot record delivery outcomes; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The channels deliveries go on, as stored: `email`, `sms`, `whatsapp` and `webhook`.
pub fn channels() -> impl Iterator<Item = &'static str> {
    Lane::ALL.into_iter().map(Lane::as_str)
}

/// Whether a message of `kind` starts a conversation with the customer (an invitation or a
/// reminder) rather than answering them: only those wait for the send window and count
/// against a daily cap.
fn opens_conversation(kind: &str) -> bool {
    matches!(kind, "invite" | "reminder")
}

/// A question's answers as buttons or list rows: yes and no, each point of a scale of at most
/// ten, or each option of a choice; none for free text or a longer scale (the customer types).
fn chat_options(q: &QuestionVars, (yes, no): (String, String)) -> Vec<ChatOption> {
    let option = |value: String, title: String| ChatOption {
        id: format!("{}_{value}", q.id),
        title,
    };
    if q.yes_no {
        return vec![option("1".into(), yes), option("0".into(), no)];
    }
    if let (Some(min), Some(max)) = (q.min, q.max) {
        // Highest first, as people read a satisfaction scale.
        return if max - min < 10 {
            (min..=max)
                .rev()
                .map(|n| option(n.to_string(), n.to_string()))
                .collect()
        } else {
            Vec::new()
        };
    }
    q.options
        .iter()
        .map(|o| option(o.value.clone(), o.text.clone()))
        .collect()
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

/// The start of the day `now` falls in, in `zone`, and of the next.
fn day_around(
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::TimeZone;
    let day = now.with_timezone(&zone).date_naive();
    let start = |d: chrono::NaiveDate| {
        zone.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map_or(now, |t| t.with_timezone(&chrono::Utc))
    };
    (start(day), start(day.succ_opt().unwrap_or(day)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
