//! The inbox writer. Webhook handlers hand it their verified events and wait; it stores and
//! interprets everything that queued up meanwhile in one transaction (a group commit), then
//! lets the handlers answer. A provider hears `200` only once its events are committed, the
//! database sees one commit per batch rather than three per event, and on SQLite the
//! daemon's webhook writes never queue on each other for the file's lock.
//!
//! An event refused as invalid (it writes nothing) is stored with its error, for
//! `surveyd inbox replay`. When storage fails anywhere in a batch (a value the database
//! refuses, a deadlock, a lost connection) the batch is rolled back and its requests are
//! stored one at a time, each event then between a mark and its release: an event whose
//! interpretation fails is undone alone and kept with the error, and one bad request never
//! holds back the others.

use super::{Providers, RawEvent};
use crate::clock::Clock;
use crate::domain::InboxOutcome;
use crate::replies::Inbound;
use crate::replies::conversation::{InterpretError, Interpreter};
use crate::store::{InboxEvent, Processed, Store, StoreError, StoreTx};
use crate::telemetry;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Handlers' requests at most in one transaction.
const BATCH: usize = 256;

/// Attempts at an event whose interpretation met a deadlock or a busy database.
const ATTEMPTS: usize = 3;

/// The handle webhook handlers queue their events on. Cloning it shares the writers.
#[derive(Clone)]
pub struct InboxWriter {
    queue: mpsc::Sender<Request>,
}

/// One handler's events, received at one moment.
struct Request {
    events: Vec<RawEvent>,
    now: DateTime<Utc>,
    done: oneshot::Sender<Result<(), String>>,
}

impl InboxWriter {
    /// Starts the writer tasks (on the current tokio runtime): one on SQLite, which writes
    /// one transaction at a time anyway; on PostgreSQL up to four, taking turns at the queue,
    /// so that one batch's round trips and commit overlap the next one's (half the pool at
    /// most of its `pool_size`). They end when every handle is dropped and the queue is
    /// empty. Events are decoded by their provider in `providers`. Meanwhile the first writer
    /// applies the parked statuses whose send is now recorded ([`apply_parked`]), at `clock`.
    pub fn start(
        store: Store,
        pool_size: u32,
        providers: Arc<Providers>,
        interpreter: Interpreter,
        clock: Clock,
    ) -> Self {
        let writers = if store.single_writer() {
            1
        } else {
            (pool_size / 2).clamp(1, 4)
        };
        let (queue, requests) = mpsc::channel(4 * BATCH);
        let requests = Arc::new(Mutex::new(requests));
        for writer in 0..writers {
            tokio::spawn(write(
                store.clone(),
                Arc::clone(&providers),
                interpreter.clone(),
                Arc::clone(&requests),
                (writer == 0).then(|| clock.clone()),
            ));
        }
        InboxWriter { queue }
    }

    /// Stores `events` (a repeat of a stored event is skipped) and interprets the new ones.
    /// `Ok` once they are committed; `Err` (with the reason) when they could not be stored,
    /// so the provider should try again.
    pub async fn receive(&self, events: Vec<RawEvent>, now: DateTime<Utc>) -> Result<(), String> {
        let (done, stored) = oneshot::channel();
        let request = Request { events, now, done };
        if self.queue.send(request).await.is_err() {
            return Err("the inbox writer has stopped".into());
        }
        stored
            .await
            .unwrap_or_else(|_| Err("the inbox writer has stopped".into()))
    }
}

/// A writer task: takes what is queued, up to [`BATCH`] requests, and writes it at once;
/// with a clock, also applies parked statuses every [`PARKED_EVERY`].
async fn write(
    store: Store,
    providers: Arc<Providers>,
    interpreter: Interpreter,
    requests: Arc<Mutex<mpsc::Receiver<Request>>>,
    parked: Option<Clock>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut look = tokio::time::interval(PARKED_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            received = async { requests.lock().await.recv_many(&mut batch, BATCH).await } => received,
            Some(clock) = async { look.tick().await; parked.as_ref() }, if parked.is_some() => {
                if let Err(e) = apply_parked(&store, &providers, &interpreter, clock).await {
                    tracing::warn!(error = %e, "cannot apply parked statuses; trying again later");
                }
                continue;
            }
        };
        if received == 0 {
            break;
        }
        match store_batch(&store, &providers, &interpreter, &batch, Containment::Batch).await {
            Ok(()) => {
                for request in batch.drain(..) {
                    let _ = request.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, requests = batch.len(), "inbox batch failed; storing its requests one by one");
                for request in batch.drain(..) {
                    let one = std::slice::from_ref(&request);
                    let result = match store_batch(
                        &store,
                        &providers,
                        &interpreter,
                        one,
                        Containment::Event,
                    )
                    .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store a webhook event");
                            Err(e.to_string())
                        }
                    };
                    let _ = request.done.send(result);
                }
            }
        }
    }
}

/// How far a storage error inside a transaction reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Containment {
    /// The whole transaction fails (the fast path: no marks to write).
    Batch,
    /// Each event runs between a mark and its release; a storage error undoes that event
    /// alone, which is stored with the error.
    Event,
}

