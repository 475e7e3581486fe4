//! `surveyd serve` daemons on PostgreSQL against a real SMTP server, when things break: two
//! and then three daemons dispatch 20,000 deliveries while one of them is killed with
//! SIGKILL (every message arrives; a message goes twice only if it was in flight at the
//! kill; the killed daemon planned the last tick and another plans the next), and a daemon whose PostgreSQL server restarts mid-dispatch reconnects and
//! finishes (a private cluster made with `initdb`, so the shared server is untouched).

use crate::support;
use crate::support::SmtpServer;
use crate::support::daemon::Daemon;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use surveyd::config::DatabaseUrl;
use surveyd::store::Store;

const DELIVERIES: usize = 20_000;

/// `count` customers with a contact closed a day ago, each invited by the default campaign
/// (due now).
async fn seed(store: &Store, count: usize) {
    let now = Utc::now();
    let contacts: Vec<_> = (0..count)
        .map(|i| {
            support::closed_contact(
                &format!("T-{i}"),
                &format!("C-{i}"),
                Some(&format!("customer{i}@example.com")),
                now - chrono::Duration::days(1),
            )
        })
        .collect();
    for chunk in contacts.chunks(10_000) {
        store.upsert_contacts(chunk, now).await.unwrap();
    }
    let settings = surveyd::config::Settings::load(None).unwrap();
    let planned = store
        .plan_invitations(&settings.campaigns[0], now, false, &support::survey_key())
        .await
        .unwrap();
    assert_eq!(planned.invited as usize, count);
}

/// A daemon's configuration: `url`, the SMTP server on `port`, claims held for `lease` (a
/// dead daemon's are taken over after it) and a quick poll.
fn config(dir: &Path, url: &str, port: u16, lease: &str) -> PathBuf {
    let path = dir.join("surveyd.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\nmax_connections = 6\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\
             [survey]\npublic_url = \"https://survey.example.com\"\nkey = \"{key}\"\n\
             [dispatch]\nlease = \"{lease}\"\npoll_interval = \"100ms\"\nbatch_size = 100\n\
             [email]\ntransport = \"smtp\"\n\
             [email.smtp]\nport = {port}\nmax_connections = 8\ntimeout = \"5s\"\n\
             [log]\nlevel = \"warn\"\n",
            key = support::SURVEY_KEY,
        ),
    )
    .unwrap();
    path
}

