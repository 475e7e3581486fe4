//! `surveyd alerts …`: detractor alerts — listing them, showing one whole, and moving one from
//! open to acknowledged to resolved, each step with its own note.

use super::{OutputFormat, Times, open_store, print_fields, print_rows};
use crate::alerts::{answer_value, steps};
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{Alert, AlertAction};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Alerts, newest first, with the customer, contact, agent, answers and who handled them.
    List {
        /// Only alerts in this state.
        #[arg(long, value_parser = ["open", "acknowledged", "resolved"])]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// One alert: the customer and how to reach them, the contact, every answer, and each
    /// step taken with its note.
    Show {
        /// The alert's id (`surveyd alerts list`).
        id: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Say someone is on an open alert.
    Acknowledge(MoveArgs),
    /// Close an open or acknowledged alert (an acknowledgement's note stays beside this one).
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

pub async fn run(settings: Settings, times: Times, command: AlertsCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let result = async {
        let (action, args) = match command {
            AlertsCommand::List {
                state,
                limit,
                format,
            } => {
                let alerts = store.alerts(state.as_deref(), limit.max(1)).await?;
                let empty = match &state {
                    Some(state) => format!("no {state} alerts"),
                    None => "no alerts".into(),
                };
                return print_alerts(format, times, &alerts, &empty);
            }
            AlertsCommand::Show { id, format } => {
                let alert = store.alert(id).await?;
                return match format {
                    OutputFormat::Json => {
                        println!("{}", serde_json::to_string_pretty(&alert)?);
                        Ok(())
                    }
                    OutputFormat::Table => {
                        print_fields(&fields(&alert, times));
                        Ok(())
                    }
                };
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

/// The answers on one line: `csat=1 comment="Lama sekali"`.
fn answers(alert: &Alert) -> String {
    alert
        .answers
        .iter()
        .map(|a| match a.number {
            Some(_) => format!("{}={}", a.question, answer_value(a)),
            None => format!("{}=\"{}\"", a.question, answer_value(a)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn agent(alert: &Alert) -> String {
    match (&alert.agent_name, &alert.agent_id) {
        (Some(name), Some(id)) => format!("{name} ({id})"),
        (None, Some(id)) => id.clone(),
        _ => "–".into(),
    }
}

fn print_alerts(
    format: OutputFormat,
    times: Times,
    alerts: &[Alert],
    empty: &str,
) -> anyhow::Result<()> {
    print_rows(
        format,
        &[
            "id", "state", "raised", "reasons", "customer", "contact", "agent", "team", "answers",
            "handled",
        ],
        alerts,
        empty,
        |a| {
            vec![
                a.id.to_string(),
                a.state.clone(),
                times.at(a.created_at),
                a.reasons.replace(',', ", "),
                format!(
                    "{} {}",
                    a.customer_id,
                    a.customer_name.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
                a.contact_id.clone(),
                agent(a),
                a.team.clone().unwrap_or_default(),
                answers(a),
                steps(a, times.zone()).join("\n"),
            ]
        },
    )
}

/// Everything about one alert, as field and value.
fn fields(a: &Alert, times: Times) -> Vec<(&'static str, String)> {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    let mut fields = vec![
        ("alert", format!("{} ({})", a.id, a.state)),
        ("raised", times.at(a.created_at)),
        ("reasons", a.reasons.replace(',', ", ")),
        (
            "customer",
            match &a.customer_name {
                Some(name) => format!("{name} ({})", a.customer_id),
                None => a.customer_id.clone(),
            },
        ),
        ("email", or_dash(&a.customer_email)),
        ("phone", or_dash(&a.customer_phone)),
        (
            "contact",
            format!(
                "{} ({}), closed {}",
                a.contact_id,
                a.category.as_deref().unwrap_or("no category"),
                times.at(a.closed_at)
            ),
        ),
        ("agent", agent(a)),
        ("team", or_dash(&a.team)),
        (
            "survey",
            format!(
                "{} by {}, answered {}",
                a.campaign,
                a.channel,
                times.maybe(a.answered_at, "–")
            ),
        ),
    ];
    fields.extend(
        a.answers
            .iter()
            .map(|x| ("answer", format!("{}: {}", x.question, answer_value(x)))),
    );
    let handled = steps(a, times.zone());
    fields.push((
        "handled",
        if handled.is_empty() {
            "–".into()
        } else {
            handled.join("\n")
        },
    ));
    fields
}
