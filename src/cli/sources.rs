//! `surveyd sources …`: the configured SQL sources (helpdesk databases read directly): where
//! each stands, and polling them by hand.

use super::{OutputFormat, Times, create_store, open_store, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use crate::intake::ParseContext;
use crate::intake::source::{PollReport, SqlSource};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Each source: its schedule, its cursor (the last row read), its last poll and counts.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Read the new rows of one source (or of all) now, as the daemon does on schedule.
    Poll {
        /// The source's name; all of them when left out.
        name: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(settings: Settings, times: Times, command: SourcesCommand) -> anyhow::Result<()> {
    // Polling stores what it reads; listing only reads.
    let store = match command {
        SourcesCommand::Poll { .. } => create_store(&settings).await?,
        SourcesCommand::List { .. } => open_store(&settings).await?,
    };
    let result = match command {
        SourcesCommand::List { format } => {
            let states = store.source_states().await?;
            let rows: Vec<SourceRow> = settings
                .sources
                .iter()
                .map(|s| {
                    let state = states.iter().find(|st| st.source == s.name);
                    SourceRow {
                        source: s.name.clone(),
                        url: s.url.to_string(),
                        schedule: s.schedule.to_string(),
                        cursor: state
                            .and_then(|st| st.cursor.as_deref())
                            .and_then(|c| serde_json::from_str(c).ok()),
                        polled_at: state.and_then(|st| st.polled_at),
                        read: state.map_or(0, |st| st.read),
                        imported: state.map_or(0, |st| st.imported),
                        rejected: state.map_or(0, |st| st.rejected),
                        last_error: state.and_then(|st| st.last_error.clone()),
                    }
                })
                .collect();
            print_rows(
                format,
                &[
                    "source",
                    "url",
                    "schedule",
                    "cursor",
                    "polled",
                    "read",
                    "imported",
                    "rejected",
                    "last error",
                ],
                &rows,
                "no sources: add [[sources]] to the configuration",
                |r| {
                    vec![
                        r.source.clone(),
                        r.url.clone(),
                        r.schedule.clone(),
                        r.cursor.as_ref().map_or("–".into(), |c| match c {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }),
                        times.maybe(r.polled_at, "never"),
                        r.read.to_string(),
                        r.imported.to_string(),
                        r.rejected.to_string(),
                        r.last_error.clone().unwrap_or_default(),
                    ]
                },
            )
        }
        SourcesCommand::Poll { name, format } => {
            poll(&settings, &store, name.as_deref(), format).await
        }
    };
    store.close().await;
    result
}

/// A configured source and where it stands, as listed.
#[derive(serde::Serialize)]
struct SourceRow {
    source: String,
    url: String,
    schedule: String,
    /// The last row read, as the source's cursor columns hold it.
    cursor: Option<serde_json::Value>,
    polled_at: Option<chrono::DateTime<chrono::Utc>>,
    read: i64,
    imported: i64,
    rejected: i64,
    last_error: Option<String>,
}

async fn poll(
    settings: &Settings,
    store: &crate::store::Store,
    name: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let chosen: Vec<_> = settings
        .sources
        .iter()
        .filter(|s| name.is_none_or(|n| s.name == n))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = settings.sources.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "no source {} is configured (known: {})",
            name.map_or_else(String::new, |n| format!("`{n}`")),
            if known.is_empty() {
                "none; add [[sources]] to the configuration".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let clock = Clock::system();
    let owner = crate::process::name();
    let mut reports: Vec<PollReport> = Vec::new();
    for s in chosen {
        let source = SqlSource::new(
            s,
            ParseContext::of(&settings.defaults),
            settings.scheduler.lease,
        )?;
        reports.push(source.poll(store, &clock, &owner).await?);
    }
    if format == OutputFormat::Table {
        for r in &reports {
            for warning in &r.warnings {
                println!(
                    "warning: source `{}`: {}",
                    r.source,
                    super::cells::terminal_safe(&warning.to_string())
                );
            }
            for reject in &r.rejects {
                println!(
                    "rejected: source `{}`: {}",
                    r.source,
                    super::cells::terminal_safe(&reject.to_string())
                );
            }
        }
    }
    print_rows(
        format,
        &[
            "source",
            "read",
            "inserted",
            "updated",
            "unchanged",
            "rejected",
            "note",
        ],
        &reports,
        "no sources polled",
        |r| {
            vec![
                r.source.clone(),
                r.read.to_string(),
                r.inserted.to_string(),
                r.updated.to_string(),
                r.unchanged.to_string(),
                r.rejected.to_string(),
                if r.held_elsewhere {
                    "another daemon is polling it now".into()
                } else {
                    String::new()
                },
            ]
        },
    )
}
