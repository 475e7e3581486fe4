//! Shared test helpers: a fresh database per test (an SQLite file in a temporary folder, or
//! a PostgreSQL database of its own on the server named by `TEST_POSTGRES_URL`), settings
//! pointing at it, and the app served on port 0.

pub mod browser;
pub mod daemon;
pub mod emulator;
pub mod gateway;
pub mod meta;
pub mod qontak;
pub mod raw;
pub mod twilio;

use std::sync::atomic::{AtomicUsize, Ordering};
use surveyd::clock::{Clock, ManualClock};
use surveyd::config::{DatabaseUrl, Settings};
use surveyd::config::{EmailTransport, Secret, SmtpTls};
use surveyd::dispatch::{DispatchCounts, Mode};
use surveyd::http::Application;
use surveyd::store::Store;

pub use raw::Raw;

/// The survey key of the tests' settings (64 hex digits).
pub const SURVEY_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// The key the tests' settings hold, for planning.
pub fn survey_key() -> surveyd::auth::SurveyKey {
    surveyd::auth::SurveyKey::parse(SURVEY_KEY).unwrap()
}

/// The value of a counter of this process's metrics (`name{labels}` as exposed), 0 when it
/// has not been counted yet. Tests in one binary share the recorder: compare before and after.
pub fn counter(series: &str) -> f64 {
    surveyd::telemetry::recorder()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    pub store: Store,
    /// The test's own connection, for SQL it runs itself.
    pub raw: Raw,
    _guard: Guard,
}

enum Guard {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // A runtime cannot start inside the test's runtime: drop from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The store at `url`, migrated or as it is.
async fn connect(url: &str, connections: u32, migrated: bool) -> Store {
    let url = DatabaseUrl::parse(url).unwrap();
    if migrated {
        Store::open(&url, connections).await.unwrap()
    } else {
        Store::connect(&url, connections).await.unwrap()
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name() -> String {
    format!(
        "surveyd_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand_suffix()
    )
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

impl TestDb {
    /// A migrated SQLite database in a fresh temporary folder (in a sub-folder that does not
    /// exist yet, to show it gets created).
    pub async fn sqlite() -> TestDb {
        Self::new_sqlite(true).await
    }

    /// An SQLite database with no tables yet.
    pub async fn sqlite_unmigrated() -> TestDb {
        Self::new_sqlite(false).await
    }

    async fn new_sqlite(migrated: bool) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/surveyd.db", dir.path().display());
        let store = connect(&url, 4, migrated).await;
        TestDb {
            raw: Raw::connect(&url).await,
            url,
            store,
            _guard: Guard::Sqlite { _dir: dir },
        }
    }

    /// A migrated PostgreSQL database of this test's own, or `None` (with a note) when
    /// `TEST_POSTGRES_URL` is not set.
    pub async fn postgres() -> Option<TestDb> {
        Self::new_postgres(true).await
    }

    /// A PostgreSQL database of this test's own with no tables yet (or `None`).
    pub async fn postgres_unmigrated() -> Option<TestDb> {
        Self::new_postgres(false).await
    }

    async fn new_postgres(migrated: bool) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
            eprintln!(
                "skipped: TEST_POSTGRES_URL is not set, so the PostgreSQL variant did not run"
            );
            return None;
        };
        let name = unique_name();
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("TEST_POSTGRES_URL is set but PostgreSQL cannot be reached");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        let url = url.to_string();
        let store = connect(&url, 8, migrated).await;
        Some(TestDb {
            raw: Raw::connect(&url).await,
            url,
            store,
            _guard: Guard::Postgres { admin_url, name },
        })
    }

    /// Settings for this database, listening on a free port.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::load(None).unwrap();
        settings.database.url = DatabaseUrl::parse(&self.url).unwrap();
        settings.http.listen = "127.0.0.1:0".parse().unwrap();
        settings.survey.key = Some(Secret::new(SURVEY_KEY.into()));
        settings
    }

    /// The first column of `sql`'s rows, as text (the query casts what is not text).
    pub async fn texts(&self, sql: &str) -> Vec<Option<String>> {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .unwrap()
    }

