//! Import benchmark: generates realistic closed contacts as CSV and imports them with the
//! release `surveyd contacts import` into a fresh SQLite file (and a fresh PostgreSQL database
//! when `TEST_POSTGRES_URL` is set), printing rows per second and the importer's peak memory,
//! beside the ceiling: the database's own bulk loader (`sqlite3`, `psql`) putting the same file
//! into a plain table.
//!
//!     cargo bench --bench import                      # 1,000,000 rows
//!     cargo bench --bench import -- --rows 100000     # fewer

mod common;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const GIVEN: [&str; 24] = [
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Putri", "Wahyu", "Ayu", "Fajar", "Indah",
    "Rizky", "James", "Emma", "Oliver", "Sophie", "Liam", "Grace", "Nur", "Bambang", "Sri",
    "Yusuf", "Made", "Ketut",
];
const FAMILY: [&str; 16] = [
    "Santoso",
    "Wijaya",
    "Saputra",
    "Lestari",
    "Hidayat",
    "Kusuma",
    "Pratama",
    "Nugroho",
    "Smith",
    "Brown",
    "Taylor",
    "Wilson",
    "Siregar",
    "Simanjuntak",
    "Wibowo",
    "Hartono",
];
const TEAMS: [&str; 6] = [
    "Billing",
    "Retail",
    "Priority",
    "Technical",
    "Onboarding",
    "Claims",
];
const CHANNELS: [&str; 6] = ["phone", "email", "chat", "whatsapp", "walk_in", "social"];
const CATEGORIES: [&str; 8] = [
    "billing",
    "refund",
    "delivery",
    "account",
    "technical",
    "complaint",
    "information",
    "upgrade",
];
const RESOLUTIONS: [&str; 4] = ["resolved", "resolved", "escalated", "unresolved"];
const ZONES: [&str; 4] = ["", "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"];

/// A small deterministic generator (SplitMix64), so every run imports the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn generate(path: &Path, rows: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "contact_id,closed_at,opened_at,customer_id,customer_name,email,phone,whatsapp,locale,time_zone,agent_id,agent_name,team,contact_channel,category,resolution"
    )?;
    let mut rng = Rng(42);
    let customers = rows * 7 / 10;
    for i in 0..rows {
        let customer = rng.next() % customers;
        let given = GIVEN[(customer % GIVEN.len() as u64) as usize];
        let family = FAMILY[((customer / 24) % FAMILY.len() as u64) as usize];
        let number = 812_0000_0000 + customer * 7 % 9_9999_9999;
        let phone = match customer % 3 {
            0 => format!("0{number}"),
            1 => format!("+62 {number}"),
            _ => format!("62{number}"),
        };
        let whatsapp = if customer.is_multiple_of(2) {
            format!("+62{number}")
        } else {
            String::new()
        };
        let locale = if given.len().is_multiple_of(3) {
            "en"
        } else {
            "id"
        };
        let agent = rng.next() % 120;
        // Tickets close in roughly the order they were opened (and numbered): spread over
        // 28 days, each up to 6 hours early or late.
        let base = i * (28 * 24 * 60) / rows;
        let closed = (base + rng.next() % 720)
            .saturating_sub(360)
            .min(28 * 24 * 60 - 1);
        let (day, hour, minute) = (1 + closed / 1440, closed % 1440 / 60, closed % 60);
        writeln!(
            out,
            "TCK-{i:08},2026-10-{day:02} {hour:02}:{minute:02},2026-10-{day:02} {:02}:{minute:02},CUS-{customer:07},{given} {family},{}.{}{customer}@example.co.id,{phone},{whatsapp},{locale},{},AGT-{agent:03},Agent {agent},{},{},{},{}",
            hour.saturating_sub(1),
            given.to_lowercase(),
            family.to_lowercase(),
            ZONES[(customer % 4) as usize],
            TEAMS[(agent % 6) as usize],
            rng.pick(&CHANNELS),
            rng.pick(&CATEGORIES),
            rng.pick(&RESOLUTIONS),
        )?;
    }
    out.flush()
}

/// What one import took.
struct Run {
    seconds: f64,
    cpu_seconds: f64,
    peak_kib: i64,
    output: String,
}

