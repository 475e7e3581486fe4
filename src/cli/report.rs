//! `surveyd report`: invitations sent, responses, response rate, CSAT and FCR with their 95%
//! intervals, per group, as a table, JSON or CSV.

use super::{DateArg, open_store};
use crate::config::Settings;
use crate::scoring::{Proportion, ReportRow};
use crate::store::GroupBy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// One row per agent, team, campaign or channel (one row in all when left out).
    #[arg(long, value_enum)]
    by: Option<GroupBy>,
    /// Invitations sent from this date (YYYY-MM-DD in the default time zone, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    since: Option<DateArg>,
    /// …and before this one.
    #[arg(long, value_name = "DATE")]
    until: Option<DateArg>,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub async fn run(settings: Settings, args: ReportArgs) -> anyhow::Result<()> {
    let tz = settings.defaults.time_zone;
    let since = args.since.map(|d| d.instant(tz)).transpose()?;
    let until = args.until.map(|d| d.instant(tz)).transpose()?;
    let store = open_store(&settings).await?;
    let counts = store.report_counts(args.by, since, until).await;
    store.close().await;
    let rows: Vec<ReportRow> = counts?.into_iter().map(ReportRow::from).collect();
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ReportFormat::Csv => print_csv(&rows)?,
        ReportFormat::Table => print_table(&rows),
    }
    Ok(())
}

fn print_table(rows: &[ReportRow]) {
    let mut table = comfy_table::Table::new();
    table.set_header([
        "group",
        "name",
        "sent",
        "responses",
        "response rate",
        "CSAT (95% CI)",
        "n",
        "FCR (95% CI)",
        "n",
    ]);
    for row in rows {
        let n = |p: &Option<Proportion>| p.map(|p| p.n.to_string()).unwrap_or_else(|| "0".into());
        table.add_row(vec![
            row.group.clone(),
            row.name.clone().unwrap_or_default(),
            row.sent.to_string(),
            row.responses.to_string(),
            row.response_rate
                .map(|p| percent(p.value))
                .unwrap_or_else(|| "–".into()),
            with_interval(&row.csat),
            n(&row.csat),
            with_interval(&row.fcr),
            n(&row.fcr),
        ]);
    }
    println!("{table}");
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// "84.0% (76.5–89.4)", or "–" with no answers.
fn with_interval(p: &Option<Proportion>) -> String {
    match p {
        Some(p) => format!(
            "{} ({:.1}–{:.1})",
            percent(p.value),
            p.low * 100.0,
            p.high * 100.0
        ),
        None => "–".into(),
    }
}

fn print_csv(rows: &[ReportRow]) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record([
        "group",
        "name",
        "sent",
        "responses",
        "response_rate",
        "csat",
        "csat_low",
        "csat_high",
        "csat_n",
        "fcr",
        "fcr_low",
        "fcr_high",
        "fcr_n",
    ])?;
    for row in rows {
        let mut record = vec![
            row.group.clone(),
            row.name.clone().unwrap_or_default(),
            row.sent.to_string(),
            row.responses.to_string(),
            row.response_rate
                .map(|p| format!("{:.4}", p.value))
                .unwrap_or_default(),
        ];
        for p in [&row.csat, &row.fcr] {
            match p {
                Some(p) => record.extend([
                    format!("{:.4}", p.value),
                    format!("{:.4}", p.low),
                    format!("{:.4}", p.high),
                    p.n.to_string(),
                ]),
                None => record.extend(["".into(), "".into(), "".into(), "0".into()]),
            }
        }
        out.write_record(&record)?;
    }
    out.flush()?;
    Ok(())
}
