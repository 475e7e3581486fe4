//! The planner lease across daemon processes on one PostgreSQL database: `surveyd serve` A
//! takes a scheduled campaign's tick and is killed with SIGKILL while planning it; `surveyd
//! serve` B takes the same tick over once A's lease runs out, and every contact ends with
//! exactly one invitation.

use crate::support;
use crate::support::TestDb;
use crate::support::daemon::Daemon;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::{Duration, Instant};

/// Contacts to plan: enough that planning them takes seconds, so A dies mid-run.
const CONTACTS: usize = 30_000;

fn config(dir: &Path, db: &TestDb) -> std::path::PathBuf {
    let path = dir.join("surveyd.toml");
    std::fs::write(
        &path,
        format!(
            r#"[database]
url = "{url}"
[http]
listen = "127.0.0.1:0"
[survey]
key = "{key}"
[scheduler]
lease = "3s"
[email]
outbox_dir = "{outbox}"

[[campaigns]]
name = "scheduled"
questionnaire = "post-contact"
channel = "email"
delay = "30d"
expiry = "7d"
schedule = {{ every = "1h" }}
[campaigns.audience]
lookback = "14d"
"#,
            url = db.url,
            key = support::SURVEY_KEY,
            outbox = dir.join("outbox").display(),
        ),
    )
    .unwrap();
    path
}

#[derive(Debug, sqlx::FromRow)]
struct Run {
    id: i64,
    owner: String,
    lease_until: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    invited: Option<i64>,
}

async fn runs(pool: &sqlx::PgPool) -> Vec<Run> {
    sqlx::query_as(
        "SELECT id, owner, lease_until, started_at, finished_at, invited FROM campaign_runs ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Polls `runs` until `done` holds, for at most `deadline`.
async fn wait_for(
    pool: &sqlx::PgPool,
    deadline: Duration,
    done: impl Fn(&[Run]) -> bool,
) -> Vec<Run> {
    let until = Instant::now() + deadline;
    loop {
        let now = runs(pool).await;
        if done(&now) || Instant::now() > until {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn postgres_the_planner_lease_moves_to_another_daemon() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let crate::support::Raw::Postgres(pool) = &db.raw else {
        unreachable!()
    };
    let now = Utc::now();
    let contacts: Vec<_> = (0..CONTACTS)
        .map(|i| {
            support::closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("c{i}@example.com")),
                now - chrono::Duration::hours(1),
            )
        })
        .collect();
    db.store.upsert_contacts(&contacts, now).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &db);

    let a = Daemon::start(&config, "serve");
    let taken = wait_for(pool, Duration::from_secs(30), |r| !r.is_empty()).await;
    a.kill();
    assert_eq!(taken.len(), 1, "daemon A took the tick");
    let dead = &runs(pool).await[0];
    assert!(
        dead.finished_at.is_none(),
        "A finished planning before it was killed; plan more contacts: {dead:?}"
    );
    let invited_by_a: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invitations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!((invited_by_a as usize) < CONTACTS);

    let b = Daemon::start(&config, "serve");
    let after = wait_for(pool, Duration::from_secs(60), |r| {
        r.iter().any(|run| run.finished_at.is_some())
    })
    .await;
    b.stop();

    // The same tick, taken over: one run, finished by B, started once A's lease ran out.
    assert_eq!(after.len(), 1, "{after:?}");
    let run = &after[0];
    assert_eq!(run.id, dead.id);
    assert_ne!(run.owner, dead.owner);
    assert!(
        run.finished_at.is_some(),
        "B did not finish the run: {run:?}"
    );
    assert!(run.started_at >= dead.lease_until, "{run:?} {dead:?}");
    assert!(
        run.started_at - dead.lease_until < chrono::Duration::seconds(5),
        "B took over {} after the lease ran out",
        run.started_at - dead.lease_until
    );
    assert_eq!(
        run.invited.unwrap() + invited_by_a,
        CONTACTS as i64,
        "B invited the contacts A had not"
    );
    let invitations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invitations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(invitations as usize, CONTACTS);
}
