//! The recorder: one task per pool that writes the outcomes of every lane in batches, and
//! counts them. A delivery stays in hand until its outcome is written.

use super::in_hand::Held;
use super::{DispatchCounts, Dispatcher, Done};
use crate::store::Outcome;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Outcomes written per transaction at most.
const OUTCOMES_PER_WRITE: usize = 1000;
/// How long the recorder waits for more outcomes before writing what it has. Longer means
/// fewer writes, and more sends unrecorded (so sent again) if the process dies.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

impl Dispatcher {
    /// Writes outcomes in batches as they come; counts them. A delivery stays in hand until
    /// its outcome is written.
    pub(super) async fn record(
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
                Err(e) if started.elapsed() < self.policy.settings().lease => {
                    tracing::warn!(error = %e, "cannot record delivery outcomes; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
