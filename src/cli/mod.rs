//! The command line: one file per command group. Each command loads the settings, opens what
//! it needs, and prints for people (tables) or for programs (`--format json`).

mod alerts;
mod campaign;
mod cells;
mod config;
mod contacts;
mod customers;
mod dashboard;
mod demo;
mod dispatch;
mod export;
mod inbox;
mod migrate;
mod outbox;
mod preview;
mod report;
mod retention;
mod serve;
mod sources;
mod templates;
mod tokens;

use crate::config::{LogFormat, Settings};
pub use crate::domain::DateArg;
use crate::domain::TimeZone;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// surveyd asks customers how a closed service contact went — by WhatsApp, SMS or email, in
/// their language, at a decent hour — and turns the answers into scores.
#[derive(Debug, Parser)]
#[command(name = "surveyd", version, propagate_version = true)]
pub struct Cli {
    /// A TOML file layered over the embedded defaults (SURVEYD_* variables still win); without
    /// one, /etc/surveyd/surveyd.toml is read when it exists.
    #[arg(long, global = true, env = "SURVEYD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Show times in UTC instead of on the reports' clock (`reports.time_zone`, else
    /// `defaults.time_zone`, as the dashboard shows them). JSON is always RFC 3339 in UTC.
    #[arg(long, global = true)]
    utc: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: HTTP server (API, survey pages) and dispatch workers; stops cleanly on
    /// SIGINT/SIGTERM.
    Serve,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Try the survey loop on any day: store example contacts (Indonesian and English
    /// customers, several agents and teams) closed just the campaign's delay ago and plan
    /// the campaign, so their messages are due now; prints a survey link to answer.
    Demo(demo::DemoArgs),
    /// Import and list closed contacts.
    #[command(subcommand)]
    Contacts(contacts::ContactsCommand),
    /// One customer: look them up, or erase them everywhere (their right to be forgotten).
    #[command(subcommand)]
    Customers(customers::CustomersCommand),
    /// Personal data kept no longer than `[retention]` allows, and the audit log of erasures.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// The SQL sources (helpdesk databases read directly): their state, and polling them.
    #[command(subcommand)]
    Sources(sources::SourcesCommand),
    /// Manage bearer tokens for the HTTP API.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// List the survey campaigns and run one (create its invitations).
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Send every due delivery, then exit (the daemon does this continuously).
    Dispatch {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// The queue of messages: counts by state, failures, requeueing.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// The callbacks providers sent (replies, delivery statuses): counts, and replaying
    /// those that failed.
    #[command(subcommand)]
    Inbox(inbox::InboxCommand),
    /// Scores per agent, team, campaign, channel, category, contact channel or period (or two
    /// of them): response rate, CSAT, NPS, CES, FCR with 95% intervals, time to answer,
    /// agents ranked by CSAT shrunk toward their team, changes from the previous period.
    Report(report::ReportArgs),
    /// The dashboard's accounts: hashing a password for `dashboard.users`, ending an account's
    /// sessions.
    #[command(subcommand)]
    Dashboard(dashboard::DashboardCommand),
    /// Detractor alerts: list them, show one, acknowledge and resolve them.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Answered invitations with their answers, one row each, for analysis elsewhere.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Check the questionnaires and message templates.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Print the shell completion script for SHELL (e.g. `surveyd completions bash >
    /// /etc/bash_completion.d/surveyd`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `surveyd man | man -l -`.
    Man,
}

/// Output for people or for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Parses the command line, runs the command, and reports a failure on stderr.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    // These describe the command line itself: no settings needed (a broken file must not
    // keep an operator from reading the manual).
    match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "surveyd", &mut std::io::stdout());
            return Ok(());
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let file = crate::config::file_or_system(cli.config.as_deref());
    let settings = Settings::load(file.as_deref())?;
    init_logging(&settings);
    let times = Times::new(&settings, cli.utc);
    match cli.command {
        Command::Serve => serve::run(settings).await,
        Command::Migrate => migrate::run(settings).await,
        Command::Demo(args) => demo::run(settings, args).await,
        Command::Contacts(command) => contacts::run(settings, command).await,
        Command::Sources(command) => sources::run(settings, times, command).await,
        Command::Customers(command) => customers::run(settings, times, command).await,
        Command::Retention(command) => retention::run(settings, times, command).await,
        Command::Alerts(command) => alerts::run(settings, times, command).await,
        Command::Dashboard(command) => dashboard::run(settings, command).await,
        Command::Tokens(command) => tokens::run(settings, times, command).await,
        Command::Campaign(command) => campaign::run(settings, times, command).await,
        Command::Dispatch { format } => dispatch::run(settings, format).await,
        Command::Outbox(command) => outbox::run(settings, times, command).await,
        Command::Inbox(command) => inbox::run(settings, times, command).await,
        Command::Report(args) => report::run(settings, args).await,
        Command::Export(command) => export::run(settings, command).await,
        Command::Templates(command) => templates::run(settings, command),
        Command::Config(command) => config::run(settings, file.as_deref(), command),
        Command::Completions { .. } | Command::Man => unreachable!("handled before the settings"),
    }
}

