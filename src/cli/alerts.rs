//! `surveyd alerts …`: detractor alerts — listing them, and moving one from open to
//! acknowledged to resolved.

use super::{OutputFormat, open_store, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{Alert, AlertAction};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Alerts, newest first, with the customer, contact, agent and answers.
    List {
        /// Only alerts in this state.
        #[arg(long, value_parser = ["open", "acknowledged", "resolved"])]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Say someone is on an open alert.
    Acknowledge(MoveArgs),
    /// Close an open or acknowledged alert.
    Resolve(MoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct MoveArgs {
    /// The alert's id (`surveyd alerts list`).
    id: i64,
    /// What was done or found.
    #[arg(long)]
    note: Option<String>,
    /// Who did it (default: the login name).
    #[arg(long)]
    by: Option<String>,
}

pub async fn run(settings: Settings, command: AlertsCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let result = async {
        let (action, args) = match command {
            AlertsCommand::List {
                state,
                limit,
                format,
            } => {
                let alerts = store.alerts(state.as_deref(), limit.max(1)).await?;
                return print_alerts(format, &alerts);
            }
            AlertsCommand::Acknowledge(args) => (AlertAction::Acknowledge, args),
            AlertsCommand::Resolve(args) => (AlertAction::Resolve, args),
        };
        let by = args
            .by
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "cli".into());
        let alert = store
            .move_alert(
                args.id,
                action,
                &by,
                args.note.as_deref(),
                Clock::system().now(),
            )
            .await?;
        println!("alert {} is {} ({by})", alert.id, alert.state);
        Ok(())
    }
    .await;
    store.close().await;
    result
}

fn print_alerts(format: OutputFormat, alerts: &[Alert]) -> anyhow::Result<()> {
    print_rows(
        format,
        &[
            "id", "state", "raised", "reasons", "customer", "contact", "agent", "team", "answers",
        ],
        alerts,
        |a| {
            let answers: Vec<String> = a
                .answers
                .iter()
                .map(|x| match (&x.number, &x.text) {
                    (Some(n), _) => format!("{}={n}", x.question),
                    (None, Some(t)) => format!("{}=\"{t}\"", x.question),
                    (None, None) => x.question.clone(),
                })
                .collect();
            vec![
                a.id.to_string(),
                a.state.clone(),
                a.created_at.format("%Y-%m-%d %H:%M").to_string(),
                a.reasons.clone(),
                format!(
                    "{} {}",
                    a.customer_id,
                    a.customer_name.as_deref().unwrap_or("")
                ),
                a.contact_id.clone(),
                a.agent_name
                    .clone()
                    .or(a.agent_id.clone())
                    .unwrap_or_default(),
                a.team.clone().unwrap_or_default(),
                answers.join(" "),
            ]
        },
    )
}