/// Stores the requests' events and interprets the new ones, in one transaction.
async fn store_batch(
    store: &Store,
    providers: &Providers,
    interpreter: &Interpreter,
    requests: &[Request],
    containment: Containment,
) -> Result<(), StoreError> {
    let events: Vec<(&RawEvent, DateTime<Utc>)> = requests
        .iter()
        .flat_map(|r| r.events.iter().map(|e| (e, r.now)))
        .collect();
    let mut tx = store.begin().await?;
    let ids = tx.inbox_insert(&events).await?;
    let mut results = Vec::with_capacity(events.len());
    for ((e, now), id) in events.iter().zip(ids.iter().copied()) {
        if let Some(id) = id {
            let event = (e.provider.as_str(), e.kind, e.payload.as_str());
            let how = How {
                containment,
                park: true,
            };
            let result = process(&mut tx, providers, interpreter, event, *now, how).await?;
            results.push(result.of(id, *now));
        }
    }
    record(&mut tx, &results).await?;
    tx.commit().await?;
    count_events(&events, &ids, &results);
    Ok(())
}

/// Counts committed events in [`telemetry::WEBHOOK_EVENTS`] by provider and outcome: what
/// interpreting each did, `duplicate` (stored before), or `failed`.
fn count_events(events: &[(&RawEvent, DateTime<Utc>)], ids: &[Option<i64>], results: &[Done]) {
    let mut results = results.iter();
    for ((event, _), id) in events.iter().zip(ids) {
        let outcome = match id {
            None => "duplicate",
            Some(_) => results.next().map_or("failed", Done::outcome),
        };
        metrics::counter!(
            telemetry::WEBHOOK_EVENTS,
            "provider" => event.provider.clone(),
            "outcome" => outcome,
        )
        .increment(1);
    }
}

/// Events read, and interpreted in one transaction, per page of a replay.
const REPLAY_PAGE: i64 = 500;

/// What a replay did.
#[derive(Debug, Default)]
pub struct Replay {
    pub replayed: u64,
    /// The events that failed again, with the reason.
    pub still_failing: Vec<(InboxEvent, String)>,
}

/// Interprets again, oldest first, every event whose interpretation failed and, unless
/// `failed_only`, every event with no outcome recorded (the writer records one in the
/// event's own transaction, so these come only from elsewhere, such as an older version).
/// Events that were interpreted are never run twice: an answer would count again.
pub async fn replay(
    store: &Store,
    providers: &Providers,
    interpreter: &Interpreter,
    failed_only: bool,
    clock: &Clock,
) -> Result<Replay, StoreError> {
    let mut replay = Replay::default();
    let mut after = 0;
    loop {
        let events = store
            .inbox_to_replay(!failed_only, after, REPLAY_PAGE)
            .await?;
        let Some(last) = events.last() else { break };
        after = last.id;
        let mut tx = store.begin().await?;
        let results =
            interpret_stored(&mut tx, providers, interpreter, &events, clock, true).await?;
        tx.commit().await?;
        replay.replayed += events.len() as u64;
        replay.still_failing.extend(
            events
                .into_iter()
                .zip(results)
                .filter_map(|(e, done)| done.result.err().map(|reason| (e, reason))),
        );
    }
    Ok(replay)
}

/// How long a status whose message no delivery carries is parked (see
/// [`InboxOutcome::StatusParked`]): a send is recorded within seconds of the provider's
/// answer, or its lease runs out and it goes again under a new id.
pub const PARK_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// How often the writer looks for parked statuses whose send is now recorded.
const PARKED_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Parked statuses interpreted again in one transaction at most.
const PARKED_PAGE: i64 = 500;

/// Interprets again the parked statuses whose send is now recorded, and gives up on those
/// parked longer than [`PARK_FOR`] (`status_unknown`). Counts what became of each in
/// [`telemetry::WEBHOOK_PARKED`]; returns how many were interpreted.
pub async fn apply_parked(
    store: &Store,
    providers: &Providers,
    interpreter: &Interpreter,
    clock: &Clock,
) -> Result<u64, StoreError> {
    let mut applied = 0;
    loop {
        let given_up_before =
            clock.now() - chrono::Duration::from_std(PARK_FOR).unwrap_or_default();
        if !store.inbox_parked_ready(given_up_before).await? {
            return Ok(applied);
        }
        let mut tx = store.begin().await?;
        let events = tx.inbox_parked(given_up_before, PARKED_PAGE).await?;
        if events.is_empty() {
            // Another daemon holds them.
            return Ok(applied);
        }
        let results =
            interpret_stored(&mut tx, providers, interpreter, &events, clock, false).await?;
        tx.commit().await?;
        applied += events.len() as u64;
        for (e, done) in events.iter().zip(&results) {
            metrics::counter!(
                telemetry::WEBHOOK_PARKED,
                "provider" => e.provider.clone(),
                "outcome" => done.outcome(),
            )
            .increment(1);
        }
    }
}

