//! `surveyd retention …`: erasing personal data kept longer than `[retention]` allows, and
//! the audit log of every erasure (retention and forgotten customers).

use super::{OutputFormat, open_store, print_rows};
use crate::channels::email;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Erased;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Erase now what is past `retention.personal_data` (the daemon does it every
    /// `retention.every`), emails in the file outbox included, and print what was erased.
    Apply {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// The audit log, newest first: each erasure, by whom, and how much it touched.
    Audit {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(settings: Settings, command: RetentionCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let now = Clock::system().now();
    let result = match command {
        RetentionCommand::Apply { format } => match settings.retention.cutoff(now) {
            None => {
                eprintln!("retention.personal_data is 0s: personal data is kept");
                Ok(())
            }
            Some(cutoff) => {
                let erased = store.apply_retention(cutoff, "cli", now).await?;
                let files = email::prune_file_outbox(&settings.email, cutoff)?;
                print_erased(format, &erased, files)
            }
        },
        RetentionCommand::Audit { limit, format } => {
            let events = store.audit_events(limit).await?;
            print_rows(
                format,
                &["id", "at", "actor", "action", "subject", "detail"],
                &events,
                |e| {
                    vec![
                        e.id.to_string(),
                        e.at.to_rfc3339(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone().unwrap_or_default(),
                        e.detail.clone(),
                    ]
                },
            )
        }
    };
    store.close().await;
    result
}

/// What an erasure touched, one row; `files`: outbox files removed, when that applies.
pub fn print_erased(
    format: OutputFormat,
    erased: &Erased,
    files: Option<u64>,
) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        erased: &'a Erased,
        #[serde(skip_serializing_if = "Option::is_none")]
        outbox_files: Option<u64>,
    }
    let mut header = vec![
        "customers",
        "contacts",
        "comments",
        "alert notes",
        "delivery errors",
        "webhook payloads",
        "cancelled",
    ];
    if files.is_some() {
        header.push("outbox files");
    }
    let row = Row {
        erased,
        outbox_files: files,
    };
    print_rows(format, &header, std::slice::from_ref(&row), |r| {
        let e = r.erased;
        let mut cells: Vec<String> = [
            e.customers,
            e.contacts,
            e.comments,
            e.alert_notes,
            e.delivery_errors,
            e.inbox_events,
            e.cancelled,
        ]
        .iter()
        .map(u64::to_string)
        .collect();
        cells.extend(r.outbox_files.map(|n| n.to_string()));
        cells
    })
}