/// Polls until every delivery is recorded sent, for at most `deadline`; the last status.
async fn wait_until_sent(
    store: &Store,
    count: usize,
    deadline: Duration,
) -> surveyd::store::OutboxStatus {
    let until = Instant::now() + deadline;
    loop {
        let status = store.outbox_status(Utc::now()).await.unwrap();
        if status.sent as usize >= count || Instant::now() > until {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The owners of the scheduled campaign's runs that finished, latest first, with when each
/// started.
async fn planners(pool: &sqlx::PgPool) -> Vec<(String, chrono::DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT owner, started_at FROM campaign_runs WHERE finished_at IS NOT NULL \
         ORDER BY started_at DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The process id in a lease owner's name (`host:pid:random`).
fn owner_pid(owner: &str) -> u32 {
    owner
        .split(':')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// `daemons` daemons share the outbox and plan the campaign every two seconds; the one that
/// planned last is killed once a quarter of the messages has arrived, and another daemon
/// plans the ticks after.
async fn daemons_killed_midway(daemons: usize) {
    let Some(db) = support::TestDb::postgres().await else {
        return;
    };
    let crate::support::Raw::Postgres(pool) = &db.raw else {
        unreachable!()
    };
    seed(&db.store, DELIVERIES).await;
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Ten seconds' lease: the killed daemon's claims are taken over soon, and a live
    // daemon's claim does not run out under it on a loaded machine (a send begun just
    // before its lease ran out and outlasting it is the documented window for a repeat).
    let config = config(dir.path(), &db.url, smtp.port, "10s");
    // The seeded campaign, planned every two seconds (nothing new to invite: each run only
    // moves the planner lease).
    let scheduled = "[scheduler]\nlease = \"3s\"\n\
        [[campaigns]]\nname = \"post-contact-email\"\nquestionnaire = \"post-contact\"\n\
        channel = \"email\"\ndelay = \"2h\"\nexpiry = \"7d\"\nschedule = { cron = \"*/2 * * * * *\" }\n\
        [campaigns.audience]\nlookback = \"14d\"\n";
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text + scheduled).unwrap();
    let mut running: Vec<Daemon> = (0..daemons)
        .map(|_| Daemon::start(&config, "serve"))
        .collect();

    let quarter = smtp.wait_for(DELIVERIES / 4, Duration::from_secs(120));
    running.iter_mut().for_each(Daemon::assert_running);
    assert!(
        quarter.len() >= DELIVERIES / 4,
        "only {} arrived",
        quarter.len()
    );
    let last_planner = planners(pool)
        .await
        .first()
        .cloned()
        .expect("a run was planned");
    let planner_pid = owner_pid(&last_planner.0);
    let victim = running
        .iter()
        .position(|d| d.pid() == planner_pid)
        .expect("the last planner is one of the daemons");
    running.remove(victim).kill();
    let killed_at = Utc::now();
    let at_kill = db.store.outbox_status(Utc::now()).await.unwrap();
    assert!(
        at_kill.sent < DELIVERIES as u64,
        "killed before the end: {at_kill:?}"
    );

    let status = wait_until_sent(&db.store, DELIVERIES, Duration::from_secs(300)).await;
    assert_eq!(
        (status.sent, status.failed, status.queued, status.sending),
        (DELIVERIES as u64, 0, 0, 0),
        "{status:?}"
    );
    // The planner lease moved: a tick after the kill was planned by another daemon.
    let until = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let runs = planners(pool).await;
        if let Some(run) = runs.iter().find(|(_, started)| *started > killed_at) {
            break run.clone();
        }
        assert!(
            Instant::now() < until,
            "no tick planned after the kill: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(owner_pid(&after.0), planner_pid, "{after:?}");
    for daemon in running {
        daemon.stop();
    }
    let seen = support::arrivals(&smtp.wait_for(DELIVERIES, Duration::from_secs(10)));
    support::assert_crash_repeats(
        &format!("{daemons} daemons, one killed"),
        &seen,
        DELIVERIES,
        &at_kill,
    );
}

#[tokio::test]
async fn postgres_two_daemons_one_killed_send_each_message_once() {
    daemons_killed_midway(2).await;
}

#[tokio::test]
async fn postgres_three_daemons_one_killed_send_each_message_once() {
    daemons_killed_midway(3).await;
}

/// A PostgreSQL cluster of the test's own (`initdb`, `pg_ctl`) in a temporary folder, on a
/// free port, trusting local connections; stopped when dropped. As root, its commands run as
/// the `postgres` user (PostgreSQL refuses to run as root).
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// `None` (with a note) where no PostgreSQL server binaries are installed.
    fn start() -> Option<PrivatePostgres> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| Some(v.ok()?.path().join("bin")))
                    .filter(|bin| bin.join("initdb").exists())
                    .max()
            })
        else {
            eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = support::free_port();
        let cluster = PrivatePostgres {
            bin,
            data,
            port,
            _dir: dir,
        };
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            let root = cluster._dir.path();
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::create_dir(&cluster.data).unwrap();
            let owner = Command::new("chown")
                .arg("postgres:")
                .arg(&cluster.data)
                .status();
            assert!(owner.unwrap().success());
        }
        let data = cluster.data.display().to_string();
        cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster.pg_ctl("start");
        Some(cluster)
    }

    /// One of the server's programs (as `postgres` when this is root).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        }
    }

    /// Runs one of the server's programs; it must succeed.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl start|restart|stop`, waiting until it is done; fast shutdown (connections cut).
    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.display()
        );
        let data = self.data.display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-w",
                "-m",
                "fast",
                "-o",
                &options,
                "-l",
                &format!("{data}/log"),
                action,
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

#[tokio::test]
async fn postgres_restarted_mid_dispatch_the_daemon_reconnects_and_finishes() {
    if std::env::var("TEST_POSTGRES_URL").is_err() {
        eprintln!("skipped: TEST_POSTGRES_URL is not set (the PostgreSQL tests are off)");
        return;
    }
    let Some(cluster) = PrivatePostgres::start() else {
        return;
    };
    const COUNT: usize = 5_000;
    let url = cluster.url();
    let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), 4)
        .await
        .unwrap();
    seed(&store, COUNT).await;
    store.close().await;
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Claims outlast the restart: nothing is taken over while outcomes wait to be written.
    let daemon = Daemon::start(&config(dir.path(), &url, smtp.port, "1m"), "serve");

    let some = smtp.wait_for(COUNT / 5, Duration::from_secs(120));
    assert!(some.len() >= COUNT / 5, "only {} arrived", some.len());
    cluster.pg_ctl("restart");
    let restarted_at = smtp.messages().len();
    assert!(restarted_at < COUNT, "the restart came after the end");

    let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), 2)
        .await
        .unwrap();
    let status = wait_until_sent(&store, COUNT, Duration::from_secs(300)).await;
    assert_eq!(
        (status.sent, status.failed, status.queued, status.sending),
        (COUNT as u64, 0, 0, 0),
        "{status:?}"
    );
    store.close().await;
    daemon.stop();
    let seen = support::arrivals(&smtp.wait_for(COUNT, Duration::from_secs(10)));
    assert_eq!(seen.len(), COUNT, "every invitation's message arrived");
    let duplicates = support::repeats(&seen);
    eprintln!("PostgreSQL restarted after {restarted_at} arrivals: {duplicates} duplicate(s)");
    // Sends finish while the database is away; their outcomes are written once it is back.
    assert_eq!(duplicates, 0);
}
