//! Planning runs, as recorded: which campaign, what started it (`schedule`, `cli`, `api`), for
//! which tick, when it started and ended, and what it counted or why it failed. A scheduled
//! tick has one row, which the daemon that planned it holds for a lease: across daemons a
//! tick is planned once, and taken over by another when its planner died.

use super::{PlanCounts, Store, StoreError, with_pool};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A recorded run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CampaignRun {
    pub id: i64,
    pub campaign: String,
    pub trigger: String,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub eligible: Option<i64>,
    pub invited: Option<i64>,
    /// The skips by reason (stored as JSON text; shown as the object).
    #[serde(serialize_with = "as_json")]
    pub skipped: Option<String>,
    pub error: Option<String>,
}

fn as_json<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    text.as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .serialize(s)
}

/// How many runs of a campaign one trigger started and how they ended, and when the latest
/// of them started: what the metrics read at each scrape (a `surveyd campaign run` process
/// exits before anything could scrape it, so its runs are counted from here).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunTally {
    pub campaign: String,
    pub trigger: String,
    /// `ok`, `error`, or `running` (not finished: under way, or its planner died).
    pub outcome: String,
    pub runs: i64,
    pub latest_started_at: DateTime<Utc>,
}

/// Where a campaign's scheduled ticks stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct TickState {
    /// The latest tick planned, or being planned by a daemon whose lease holds.
    pub last: Option<DateTime<Utc>>,
    /// The latest tick left unfinished by a daemon whose lease ran out (it died).
    pub abandoned: Option<DateTime<Utc>>,
    /// When the earliest lease of a tick being planned runs out.
    pub held_until: Option<DateTime<Utc>>,
}

impl Store {
    /// Starts a run of `campaign` by `trigger` for `scheduled_for`, held by `owner` until
    /// `lease_until`. A scheduled tick already started elsewhere is not started again unless
    /// it never finished and its lease ran out by `now` (its planner died): then this takes
    /// it over. Returns the run's id, `None` when another has it.
    pub async fn start_run(
        &self,
        campaign: &str,
        trigger: &str,
        scheduled_for: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO campaign_runs (campaign, trigger, scheduled_for, owner, lease_until, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (campaign, scheduled_for) WHERE trigger = 'schedule' DO UPDATE \
                 SET owner = excluded.owner, lease_until = excluded.lease_until, started_at = excluded.started_at \
                 WHERE campaign_runs.finished_at IS NULL AND campaign_runs.lease_until <= excluded.started_at \
                 RETURNING id",
            )
            .bind(campaign)
            .bind(trigger)
            .bind(scheduled_for)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Records how run `id` ended: its counts, or why it failed.
    pub async fn finish_run(
        &self,
        id: i64,
        result: Result<&PlanCounts, &str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (eligible, invited, skipped, error) = match result {
            Ok(counts) => (
                Some(counts.eligible as i64),
                Some(counts.invited as i64),
                serde_json::to_string(&counts.skipped).ok(),
                None,
            ),
            Err(error) => (None, None, None, Some(error)),
        };
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE campaign_runs SET finished_at = $1, eligible = $2, invited = $3, skipped = $4, \
                 error = $5 WHERE id = $6",
            )
            .bind(now)
            .bind(eligible)
            .bind(invited)
            .bind(skipped)
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Where `campaign`'s scheduled ticks stand at `now`.
    pub async fn tick_state(
        &self,
        campaign: &str,
        now: DateTime<Utc>,
    ) -> Result<TickState, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT \
                 MAX(CASE WHEN finished_at IS NOT NULL OR lease_until > $2 THEN scheduled_for END) AS last, \
                 MAX(CASE WHEN finished_at IS NULL AND lease_until <= $2 THEN scheduled_for END) AS abandoned, \
                 MIN(CASE WHEN finished_at IS NULL AND lease_until > $2 THEN lease_until END) AS held_until \
                 FROM campaign_runs WHERE campaign = $1 AND trigger = 'schedule'",
            )
            .bind(campaign)
            .bind(now)
            .fetch_one(pool)
            .await?
        }))
    }

    /// Every campaign's runs counted by trigger and outcome.
    pub async fn run_tallies(&self) -> Result<Vec<RunTally>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT campaign, trigger, outcome, COUNT(*) AS runs, MAX(started_at) AS latest_started_at \
                 FROM (SELECT campaign, trigger, started_at, CASE WHEN error IS NOT NULL THEN 'error' \
                   WHEN finished_at IS NOT NULL THEN 'ok' ELSE 'running' END AS outcome FROM campaign_runs) AS runs \
                 GROUP BY campaign, trigger, outcome ORDER BY campaign, trigger, outcome",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// `campaign`'s runs, latest first, at most `limit`.
    pub async fn campaign_runs(
        &self,
        campaign: &str,
        limit: i64,
    ) -> Result<Vec<CampaignRun>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, campaign, trigger, scheduled_for, started_at, finished_at, eligible, invited, \
                 skipped, error FROM campaign_runs WHERE campaign = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
            )
            .bind(campaign)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
