//! The daemon's planner: plans each scheduled campaign when a tick of its schedule is due,
//! recording each run. With several daemons on one database every daemon looks, one plans
//! each tick (the run's row is the lock, held for `scheduler.lease`), and a tick whose
//! planner died is taken over when its lease runs out: the others look again at that moment.

use crate::auth::SurveyKey;
use crate::campaign::Campaign;
use crate::clock::Clock;
use crate::store::{PlanCounts, Store, StoreError};
use crate::telemetry;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Plans `campaign` by hand (`trigger`: `cli`, `api`), recording the run (a dry run is not
/// recorded). Such a run holds no lease: nothing takes it over.
pub async fn run_by_hand(
    store: &Store,
    campaign: &Campaign,
    trigger: &str,
    dry_run: bool,
    key: &SurveyKey,
    clock: &Clock,
) -> Result<PlanCounts, StoreError> {
    if dry_run {
        let counts = store
            .plan_invitations(campaign, clock.now(), true, key)
            .await?;
        warn_too_late(campaign, &counts);
        return Ok(counts);
    }
    let now = clock.now();
    let owner = crate::process::name();
    let run = store
        .start_run(&campaign.name, trigger, now, &owner, now, now)
        .await?
        .ok_or_else(|| StoreError::Conflict("the run could not be recorded".into()))?;
    plan_recorded(store, campaign, (run, trigger), key, clock).await?
}

/// Plans `campaign` as run `run` (started by `trigger`) and records how it ended, in the
/// database and the metrics. The outer error: the record could not be written; the inner:
/// planning failed (recorded).
async fn plan_recorded(
    store: &Store,
    campaign: &Campaign,
    (run, trigger): (i64, &str),
    key: &SurveyKey,
    clock: &Clock,
) -> Result<Result<PlanCounts, StoreError>, StoreError> {
    let result = store
        .plan_invitations(campaign, clock.now(), false, key)
        .await;
    if let Ok(counts) = &result {
        warn_too_late(campaign, counts);
    }
    let now = clock.now();
    metrics::counter!(
        telemetry::PLANNER_RUNS,
        "campaign" => campaign.name.clone(),
        "trigger" => trigger.to_owned(),
        "outcome" => if result.is_ok() { "ok" } else { "error" },
    )
    .increment(1);
    match &result {
        Ok(counts) => {
            metrics::counter!(telemetry::INVITATIONS_PLANNED, "campaign" => campaign.name.clone())
                .increment(counts.invited);
            tracing::info!(campaign = %campaign.name, run, invited = counts.invited, "campaign run");
            store.finish_run(run, Ok(counts), now).await?;
        }
        Err(e) => {
            tracing::error!(campaign = %campaign.name, run, error = %e, "campaign run failed");
            store.finish_run(run, Err(&e.to_string()), now).await?;
        }
    }
    Ok(result)
}

pub struct Scheduler {
    store: Store,
    campaigns: Vec<Campaign>,
    key: SurveyKey,
    clock: Clock,
    zone: Tz,
    /// This daemon, in run records.
    owner: String,
    /// How long this daemon holds a tick it plans.
    lease: chrono::Duration,
}

impl Scheduler {
    /// The planner of `campaigns` that have a schedule, read in `zone`.
    pub fn new(
        store: Store,
        campaigns: &[Campaign],
        key: SurveyKey,
        clock: Clock,
        zone: Tz,
        owner: String,
        lease: std::time::Duration,
    ) -> Self {
        Scheduler {
            store,
            campaigns: campaigns
                .iter()
                .filter(|c| c.schedule.is_some())
                .cloned()
                .collect(),
            key,
            clock,
            zone,
            owner,
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// Plans every campaign with a tick due now that no other daemon holds; returns the runs
    /// it made, with their counts (a run that failed is recorded with its error and skipped
    /// here). Also returns when to look again.
    pub async fn tick(&self) -> anyhow::Result<(Vec<(String, PlanCounts)>, Option<DateTime<Utc>>)> {
        let mut done = Vec::new();
        let mut wake: Option<DateTime<Utc>> = None;
        for campaign in &self.campaigns {
            let Some(schedule) = &campaign.schedule else {
                continue;
            };
            let now = self.clock.now();
            let state = self.store.tick_state(&campaign.name, now).await?;
            // A tick whose planner died is taken over first; else the schedule's next.
            let due = match state.abandoned {
                Some(abandoned) if state.last.is_none_or(|last| abandoned > last) => {
                    Some(abandoned)
                }
                _ => schedule.due(state.last, now, self.zone),
            };
            let run = match due {
                Some(tick) => {
                    let (owner, lease_until) = (&self.owner, now + self.lease);
                    self.store
                        .start_run(&campaign.name, "schedule", tick, owner, now, lease_until)
                        .await?
                }
                None => None,
            };
            if let Some(run) = run
                && let Ok(counts) = plan_recorded(
                    &self.store,
                    campaign,
                    (run, "schedule"),
                    &self.key,
                    &self.clock,
                )
                .await?
            {
                done.push((campaign.name.clone(), counts));
            }
            let now = self.clock.now();
            let state = self.store.tick_state(&campaign.name, now).await?;
            // Look again at the next tick, or when another daemon's lease would run out.
            for next in [schedule.next(state.last, now, self.zone), state.held_until] {
                wake = match (wake, next) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok((done, wake))
    }

    /// Looks until `shutdown`: at each due tick, and at least every minute.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        if self.campaigns.is_empty() {
            return;
        }
        crate::campaign::schedule::keep_looking("the schedules", &self.clock, shutdown, || async {
            self.tick().await.map(|(_, wake)| wake)
        })
        .await;
    }
}

/// Says how many contacts were closed too long ago to be surveyed, and why: nothing else shows
/// that a run of old contacts planned nothing.
fn warn_too_late(campaign: &Campaign, counts: &PlanCounts) {
    if counts.skipped.too_late > 0 {
        tracing::warn!(
            campaign = %campaign.name,
            contacts = counts.skipped.too_late,
            "contacts closed more than the campaign's delay and expiry ago ({}) are not \
             invited: their invitations would expire before they could be sent",
            crate::domain::duration::format(campaign.delay + campaign.expiry)
        );
    }
}

/// The daemon's scheduled jobs: planning campaigns and polling sources.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// How long a daemon holds a job it runs; another takes the job over after that.
    #[serde(with = "crate::domain::duration")]
    pub lease: std::time::Duration,
}