/// Interprets stored `events` in `tx`, each between a mark and its release, and records
/// what each did; with `park`, a status whose message no delivery carries yet is parked.
async fn interpret_stored(
    tx: &mut StoreTx,
    providers: &Providers,
    interpreter: &Interpreter,
    events: &[InboxEvent],
    clock: &Clock,
    park: bool,
) -> Result<Vec<Done>, StoreError> {
    let mut results = Vec::with_capacity(events.len());
    for e in events {
        let event = (e.provider.as_str(), e.kind.as_str(), e.payload.as_str());
        let now = clock.now();
        let how = How {
            containment: Containment::Event,
            park,
        };
        let result = process(tx, providers, interpreter, event, now, how).await?;
        results.push(result.of(e.id, now));
    }
    record(tx, &results).await?;
    Ok(results)
}

/// What interpreting an event did or why it failed, and for a parked status the message id
/// it waits for.
struct Interpreted {
    result: Result<InboxOutcome, String>,
    awaits: Option<String>,
}

impl Interpreted {
    fn of(self, id: i64, at: DateTime<Utc>) -> Done {
        Done {
            id,
            result: self.result,
            at,
            awaits: self.awaits,
        }
    }
}

/// An event interpreted: its row, what it did, when.
struct Done {
    id: i64,
    result: Result<InboxOutcome, String>,
    at: DateTime<Utc>,
    awaits: Option<String>,
}

impl Done {
    /// The outcome's name, or `failed`.
    fn outcome(&self) -> &'static str {
        self.result.as_ref().map_or("failed", |o| o.as_str())
    }
}

/// Records the events' outcomes and errors.
async fn record(tx: &mut StoreTx, results: &[Done]) -> Result<(), StoreError> {
    let processed: Vec<_> = results
        .iter()
        .map(|done| Processed {
            id: done.id,
            result: match &done.result {
                Ok(outcome) => Ok(outcome.as_str()),
                Err(reason) => Err(reason.as_str()),
            },
            at: done.at,
            awaits: done.awaits.as_deref(),
        })
        .collect();
    tx.inbox_processed(&processed).await
}

/// How an event is interpreted: how far a storage error reaches, and whether a status whose
/// message no delivery carries yet is parked (a fresh event) or given up (one parked long
/// enough).
#[derive(Debug, Clone, Copy)]
struct How {
    containment: Containment,
    park: bool,
}

/// Decodes and interprets a stored event (provider, kind, payload) in `tx`; returns what it
/// did or why it failed. A failed interpretation leaves nothing behind: refused as invalid it
/// wrote nothing, and with [`Containment::Event`] a storage error is undone and returned as
/// the event's error. With [`Containment::Batch`] a storage error fails the transaction.
async fn process(
    tx: &mut StoreTx,
    providers: &Providers,
    interpreter: &Interpreter,
    event: (&str, &str, &str),
    now: DateTime<Utc>,
    how: How,
) -> Result<Interpreted, StoreError> {
    let (provider, kind, payload) = event;
    let mut awaits = None;
    let result = match providers.decode(provider, kind, payload) {
        Ok(Some(inbound)) => {
            let result = match how.containment {
                Containment::Batch => match interpreter.interpret(tx, &inbound, now).await {
                    Ok(outcome) => Ok(outcome),
                    Err(InterpretError::Invalid(reason)) => Err(reason),
                    Err(InterpretError::Store(e)) => return Err(e),
                },
                Containment::Event => interpret_marked(tx, interpreter, &inbound, now).await?,
            };
            match (result, &inbound) {
                (Ok(InboxOutcome::StatusUnknown), Inbound::Status(report)) if how.park => {
                    awaits = Some(report.message_id.clone());
                    Ok(InboxOutcome::StatusParked)
                }
                (result, _) => result,
            }
        }
        Ok(None) => Ok(InboxOutcome::Ignored),
        Err(reason) => Err(reason),
    };
    if let Err(reason) = &result {
        tracing::warn!(provider, %reason, "inbox event not interpreted");
    }
    Ok(Interpreted { result, awaits })
}

/// Interprets `inbound` between a mark and its release, undoing it on failure; tries again
/// when the database met a deadlock or was busy.
async fn interpret_marked(
    tx: &mut StoreTx,
    interpreter: &Interpreter,
    inbound: &Inbound,
    now: DateTime<Utc>,
) -> Result<Result<InboxOutcome, String>, StoreError> {
    let mut attempt = 1;
    loop {
        tx.mark().await?;
        let result = match interpreter.interpret(tx, inbound, now).await {
            Ok(outcome) => tx.keep().await.map(|()| outcome).map_err(Into::into),
            Err(e) => Err(e),
        };
        let e = match result {
            Ok(outcome) => return Ok(Ok(outcome)),
            Err(e) => e,
        };
        tx.undo().await?;
        match e {
            InterpretError::Store(e) if e.is_retryable() && attempt < ATTEMPTS => attempt += 1,
            InterpretError::Store(e) => {
                return Ok(Err(format!("storage failed while interpreting: {e}")));
            }
            InterpretError::Invalid(reason) => return Ok(Err(reason)),
        }
    }
}
