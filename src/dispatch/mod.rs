//! Dispatch: the worker pool that empties the outbox. Each channel (email, SMS, WhatsApp,
//! and the alert webhook when one is configured) has its own [`lane`]: a claimer takes that
//! channel's due deliveries in batches under a lease and hands them to the lane's senders
//! (one per allowed connection); senders render and send, and one [`recorder`] writes the
//! outcomes of all lanes in batches. What becomes of each delivery (sent, skipped, retried,
//! given up, moved to the next channel) is the pure [`policy`]; what each message says and
//! where it goes is [`compose`]d. No database
//! transaction is open while a message is on its way, and a slow provider holds up only its
//! own lane. Claims are taken in [`claim`].
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
mod claim;
pub mod compose;
pub mod in_hand;
pub mod isolate;
pub mod journal;
mod lane;
pub mod policy;
mod recorder;
mod settings;

pub use compose::{Composed, Composer};
pub use lane::channels;
pub use policy::{Decision, Policy, backoff};
pub use settings::DispatchSettings;

use crate::alerts;
use crate::alerts::AlertSettings;
use crate::auth::SurveyKey;
use crate::campaign::Campaign;
use crate::channels::email::EmailChannel;
use crate::channels::{ChatProvider, HttpApi, SendError};
use crate::clock::Clock;
use crate::domain::{Channel, MessageKind, SurveyChannel};
use crate::questionnaire::Questionnaire;
use crate::render::Renderer;
use crate::store::{Claimed, FinalStatus, Outcome, Store};
use crate::telemetry;
use breaker::{Breaker, Permit};
use in_hand::{Held, InHand};
use lane::{Prepared, Sender};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, watch};

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
    /// What becomes of each delivery, by the settings and the campaigns' rules.
    policy: Policy,
    /// What each message says and where it goes.
    composer: Composer,
    email: EmailChannel,
    sms: Option<Arc<ChatProvider>>,
    whatsapp: Option<Arc<ChatProvider>>,
    /// The alert webhook's client, when one is configured.
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
            policy: Policy::new(settings, Arc::clone(&campaigns), defaults.time_zone),
            composer: Composer::new(
                renderer,
                questionnaires,
                campaigns,
                key,
                public_url,
                defaults,
                alerts,
            ),
            email,
            sms,
            whatsapp,
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
        let lanes: Vec<_> = Channel::ALL
            .into_iter()
            .filter(|lane| *lane != Channel::Webhook || self.webhook.is_some())
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
        channel: Channel,
        mode: Mode,
        outcomes: mpsc::UnboundedSender<Done>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let senders = match channel {
            Channel::Survey(SurveyChannel::Email) => self.email.concurrency(),
            // Without a provider one sender suffices: it fails each delivery with the reason.
            Channel::Survey(chat) => self.provider(chat).map_or(1, |p| p.api().concurrency()),
            Channel::Webhook => self.webhook.as_ref().map_or(1, HttpApi::concurrency),
        };
        let (job_tx, job_rx) = mpsc::channel::<Job>(self.policy.settings().batch_size.max(1));
        let job_rx = Arc::new(Mutex::new(job_rx));
        // Who carries this lane's messages, as metrics name it.
        let provider: Arc<str> = match channel {
            Channel::Survey(SurveyChannel::Email) => self.email.provider().into(),
            Channel::Survey(chat) => self
                .provider(chat)
                .map_or("none".into(), |p| p.name().into()),
            Channel::Webhook => alerts::WEBHOOK.into(),
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
    fn sender(&self, lane: Channel) -> Sender {
        match (lane, &self.webhook) {
            (Channel::Survey(SurveyChannel::Email), _) => {
                Sender::Email(Box::new(self.email.sender()))
            }
            (Channel::Survey(chat), _) => Sender::Chat(self.provider(chat).cloned()),
            (Channel::Webhook, Some(api)) => Sender::Webhook(api.clone()),
            (Channel::Webhook, None) => Sender::Chat(None),
        }
    }

    /// The circuit breaker of the provider of `channel`.
    fn breaker(&self, channel: Channel) -> &Breaker {
        let lane = Channel::ALL
            .iter()
            .position(|lane| *lane == channel)
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

    /// A sender of `lane`: takes jobs until there are none (or shutdown), sending one at a
    /// time, each isolated (a panic fails that delivery and the sender starts afresh).
    async fn work(
        self: Arc<Self>,
        lane: Channel,
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
                        (self.policy.give_up(c, FinalStatus::Failed, reason), true)
                    }
                }
            };
            if !logged {
                journal::log(c, &provider, &outcome, self.clock.now());
            }
            metrics::counter!(
                telemetry::DELIVERIES,
                "channel" => c.channel.as_str(),
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
        if let Decision::Skip(outcome) = self.policy.decide(c, now) {
            return outcome;
        }
        let prepared = match self.prepare(sender, job).await {
            Ok(prepared) => prepared,
            Err(e) => return self.failed(c, e, now).await,
        };
        let breaker = self.breaker(c.channel);
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
            "channel" => c.channel.as_str(),
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
            Ok(message_id) => self.policy.sent(c, message_id, now),
            Err(e) => self.failed(c, e, now).await,
        }
    }

    /// What a failure to send `c` at `now` makes of it ([`Policy::failed`]); an opt-out the
    /// provider reported is recorded first.
    async fn failed(
        &self,
        c: &Claimed,
        error: SendError,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Outcome {
        if let SendError::OptedOut(_) = &error {
            let channel = c.channel.survey().unwrap_or(SurveyChannel::Email);
            if let Err(e) = self
                .store
                .opt_out_customer(c.customer_id, channel, "provider", now)
                .await
            {
                // The delivery is cancelled all the same; the next send meets the same answer.
                tracing::warn!(error = %e, "cannot record the opt-out the provider reported");
            }
        }
        self.policy.failed(c, error, now)
    }

    /// The message of `job` as `sender` sends it: rendered and addressed, an alert read as it
    /// stands now. What cannot be prepared fails (a read of the alert that failed is retried).
    async fn prepare<'a>(
        &'a self,
        sender: &'a mut Sender,
        job: &Job,
    ) -> Result<Prepared<'a>, SendError> {
        let c = &job.claimed;
        if c.kind == MessageKind::Alert {
            let alert = match self.store.alert_of_invitation(c.invitation_id).await {
                Ok(alert) => alert,
                Err(e @ crate::store::StoreError::NotFound(_)) => {
                    return Err(SendError::Permanent(e.to_string()));
                }
                Err(e) => return Err(SendError::Transient(format!("cannot read the alert: {e}"))),
            };
            return match sender {
                Sender::Email(email) => Ok(Prepared::Email(
                    email,
                    self.composer.alert_email(c, &alert)?,
                )),
                Sender::Webhook(api) => match &self.composer.alerts.webhook {
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
            Sender::Email(email) => match self.composer.email_for(c, &job.token) {
                Ok(message) => Ok(Prepared::Email(email, message)),
                Err(reason) => Err(SendError::Permanent(reason)),
            },
            Sender::Chat(Some(provider)) => {
                match self
                    .composer
                    .chat_for(c, &job.token, Some(provider), self.clock.now())
                {
                    Ok(message) => Ok(Prepared::Chat(provider, message)),
                    Err(reason) => Err(SendError::Permanent(reason)),
                }
            }
            Sender::Chat(None) => Err(SendError::Permanent(format!(
                "no provider is configured for {0} (channels.{0})",
                c.channel
            ))),
            Sender::Webhook(_) => Err(SendError::Permanent("only alerts go to the webhook".into())),
        }
    }

    /// The message a delivery of `claimed` would carry now ([`Composer::compose`]).
    pub fn compose(&self, claimed: &Claimed) -> Result<Composed, String> {
        let provider = match claimed.channel {
            Channel::Survey(SurveyChannel::Sms) => self.sms.as_deref(),
            Channel::Survey(SurveyChannel::Whatsapp) => self.whatsapp.as_deref(),
            _ => None,
        };
        self.composer.compose(claimed, provider, self.clock.now())
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
}