    /// Makes the database refuse inserts into `table` of rows for which `condition` (SQL over
    /// `NEW`, alike on both backends) holds: a storage failure of the real database.
    pub async fn refuse_inserts(&self, table: &str, condition: &str) {
        let result = match &self.raw {
            Raw::Sqlite(pool) => sqlx::raw_sql(&format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition} \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            ))
            .execute(pool)
            .await
            .map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(&format!(
                "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF {condition} THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW \
                 EXECUTE FUNCTION refuse_{table}()"
            ))
            .execute(pool)
            .await
            .map(drop),
        };
        result.unwrap();
    }

    /// Undoes [`TestDb::refuse_inserts`].
    pub async fn accept_inserts(&self, table: &str) {
        let result = match &self.raw {
            Raw::Sqlite(pool) => sqlx::raw_sql(&format!("DROP TRIGGER refuse_{table}"))
                .execute(pool)
                .await
                .map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(&format!(
                "DROP TRIGGER refuse_{table} ON {table}; DROP FUNCTION refuse_{table}()"
            ))
            .execute(pool)
            .await
            .map(drop),
        };
        result.unwrap();
    }
}

/// Runs each listed test body (an `async fn(&TestDb)` in the calling file) once on SQLite and
/// once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

/// The app serving on a free port; stops when dropped.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb, settings: Settings) -> TestApp {
        Self::spawn_with_clock(db, settings, Clock::system()).await
    }

    /// The app reading the time from `clock`.
    pub async fn spawn_with_clock(db: &TestDb, settings: Settings, clock: Clock) -> TestApp {
        let shared = surveyd::app::Shared::load(&settings).expect("questionnaires and key");
        let state = surveyd::app::http_state(db.store.clone(), settings, clock, &shared)
            .expect("app state");
        let app = Application::bind(state).await.unwrap();
        let addr = app.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON to `path`, with a bearer token when given.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl serde::Serialize,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A contact line for CSV tests with the header [`CSV_HEADER`].
pub const CSV_HEADER: &str = "contact_id,closed_at,customer_id,customer_name,email,phone,agent_id,agent_name,team,contact_channel,resolution";

/// A real SMTP server process (aiosmtpd, `tests/it/support/smtp_server.py`) keeping each message
/// it accepts as a file. Stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    /// Starts the server on a free port.
    pub fn start() -> SmtpServer {
        Self::start_on(free_port())
    }

    /// Starts the server on `port` (to bring one back where it was).
    pub fn start_on(port: u16) -> SmtpServer {
        Self::start_with(port, &[])
    }

    /// Starts the server on `port` with the script's options (`--tls`, `--auth`…).
    pub fn start_with(port: u16, options: &[&str]) -> SmtpServer {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/smtp_server.py"
        );
        let mut child = std::process::Command::new("python3")
            .args([script, &port.to_string(), &dir.path().display().to_string()])
            .args(options)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs tests/it/support/smtp_server.py (pip install aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("ready"),
            "the SMTP server did not start (is aiosmtpd installed?): {line:?}"
        );
        SmtpServer { port, dir, child }
    }

    /// The logins the server accepted, as `MECHANISM USER` lines.
    pub fn logins(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Stops the server now (as a crash would: connections cut mid-message) and returns the
    /// messages it had accepted.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.messages()
    }

    /// Waits (polling, up to `deadline`) until at least `count` messages have arrived.
    pub fn wait_for(&self, count: usize, deadline: std::time::Duration) -> Vec<String> {
        let until = std::time::Instant::now() + deadline;
        loop {
            let messages = self.messages();
            if messages.len() >= count || std::time::Instant::now() > until {
                return messages;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Runs the `openssl` command in `dir`; returns what it printed.
pub fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A certificate authority of the test's own and a certificate it signed for `localhost`,
/// made with the `openssl` command: `ca.pem`, `server.pem` and `server.key` in `dir`.
pub struct TestCa {
    pub dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| openssl(dir.path(), args);
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=surveyd test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        TestCa { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How often each message arrived, by its Message-ID (a message sent twice counts 2).
pub fn arrivals<'a>(
    messages: impl IntoIterator<Item = &'a String>,
) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for message in messages {
        let id = message
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("every message has a Message-ID")
            .to_owned();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

/// How many messages of [`arrivals`] arrived more than once, counting each repeat.
pub fn repeats(seen: &std::collections::HashMap<String, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

/// After a crash: each of `count` messages arrived (by [`arrivals`]), and no more arrived
/// twice than were in flight (claimed, not yet recorded) when the process died. Prints the
/// figures after `what`.
pub fn assert_crash_repeats(
    what: &str,
    seen: &std::collections::HashMap<String, usize>,
    count: usize,
    at_kill: &surveyd::store::OutboxStatus,
) {
    assert_eq!(seen.len(), count, "every invitation's message arrived");
    let duplicates = repeats(seen);
    eprintln!(
        "{what}: {} sent before the kill, {} in flight, {duplicates} duplicate(s)",
        at_kill.sent, at_kill.sending
    );
    assert!(
        duplicates as u64 <= at_kill.sending,
        "{duplicates} duplicates but only {} deliveries were in flight",
        at_kill.sending
    );
}

/// A TCP port nothing listens on right now.
/// Waits until `check` holds, looking every 20 ms for at most 10 s; panics with `what`
/// past that.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within 10 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The survey loop of one test: the app and the settings of a dispatcher that sends to the SMTP
/// server on a given port, both on a clock the test moves (it starts at `start`).
pub struct SurveyLoop {
    pub app: TestApp,
    pub settings: Settings,
    pub clock: Clock,
    pub hand: ManualClock,
}

impl SurveyLoop {
    /// Stores one email contact per address (customer `C-{i}`, closed three hours before the
    /// loop's time) and plans the campaign; returns how many were invited.
    pub async fn invite(&self, db: &TestDb, addresses: &[&str]) -> u64 {
        let closed = self.clock.now() - chrono::Duration::hours(3);
        let contacts: Vec<_> = addresses
            .iter()
            .enumerate()
            .map(|(i, email)| surveyd::domain::ContactRecord {
                customer_name: Some(format!("Budi Santoso {i}")),
                ..closed_contact(&format!("T-{i}"), &format!("C-{i}"), Some(email), closed)
            })
            .collect();
        db.store.upsert_contacts(&contacts, closed).await.unwrap();
        self.plan(db, false).await.invited
    }

    pub async fn start(db: &TestDb, smtp_port: u16) -> SurveyLoop {
        Self::start_with(db, smtp_port, |_| {}).await
    }

    /// The loop with settings changed by `configure` before the app starts.
    pub async fn start_with(
        db: &TestDb,
        smtp_port: u16,
        configure: impl FnOnce(&mut Settings),
    ) -> SurveyLoop {
        let (clock, hand) = Clock::manual(chrono::Utc::now());
        let mut settings = db.settings();
        settings.email.transport = EmailTransport::Smtp;
        settings.email.smtp.port = smtp_port;
        settings.email.smtp.tls = SmtpTls::None;
        settings.email.smtp.max_connections = 4;
        settings.email.smtp.timeout = std::time::Duration::from_secs(5);
        configure(&mut settings);
        let app = TestApp::spawn_with_clock(db, settings.clone(), clock.clone()).await;
        settings.survey.public_url = app.base.parse().unwrap();
        SurveyLoop {
            app,
            settings,
            clock,
            hand,
        }
    }

    pub fn campaign(&self) -> surveyd::campaign::Campaign {
        self.settings.campaigns[0].clone()
    }

    /// Plans the campaign at the loop's time with the tests' survey key.
    pub async fn plan(&self, db: &TestDb, dry_run: bool) -> surveyd::store::PlanCounts {
        db.store
            .plan_invitations(&self.campaign(), self.clock.now(), dry_run, &survey_key())
            .await
            .unwrap()
    }

    pub async fn dispatch(&self, db: &TestDb) -> DispatchCounts {
        let dispatcher = std::sync::Arc::new(
            surveyd::app::dispatcher(db.store.clone(), &self.settings, self.clock.clone()).unwrap(),
        );
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        dispatcher.run(Mode::UntilIdle, stopped).await.unwrap()
    }
}

/// For each number, its own customer `C-{i}` with a contact `T-{i}` closed at `closed_at`.
pub fn phone_contacts(
    numbers: &[&str],
    closed_at: chrono::DateTime<chrono::Utc>,
) -> Vec<surveyd::domain::ContactRecord> {
    numbers
        .iter()
        .enumerate()
        .map(|(i, number)| surveyd::domain::ContactRecord {
            phone: Some(surveyd::domain::Phone::parse(number).unwrap()),
            ..closed_contact(&format!("T-{i}"), &format!("C-{i}"), None, closed_at)
        })
        .collect()
}

/// A closed contact with what the survey loop needs (ids, a name, an email address); the
/// other fields are empty for the test to set.
pub fn closed_contact(
    id: &str,
    customer: &str,
    email: Option<&str>,
    closed_at: chrono::DateTime<chrono::Utc>,
) -> surveyd::domain::ContactRecord {
    use surveyd::domain::{ContactRecord, Email, ExternalId};
    ContactRecord {
        contact_id: ExternalId::parse(id).unwrap(),
        closed_at,
        opened_at: None,
        customer_id: ExternalId::parse(customer).unwrap(),
        customer_name: Some(format!("Customer {customer}")),
        email: email.map(|e| Email::parse(e).unwrap()),
        phone: None,
        whatsapp: None,
        locale: None,
        time_zone: None,
        segment: None,
        agent_id: None,
        agent_name: None,
        team: None,
        contact_channel: None,
        category: None,
        resolution: None,
        attributes: Default::default(),
    }
}

/// The rows of the report grouped `by` over invitations sent in `[since, until)`, counted now
/// with the default report settings.
pub async fn report_rows(
    db: &TestDb,
    by: &[surveyd::store::Breakdown],
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<surveyd::scoring::ReportRow> {
    let settings = db.settings();
    let query = settings.reports.query(
        &settings.defaults,
        by.to_vec(),
        None,
        (since, until),
        chrono::Utc::now(),
    );
    surveyd::scoring::Report::run(&db.store, &query, settings.reports.min_answers)
        .await
        .unwrap()
        .rows
}

/// A history written by the store's own paths: plans the settings' first campaign at `now`
/// over the contacts closed in the 30 days before (none too late to invite: each was sent as
/// it closed), claims every invitation, and records each sent at `sent_at` of it. Returns the
/// claimed deliveries.
pub async fn plan_and_send(
    db: &TestDb,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
    sent_at: impl Fn(&surveyd::store::Claimed) -> chrono::DateTime<chrono::Utc>,
) -> Vec<surveyd::store::Claimed> {
    use surveyd::store::{FollowUp, Outcome};
    let mut campaign = settings.campaigns[0].clone();
    campaign.audience.lookback = std::time::Duration::from_secs(30 * 86_400);
    campaign.expiry = campaign.audience.lookback;
    db.store
        .plan_invitations(&campaign, now, false, &survey_key())
        .await
        .unwrap();
    let claimed = db
        .store
        .claim_due(
            "email",
            "test",
            now,
            now + chrono::Duration::hours(1),
            100_000,
        )
        .await
        .unwrap();
    for c in &claimed {
        let sent = Outcome::Sent {
            delivery_id: c.delivery_id,
            invitation_id: c.invitation_id,
            message_id: format!("m{}", c.delivery_id),
            follow_up: FollowUp::Nothing,
        };
        db.store
            .record_outcomes("test", sent_at(c), &[sent])
            .await
            .unwrap();
    }
    claimed
}

/// `surveyd ARGS` run in `dir` with `config` as its settings file (and no `SURVEYD_*` or
/// `RUST_LOG` from the test's environment); its stdout, after checking that it succeeded.
pub fn surveyd_with_config(dir: &std::path::Path, config: &str, args: &[&str]) -> String {
    let file = dir.join("surveyd.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SURVEYD_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let out = command
        .current_dir(dir)
        .arg("--config")
        .arg(&file)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "surveyd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The migrations of `db`'s backend numbered before `number` (`"0014"`), as a migrator of
/// their own, and how many come from `number` on. The folder holding them lives as long as
/// the returned `TempDir`.
pub async fn migrations_before(
    db: &TestDb,
    number: &str,
) -> (sqlx::migrate::Migrator, usize, tempfile::TempDir) {
    let backend = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let before = tempfile::tempdir().unwrap();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut pending = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < number {
            std::fs::copy(&path, before.path().join(name)).unwrap();
        } else {
            pending += 1;
        }
    }
    let migrator = sqlx::migrate::Migrator::new(before.path()).await.unwrap();
    (migrator, pending, before)
}
