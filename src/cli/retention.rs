//! `surveyd retention …`: erasing personal data kept longer than `[retention]` allows, and
//! the audit log of every erasure (retention and forgotten customers).

use super::{OutputFormat, Times, open_store, print_row, print_rows};
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

pub async fn run(
    settings: Settings,
    times: Times,
    command: RetentionCommand,
) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let now = Clock::system().now();
    let result = match command {
        RetentionCommand::Apply { format } => match settings.retention.cutoff(now) {
            None => {
                eprintln!("retention.personal_data is 0s: personal data is kept");
                Ok(())
            }
            Some(cutoff) => {
                // The files first, so the audit event counts them.
                let files = email::prune_file_outbox(&settings.email, cutoff)?;
                let erased = store.apply_retention(cutoff, "cli", now, files).await?;
                print_erased(format, &erased)
            }
        },
        RetentionCommand::Audit { limit, format } => {
            let events = store.audit_events(limit).await?;
            print_rows(
                format,
                &["id", "at", "actor", "action", "subject", "erased"],
                &events,
                "no audit events: nothing has been erased yet",
                |e| {
                    vec![
                        e.id.to_string(),
                        times.at(e.at),
                        e.actor.clone(),
                        e.action.clone(),
                        e.subject.clone().unwrap_or_default(),
                        // The counts as words; the stored JSON if it is not counts.
                        serde_json::from_str::<Erased>(&e.detail)
                            .map_or_else(|_| e.detail.clone(), |erased| erased.to_string()),
                    ]
                },
            )
        }
    };
    store.close().await;
    result
}

/// What an erasure touched, one row (the outbox files' column only when the file outbox is
/// used).
pub fn print_erased(format: OutputFormat, erased: &Erased) -> anyhow::Result<()> {
    let mut header = vec![
        "customers",
        "contacts",
        "comments",
        "alert notes",
        "delivery errors",
        "webhook payloads",
        "cancelled",
    ];
    if erased.outbox_files.is_some() {
        header.push("outbox files");
    }
    print_row(format, &header, erased, |e| {
        [
            e.customers,
            e.contacts,
            e.comments,
            e.alert_notes,
            e.delivery_errors,
            e.inbox_events,
            e.cancelled,
        ]
        .into_iter()
        .chain(e.outbox_files)
        .map(|n| n.to_string())
        .collect()
    })
}
