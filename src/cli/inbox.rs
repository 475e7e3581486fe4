//! `surveyd inbox …`: the provider callbacks stored by the webhooks, and interpreting again
//! those that failed (after a fix in configuration, say) or never finished.

use super::{OutputFormat, open_store, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use crate::replies::conversation::Interpreter;
use clap::Subcommand;
use std::sync::Arc;

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

/// Events read per query while replaying.
const REPLAY_BATCH: i64 = 500;

pub async fn run(settings: Settings, command: InboxCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let result = match command {
        InboxCommand::Status { format } => {
            let status = store.inbox_status().await?;
            let mut rows = vec![
                ("total".to_owned(), status.total),
                ("failed".to_owned(), status.failed),
                ("unfinished".to_owned(), status.unprocessed),
            ];
            rows.extend(status.outcomes.iter().cloned());
            print_rows(format, &["events", "count"], &rows, |(name, count)| {
                vec![name.clone(), count.to_string()]
            })
        }
        InboxCommand::Replay { failed } => replay(&settings, store.clone(), failed).await,
    };
    store.close().await;
    result
}

async fn replay(
    settings: &Settings,
    store: crate::store::Store,
    failed_only: bool,
) -> anyhow::Result<()> {
    let questionnaires = settings.load_campaigns()?;
    let interpreter = Interpreter::new(
        store.clone(),
        Arc::new(
            questionnaires
                .into_iter()
                .map(|q| (q.name.clone(), q))
                .collect(),
        ),
        settings,
    );
    let clock = Clock::system();
    let (mut replayed, mut still_failing) = (0u64, 0u64);
    let mut after = 0;
    loop {
        let events = store
            .inbox_to_replay(!failed_only, after, REPLAY_BATCH)
            .await?;
        let Some(last) = events.last() else { break };
        after = last.id;
        for event in &events {
            let result = crate::webhooks::process(
                settings,
                &interpreter,
                event.id,
                (&event.provider, &event.kind, &event.payload),
                clock.now(),
            )
            .await?;
            replayed += 1;
            if let Err(reason) = result {
                still_failing += 1;
                eprintln!(
                    "event {} ({} {}): {reason}",
                    event.id, event.provider, event.event_id
                );
            }
        }
    }
    println!("{replayed} event(s) replayed, {still_failing} still failing");
    Ok(())
}