/// Runs the import in a child process and measures it.
// The child is reaped by `wait4`, which also reports its peak memory.
#[allow(clippy::zombie_processes)]
fn import(csv: &Path, database_url: &str, workdir: &Path) -> Run {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .current_dir(workdir)
        .env("SURVEYD_DATABASE_URL", database_url)
        .args(["contacts", "import"])
        .arg(csv)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start surveyd");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read stdout");
    let mut status = 0;
    // SAFETY: plain FFI; `usage` is a valid out-parameter and `pid` is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "import failed"
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Run {
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_kib: usage.ru_maxrss,
        output: text,
    }
}

/// The ceiling: the database's own bulk loader putting the same file into a plain table of
/// text columns (no checks, no indexes) — `sqlite3 .import` or `psql \copy`. Rows per second.
fn bulk_load(csv: &Path, database_url: &str, rows: u64) -> f64 {
    let mut header = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::open(csv).expect("open the CSV")),
        &mut header,
    )
    .expect("read the header");
    let columns: Vec<String> = header
        .trim_end()
        .split(',')
        .map(|c| format!("{c} TEXT"))
        .collect();
    let create = format!("CREATE TABLE bulk_contacts ({})", columns.join(", "));
    let (program, args) = match database_url.strip_prefix("sqlite://") {
        // A file of its own beside surveyd's.
        Some(file) => (
            "sqlite3",
            vec![
                format!("{file}.bulk"),
                create,
                format!(".import --csv --skip 1 {} bulk_contacts", csv.display()),
            ],
        ),
        None => (
            "psql",
            vec![
                database_url.to_owned(),
                "-v".into(),
                "ON_ERROR_STOP=1".into(),
                "-c".into(),
                create,
                "-c".into(),
                format!(
                    "\\copy bulk_contacts FROM '{}' WITH (FORMAT csv, HEADER)",
                    csv.display()
                ),
            ],
        ),
    };
    let start = Instant::now();
    let status = Command::new(program)
        .args(&args)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(status.success(), "{program} failed to load the CSV");
    rows as f64 / start.elapsed().as_secs_f64()
}

fn report(label: &str, rows: u64, run: Run, ceiling: f64) {
    common::figure(
        &format!("import, {rows} contacts"),
        label,
        rows as f64 / run.seconds,
        "rows/s",
        Some((ceiling, "the database's bulk loader")),
    );
    println!(
        "{label:<10} {rows} rows in {:.1} s = {:.0} rows/s, CPU {:.1} s, peak RSS {:.0} MiB  ({})",
        run.seconds,
        rows as f64 / run.seconds,
        run.cpu_seconds,
        run.peak_kib as f64 / 1024.0,
        run.output.trim()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--rows takes a number"))
        .unwrap_or(1_000_000);

    let dir = tempfile::tempdir().expect("temporary folder");
    let csv = dir.path().join("contacts.csv");
    let start = Instant::now();
    generate(&csv, rows).expect("write the CSV");
    let size = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {rows} contacts ({:.0} MiB of CSV) in {:.1} s",
        size as f64 / (1 << 20) as f64,
        start.elapsed().as_secs_f64()
    );

    let sqlite_url = format!("sqlite://{}/bench.db", dir.path().display());
    let ceiling = bulk_load(&csv, &sqlite_url, rows);
    report(
        "SQLite",
        rows,
        import(&csv, &sqlite_url, dir.path()),
        ceiling,
    );

    match std::env::var("TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let name = format!("surveyd_bench_{}", std::process::id());
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let admin = rt
                .block_on(sqlx::PgPool::connect(&admin_url))
                .expect("connect to TEST_POSTGRES_URL");
            rt.block_on(sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin))
                .expect("create the bench database");
            let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            let ceiling = bulk_load(&csv, url.as_str(), rows);
            let run = import(&csv, url.as_str(), dir.path());
            report("PostgreSQL", rows, run, ceiling);
            rt.block_on(sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin))
                .expect("drop the bench database");
        }
        Err(_) => println!("postgres   skipped: set TEST_POSTGRES_URL to measure it too"),
    }
}
