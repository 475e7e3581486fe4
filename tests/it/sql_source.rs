//! SQL sources: a helpdesk's `tickets` table — in an SQLite file and in a PostgreSQL database
//! — read into the store (itself on SQLite and on PostgreSQL) in batches after a cursor, on
//! an injected clock. Rows sharing a closing time across batch boundaries, rows added later
//! with the cursor's own closing time, rows too recent to read yet, a bad row and a second
//! daemon's lease: every closed ticket arrives once, none is read twice.

use crate::support::TestDb;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use surveyd::campaign::schedule::Schedule;
use surveyd::clock::Clock;
use surveyd::config::DatabaseUrl;
use surveyd::intake::ParseContext;
use surveyd::intake::source::{PollReport, SourcePoller, SourceSettings, SqlSource};

const NOW: &str = "2026-11-20T12:00:00Z";
/// How long a poll holds the source.
const LEASE: std::time::Duration = std::time::Duration::from_secs(300);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A helpdesk database with a `tickets` table, and the query that reads it.
enum Helpdesk {
    Sqlite {
        pool: sqlx::SqlitePool,
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres(TestDb),
}

impl Helpdesk {
    async fn sqlite() -> Helpdesk {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/helpdesk.db", dir.path().display());
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, closed_at TEXT, customer TEXT NOT NULL, \
             email TEXT, agent TEXT, status TEXT NOT NULL, priority INTEGER)",
        )
        .execute(&pool)
        .await
        .unwrap();
        Helpdesk::Sqlite {
            pool,
            _dir: dir,
            url,
        }
    }

    /// A PostgreSQL helpdesk (a database of its own), or `None` without `TEST_POSTGRES_URL`.
    async fn postgres() -> Option<Helpdesk> {
        let db = TestDb::postgres().await?;
        let crate::support::Raw::Postgres(pool) = &db.raw else {
            unreachable!()
        };
        sqlx::query(
            "CREATE TABLE tickets (id BIGINT PRIMARY KEY, closed_at TIMESTAMPTZ, customer TEXT NOT NULL, \
             email TEXT, agent TEXT, status TEXT NOT NULL, priority INT)",
        )
        .execute(pool)
        .await
        .unwrap();
        Some(Helpdesk::Postgres(db))
    }

    fn url(&self) -> &str {
        match self {
            Helpdesk::Sqlite { url, .. } => url,
            Helpdesk::Postgres(db) => &db.url,
        }
    }

    /// The import format from the tickets: on PostgreSQL the contact id is text (`HD-000042`)
    /// and the closing time a TIMESTAMPTZ; on SQLite an integer and RFC 3339 text.
    fn query(&self) -> &'static str {
        match self {
            Helpdesk::Sqlite { .. } => {
                "SELECT id AS contact_id, closed_at, customer AS customer_id, email, \
                 agent AS agent_id, priority AS \"attr.priority\", status \
                 FROM tickets WHERE status = 'closed';"
            }
            Helpdesk::Postgres(_) => {
                "SELECT 'HD-' || lpad(id::text, 6, '0') AS contact_id, closed_at, \
                 customer AS customer_id, email, agent AS agent_id, priority AS \"attr.priority\", status \
                 FROM tickets WHERE status = 'closed'"
            }
        }
    }

    /// The contact id the query makes of ticket `id`.
    fn contact_id(&self, id: i64) -> String {
        match self {
            Helpdesk::Sqlite { .. } => id.to_string(),
            Helpdesk::Postgres(_) => format!("HD-{id:06}"),
        }
    }

    async fn add(&self, id: i64, closed_at: DateTime<Utc>, email: &str, status: &str) {
        let sql = "INSERT INTO tickets (id, closed_at, customer, email, agent, status, priority) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let customer = format!("CU-{}", id % 40);
        let agent = format!("AG-{}", id % 5);
        let priority = (id % 3) as i32;
        match self {
            Helpdesk::Sqlite { pool, .. } => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(closed_at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .bind(customer)
                    .bind(email)
                    .bind(agent)
                    .bind(status)
                    .bind(priority)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Helpdesk::Postgres(db) => {
                let crate::support::Raw::Postgres(pool) = &db.raw else {
                    unreachable!()
                };
                sqlx::query(sql)
                    .bind(id)
                    .bind(closed_at)
                    .bind(customer)
                    .bind(email)
                    .bind(agent)
                    .bind(status)
                    .bind(priority)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn each_closed_ticket_arrives_once(db: &TestDb, helpdesk: Helpdesk) {
    let (clock, hand) = Clock::manual(at(NOW));
    let settings = SourceSettings {
        name: "helpdesk".into(),
        url: DatabaseUrl::parse(helpdesk.url()).unwrap(),
        query: helpdesk.query().into(),
        schedule: Schedule::Every(std::time::Duration::from_secs(300)),
        batch_size: 100,
        settle: std::time::Duration::from_secs(60),
    };
    let cx = ParseContext::of(&db.settings().defaults);
    let source = SqlSource::new(&settings, cx, LEASE).unwrap();
    let poll = || async { source.poll(&db.store, &clock, "daemon-a").await.unwrap() };
    let counts = |r: &PollReport| (r.read, r.inserted, r.updated, r.unchanged, r.rejected);

    // 250 closed tickets, seven to a minute (so equal closing times straddle the batches of
    // 100), one still open, and one with an email address that is not one.
    let start = at(NOW) - Duration::hours(10);
    let mut expected = BTreeSet::new();
    for id in 1..=250 {
        helpdesk
            .add(
                id,
                start + Duration::minutes(id / 7),
                &format!("c{id}@example.com"),
                "closed",
            )
            .await;
        expected.insert(helpdesk.contact_id(id));
    }
    helpdesk.add(251, start, "open@example.com", "open").await;
    helpdesk
        .add(
            260,
            start + Duration::minutes(20),
            "not an address",
            "closed",
        )
        .await;
    let first = poll().await;
    assert_eq!(counts(&first), (251, 250, 0, 0, 1), "{first:?}");
    assert_eq!(first.rejects.len(), 1);
    let reject = &first.rejects[0];
    assert!(
        reject.starts_with(&format!(
            "contact {}: field `email`",
            helpdesk.contact_id(260)
        )),
        "{reject}"
    );
    assert_eq!(
        first.warnings,
        ["column `status` is not in the import format; ignored"]
    );
    let contact = db
        .store
        .find_contact(&helpdesk.contact_id(8))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.attributes["priority"], serde_json::json!(2));
    assert_eq!(contact.closed_at, start + Duration::minutes(1));

    // Later: twenty tickets closed in the cursor's own minute (after it in id), and ten closed
    // 30 seconds ago, which wait for the settle time.
    let last_minute = start + Duration::minutes(250 / 7);
    for id in 261..=280 {
        helpdesk
            .add(id, last_minute, &format!("c{id}@example.com"), "closed")
            .await;
        expected.insert(helpdesk.contact_id(id));
    }
    for id in 281..=290 {
        helpdesk
            .add(
                id,
                at(NOW) - Duration::seconds(30),
                &format!("c{id}@example.com"),
                "closed",
            )
            .await;
        expected.insert(helpdesk.contact_id(id));
    }
    assert_eq!(counts(&poll().await), (20, 20, 0, 0, 0));

    // Another daemon holds the source: this one reads nothing.
    hand.advance(Duration::minutes(1));
    let now = clock.now();
    let held = db
        .store
        .claim_source("helpdesk", "daemon-b", now, now + Duration::minutes(5))
        .await
        .unwrap();
    assert!(held.is_some(), "the lease was free");
    assert!(poll().await.held_elsewhere);
    db.store
        .release_source("helpdesk", "daemon-b", now, None)
        .await
        .unwrap();

    assert_eq!(counts(&poll().await), (10, 10, 0, 0, 0));
    assert_eq!(counts(&poll().await), (0, 0, 0, 0, 0));

    let stored: BTreeSet<String> = db
        .store
        .list_contacts(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.contact_id.as_str().to_owned())
        .collect();
    assert_eq!(stored, expected);
    let states = db.store.source_states().await.unwrap();
    assert_eq!(
        (states[0].read, states[0].imported, states[0].rejected),
        (281, 280, 1)
    );
    assert_eq!(states[0].last_error, None);
}

async fn from_an_sqlite_helpdesk(db: &TestDb) {
    each_closed_ticket_arrives_once(db, Helpdesk::sqlite().await).await;
}

async fn from_a_postgres_helpdesk(db: &TestDb) {
    if let Some(helpdesk) = Helpdesk::postgres().await {
        each_closed_ticket_arrives_once(db, helpdesk).await;
    }
}

/// A query that does not return the import format fails the poll with the reason, recorded
/// for `surveyd sources list`; nothing is stored and the cursor stays.
async fn a_query_without_the_format_fails_with_the_reason(db: &TestDb) {
    let helpdesk = Helpdesk::sqlite().await;
    helpdesk
        .add(1, at(NOW) - Duration::hours(1), "a@example.com", "closed")
        .await;
    let settings = SourceSettings {
        name: "helpdesk".into(),
        url: DatabaseUrl::parse(helpdesk.url()).unwrap(),
        query: "SELECT id AS ticket, closed_at, customer AS customer_id FROM tickets".into(),
        schedule: Schedule::Every(std::time::Duration::from_secs(300)),
        batch_size: 100,
        settle: std::time::Duration::from_secs(60),
    };
    let source =
        SqlSource::new(&settings, ParseContext::of(&db.settings().defaults), LEASE).unwrap();
    let (clock, _hand) = Clock::manual(at(NOW));
    let err = source
        .poll(&db.store, &clock, "daemon-a")
        .await
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.starts_with("source `helpdesk`: the query failed (it must return the import format, with `closed_at` and `contact_id` among its columns)"),
        "{err}"
    );
    assert!(
        err.contains("no such column: surveyd_source.contact_id"),
        "{err}"
    );
    let state = &db.store.source_states().await.unwrap()[0];
    assert_eq!(state.last_error.as_deref(), Some(err.as_str()));

    // A database that is not there is named as such.
    let missing = SourceSettings {
        name: "gone".into(),
        url: DatabaseUrl::parse("sqlite:///nonexistent/helpdesk.db").unwrap(),
        ..settings
    };
    let source =
        SqlSource::new(&missing, ParseContext::of(&db.settings().defaults), LEASE).unwrap();
    let err = format!(
        "{:#}",
        source
            .poll(&db.store, &clock, "daemon-a")
            .await
            .unwrap_err()
    );
    assert!(
        err.starts_with(
            "source `gone`: cannot read the database sqlite:///nonexistent/helpdesk.db"
        ),
        "{err}"
    );
    assert_eq!((state.cursor.as_deref(), state.read), (None, 0));
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 0);
}

/// The daemon's poller reads a source when its schedule says, and says when to look again.
async fn the_daemon_polls_on_schedule(db: &TestDb) {
    let helpdesk = Helpdesk::sqlite().await;
    let (clock, hand) = Clock::manual(at(NOW));
    let settings = SourceSettings {
        name: "helpdesk".into(),
        url: DatabaseUrl::parse(helpdesk.url()).unwrap(),
        query: helpdesk.query().into(),
        schedule: Schedule::Every(std::time::Duration::from_secs(300)),
        batch_size: 100,
        settle: std::time::Duration::from_secs(60),
    };
    let mut daemon = db.settings();
    daemon.sources = vec![settings];
    let poller = SourcePoller::new(
        db.store.clone(),
        &daemon.sources,
        &daemon.defaults,
        daemon.scheduler.lease,
        clock.clone(),
    )
    .unwrap();
    let contacts = || async { db.store.table_counts().await.unwrap().contacts };
    helpdesk
        .add(1, at(NOW) - Duration::hours(1), "a@example.com", "closed")
        .await;
    let wake = poller.tick().await.unwrap();
    assert_eq!(contacts().await, 1);
    assert_eq!(wake, Some(at(NOW) + Duration::minutes(5)));
    helpdesk
        .add(2, at(NOW) - Duration::hours(1), "b@example.com", "closed")
        .await;
    hand.advance(Duration::minutes(4));
    poller.tick().await.unwrap();
    assert_eq!(contacts().await, 1, "not due yet");
    hand.advance(Duration::minutes(1));
    poller.tick().await.unwrap();
    assert_eq!(contacts().await, 2);
}

/// A row closing more than a day ahead is named on each poll and waits for its time; the
/// cursor does not pass it, so the rows that close before it are still read.
async fn a_row_closing_days_ahead_waits_and_is_named(db: &TestDb) {
    let helpdesk = Helpdesk::sqlite().await;
    let (clock, hand) = Clock::manual(at(NOW));
    let settings = SourceSettings {
        name: "helpdesk".into(),
        url: DatabaseUrl::parse(helpdesk.url()).unwrap(),
        query: helpdesk.query().into(),
        schedule: Schedule::Every(std::time::Duration::from_secs(300)),
        batch_size: 100,
        settle: std::time::Duration::from_secs(60),
    };
    let source =
        SqlSource::new(&settings, ParseContext::of(&db.settings().defaults), LEASE).unwrap();
    let poll = || async { source.poll(&db.store, &clock, "daemon-a").await.unwrap() };
    for id in 1..=3 {
        helpdesk
            .add(id, at(NOW) - Duration::hours(id), "a@example.com", "closed")
            .await;
    }
    helpdesk
        .add(4, at(NOW) + Duration::days(3), "b@example.com", "closed")
        .await;
    let first = poll().await;
    assert_eq!(
        (first.read, first.inserted, first.rejected),
        (3, 3, 0),
        "{first:?}"
    );
    let named = |r: &PollReport| {
        r.warnings
            .iter()
            .any(|w| {
                w.starts_with("contact 4: field `closed_at`: `2026-11-23T12:00:00Z` is more than a day in the future")
                    && w.ends_with("; it waits until then")
            })
    };
    assert!(named(&first), "{:?}", first.warnings);

    // Closed after the cursor's row but before the one ahead: read.
    helpdesk
        .add(
            5,
            at(NOW) - Duration::minutes(30),
            "c@example.com",
            "closed",
        )
        .await;
    let second = poll().await;
    assert_eq!((second.read, second.inserted), (1, 1), "{second:?}");
    assert!(named(&second), "{:?}", second.warnings);

    hand.advance(Duration::days(3) + Duration::minutes(2));
    let third = poll().await;
    assert_eq!((third.read, third.inserted), (1, 1), "{third:?}");
    assert!(
        third.warnings.iter().all(|w| !w.starts_with("contact 4")),
        "{:?}",
        third.warnings
    );
    assert!(db.store.find_contact("4").await.unwrap().is_some());
}

on_both_backends!(
    a_row_closing_days_ahead_waits_and_is_named,
    the_daemon_polls_on_schedule,
    from_an_sqlite_helpdesk,
    from_a_postgres_helpdesk,
    a_query_without_the_format_fails_with_the_reason
);
