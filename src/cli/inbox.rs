//! `surveyd inbox …`: the provider callbacks stored by the webhooks, and interpreting again
//! those that failed (after a fix in configuration, say) or never finished.

use super::{OutputFormat, Times, open_store, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Stored events: how many, how many failed or are unfinished, and what the others did.
    Status {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Interpret again, oldest first, every event that failed or never finished (events that
    /// were interpreted are never run twice: an answer would be counted again).
    Replay {
        /// Only the events whose interpretation failed, not the unfinished ones.
        #[arg(long)]
        failed: bool,
    },
}

pub async fn run(settings: Settings, times: Times, command: InboxCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let result = match command {
        InboxCommand::Status { format } => {
            let status = store.inbox_status().await?;
            // An empty inbox's counts are all 0: a table says so in words, JSON keeps them.
            let rows = if format == OutputFormat::Table && status.total == 0 {
                Vec::new()
            } else {
                let mut rows = vec![
                    ("total".to_owned(), status.total),
                    ("failed".to_owned(), status.failed),
                    ("unfinished".to_owned(), status.unprocessed),
                ];
                rows.extend(status.outcomes.iter().cloned());
                rows
            };
            print_rows(
                format,
                &["events", "count"],
                &rows,
                "no events: no provider has called back yet",
                |(name, count): &(String, u64)| vec![name.clone(), count.to_string()],
            )
        }
        InboxCommand::Replay { failed } => replay(&settings, times, store.clone(), failed).await,
    };
    store.close().await;
    result
}

async fn replay(
    settings: &Settings,
    times: Times,
    store: crate::store::Store,
    failed_only: bool,
) -> anyhow::Result<()> {
    let interpreter = crate::app::Shared::load(settings)?.interpreter(settings);
    let replay = crate::webhooks::inbox::replay(
        &store,
        &settings.webhook_providers(),
        &interpreter,
        failed_only,
        &Clock::system(),
    )
    .await?;
    for (event, reason) in &replay.still_failing {
        eprintln!(
            "event {} ({} {}, received {}): {}",
            event.id,
            event.provider,
            super::cells::terminal_safe(&event.event_id),
            times.at(event.received_at),
            super::cells::terminal_safe(&reason.to_string())
        );
    }
    println!(
        "{} event(s) replayed, {} still failing",
        replay.replayed,
        replay.still_failing.len()
    );
    Ok(())
}
