//! Claiming: each lane's claimer takes its channel's due deliveries in batches under a lease
//! (after taking back this process's own lost claims) and holds invitations past a daily cap
//! for the next day.

use super::{Dispatcher, Job, Mode};
use crate::domain::Channel;
use tokio::sync::{mpsc, watch};

impl Dispatcher {
    /// Claims batches of `channel` until nothing is due (or shutdown), feeding the senders.
    pub(super) async fn claim_loop(
        &self,
        channel: Channel,
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
                    self.pause(
                        shutdown,
                        self.policy.settings().poll_interval * failures.min(30),
                    )
                    .await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if batch.is_empty() {
                match mode {
                    Mode::UntilIdle => break,
                    Mode::UntilShutdown => {
                        self.pause(shutdown, self.policy.settings().poll_interval)
                            .await;
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
    async fn claim(&self, channel: Channel) -> anyhow::Result<Vec<Job>> {
        let now = self.clock.now();
        let lease_until = now + self.policy.settings().lease;
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
            Channel::Survey(survey) => self.policy.settings().daily_caps.get(&survey),
            Channel::Webhook => None,
        };
        let mut budget = match cap {
            Some(cap) => {
                let (today, tomorrow) = day_around(now, self.composer.default_time_zone.tz());
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
                self.policy.settings().batch_size,
            )
            .await?;
        Ok(claimed
            .into_iter()
            .map(|claimed| {
                let held_until = match &mut budget {
                    Some((left, tomorrow)) if claimed.kind.opens_conversation() => {
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
                    token: self.composer.token(&claimed),
                    held: self.in_hand.hold(claimed.delivery_id),
                    claimed,
                    lease_until,
                    held_until,
                }
            })
            .collect())
    }
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
