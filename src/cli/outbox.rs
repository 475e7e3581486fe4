//! `surveyd outbox …`: the queue of messages to send, its failures, and requeueing them.

use super::{OutputFormat, Times, open_store, print_row, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Deliveries by state (queued, due now, waiting to retry, sending, sent, failed, expired,
    /// cancelled), and the latest error of each channel.
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

/// How much of an error a table line shows.
const ERROR_CHARS: usize = 100;

/// `text` on one line, cut to `max` characters (`…` where it was cut).
fn shortened(text: &str, max: usize) -> String {
    let line = crate::domain::single_line(text);
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.into_owned(),
    }
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
                    "waiting to retry",
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
                        s.retrying.to_string(),
                        s.sending.to_string(),
                        s.sent.to_string(),
                        s.failed.to_string(),
                        s.expired.to_string(),
                        s.cancelled.to_string(),
                        times.maybe(s.oldest_due_at, "–"),
                    ]
                },
            )?;
            // In JSON the errors are in the object above, whole.
            if format == OutputFormat::Table && !status.latest_errors.is_empty() {
                println!("latest error per channel:");
                print_rows(
                    format,
                    &["channel", "delivery", "status", "at", "error"],
                    &status.latest_errors,
                    "",
                    |e| {
                        vec![
                            e.channel.clone(),
                            e.delivery_id.to_string(),
                            e.status.clone(),
                            times.at(e.at),
                            shortened(&e.error, ERROR_CHARS),
                        ]
                    },
                )?;
            }
            Ok(())
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

#[cfg(test)]
mod tests {
    #[test]
    fn long_errors_are_cut_on_one_line() {
        assert_eq!(
            super::shortened("SMTP: 451\r\n4.3.0 try later", 100),
            "SMTP: 451 4.3.0 try later"
        );
        assert_eq!(super::shortened("ééééé", 3), "ééé…");
        assert_eq!(super::shortened("abc", 3), "abc");
    }
}