/// How the command line shows instants to people: on the reports' clock (the zone the
/// dashboard shows them in), or in UTC with `--utc` — `2026-12-03 14:20 WIB`. JSON output
/// keeps RFC 3339 in UTC.
#[derive(Debug, Clone, Copy)]
pub struct Times(TimeZone);

impl Times {
    fn new(settings: &Settings, utc: bool) -> Times {
        Times(if utc {
            TimeZone::UTC
        } else {
            settings.reports.time_zone(&settings.defaults)
        })
    }

    /// The zone times are shown in.
    pub fn zone(self) -> TimeZone {
        self.0
    }

    /// `instant` on the chosen clock, with the zone's name.
    pub fn at(self, instant: DateTime<Utc>) -> String {
        self.0.show(instant)
    }

    /// `instant` on the chosen clock, or `none` when there is none ("never", "–").
    pub fn maybe(self, instant: Option<DateTime<Utc>>, none: &str) -> String {
        instant.map_or_else(|| none.to_owned(), |t| self.at(t))
    }
}

/// Logs to stderr: readable text (coloured only on a terminal), JSON lines when configured.
fn init_logging(settings: &Settings) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.log.format {
        LogFormat::Text => builder.fmt_fields(log_fields()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// How a text log line writes an event's fields: `name=value`, space-separated, each value
/// (and the message) [`cells::log_safe`], so no value can break the line. (JSON lines escape
/// by their nature.)
fn log_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let value = format!("{value:?}");
        let value = cells::log_safe(&value);
        if field.name() == "message" {
            write!(writer, "{value}")
        } else {
            write!(writer, "{field}={value}")
        }
    })
    .delimited(" ")
}

/// Opens the configured database with one connection (all a one-shot command needs; on SQLite
/// a single connection also keeps its page cache valid between transactions), upgrading it
/// first. It must exist: a command run in the wrong folder says so instead of reporting from a
/// new, empty database.
async fn open_store(settings: &Settings) -> anyhow::Result<crate::store::Store> {
    let url = &settings.database.url;
    match crate::store::Store::open_existing(url, 1).await {
        Err(e @ crate::store::StoreError::NoDatabase(_)) => Err(anyhow::anyhow!(
            "{e}; set database.url or SURVEYD_CONFIG to the daemon's settings (a new database \
             is made by `surveyd migrate`, `surveyd serve` or a first `surveyd contacts import`)"
        )),
        other => other.with_context(|| format!("cannot open the database {url}")),
    }
}

/// Opens the configured database with one connection, creating it when missing (for the
/// commands that put data in).
async fn create_store(settings: &Settings) -> anyhow::Result<crate::store::Store> {
    open_pool(settings, 1).await
}

/// Opens the configured database with up to `connections` connections, migrating it first.
async fn open_pool(settings: &Settings, connections: u32) -> anyhow::Result<crate::store::Store> {
    crate::store::Store::open(&settings.database.url, connections)
        .await
        .with_context(|| format!("cannot open the database {}", settings.database.url))
}

/// Prints rows as a table with a header, or as a JSON array; no rows print `empty` (a
/// sentence such as "no alerts") instead of a table with nothing in it, and `[]` in JSON.
fn print_rows<T: serde::Serialize>(
    format: OutputFormat,
    header: &[&str],
    rows: &[T],
    empty: &str,
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Table if rows.is_empty() => println!("{empty}"),
        OutputFormat::Table => print_table(header, rows.iter().map(cells)),
    }
    Ok(())
}

/// Prints a table under `header`, its cells made [`cells::terminal_safe`].
fn print_table<H: AsRef<str>>(header: &[H], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut table = comfy_table::Table::new();
    table.set_header(header.iter().map(|h| h.as_ref()));
    for row in rows {
        table.add_row(row.iter().map(|cell| cells::terminal_safe(cell)));
    }
    println!("{table}");
}

/// Prints one thing's fields, a name and its value a line (a value may hold several lines),
/// the names aligned.
fn print_fields(fields: &[(&str, String)]) {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    for (name, value) in fields {
        table.add_row([
            std::borrow::Cow::Borrowed(*name),
            cells::terminal_safe(value),
        ]);
    }
    println!("{table}");
}

/// Prints one record (counts, a summary) as a one-row table, or as a JSON array of it.
fn print_row<T: serde::Serialize>(
    format: OutputFormat,
    header: &[&str],
    row: &T,
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    print_rows(format, header, std::slice::from_ref(row), "", cells)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// A value with a line break, a carriage return, an escape sequence or a line separator
    /// stays on its event's line, in the message and in fields written with `%` or `?`.
    #[test]
    fn a_logged_value_cannot_start_a_line_of_its_own() {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&written);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .fmt_fields(super::log_fields())
            .finish();
        let forged = "x\n2026-12-03T00:00:00Z  INFO surveyd: forged\r\u{1b}[2K\u{2028}";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(name = %forged, other = ?forged, count = 3, "refused {forged}");
        });
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with('\n'), "{text}");
        assert!(
            !text
                .trim_end_matches('\n')
                .contains(['\n', '\r', '\u{1b}', '\u{2028}']),
            "{text}"
        );
        assert!(text.contains(r"refused x\n2026-12-03T00:00:00Z"), "{text}");
        assert!(text.contains(r"name=x\n2026"), "{text}");
        assert!(text.contains(" count=3"), "{text}");
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
