//! `surveyd outbox …`: the queue of messages to send, its failures, and requeueing them.

use super::{OutputFormat, Times, open_store, print_row, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Deliveries by state (queued, due now, sending, sent, failed, expired, cancelled).
    Status {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Deliveries that were given up, newest first, with the reason.
    Failed {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Queue a given-up delivery again (due now, attempts counted afresh).
    #[command(group = clap::ArgGroup::new("which").required(true))]
    Retry {
        /// The delivery id, as `outbox failed` shows it.
        #[arg(group = "which")]
        id: Option<i64>,
        /// Every failed delivery.
        #[arg(long, group = "which")]
        all_failed: bool,
    },
}

pub async fn run(settings: Settings, times: Times, command: OutboxCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let now = Clock::system().now();
    let result = match command {
        OutboxCommand::Status { format } => {
            let status = store.outbox_status(now).await?;
            print_row(
                format,
                &[
                    "queued",
                    "due now",
                    "sending",
                    "sent",
                    "failed",
                    "expired",
                    "cancelled",
                    "oldest due",
                ],
                &status,
                |s| {
                    vec![
                        s.queued.to_string(),
                        s.due.to_string(),
                        s.sending.to_string(),
                        s.sent.to_string(),
                        s.failed.to_string(),
                        s.expired.to_string(),
                        s.cancelled.to_string(),
                        times.maybe(s.oldest_due_at, "–"),
                    ]
                },
            )
        }
        OutboxCommand::Failed { limit, format } => {
            let rows = store.failed_deliveries(limit).await?;
            print_rows(
                format,
                &[
                    "delivery", "status", "campaign", "customer", "channel", "attempts", "reason",
                    "at",
                ],
                &rows,
                "no failed, expired or cancelled deliveries",
                |d| {
                    vec![
                        d.delivery_id.to_string(),
                        d.status.clone(),
                        d.campaign.clone(),
                        d.customer.clone(),
                        d.channel.clone(),
                        d.attempts.to_string(),
                        d.last_error.clone().unwrap_or_default(),
                        times.at(d.updated_at),
                    ]
                },
            )
        }
        OutboxCommand::Retry { id, all_failed: _ } => {
            let count = store.retry_deliveries(id, now).await?;
            println!(
                "{count} deliver{} queued again",
                if count == 1 { "y" } else { "ies" }
            );
            Ok(())
        }
    };
    store.close().await;
    result
}
