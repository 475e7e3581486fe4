//! `surveyd report`: per group — agent, team, campaign, channel, category, contact channel,
//! period, or two of them — invitations sent, response rate, CSAT, NPS, CES, FCR (survey and
//! contact records) with their 95% intervals, the median time to answer, agents' shrunk CSAT
//! and rank, and each period's change; as a table, JSON or CSV.

use super::{DateArg, open_store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::scoring::{Change, Mean, Nps, Proportion, Report, ReportRow, Shrunk};
use crate::store::{Breakdown, Period};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// One row per agent, team, campaign, channel, category, contact_channel or period, or
    /// per pair of them (`team,period`); one row in all when left out.
    #[arg(long, value_name = "BREAKDOWN[,BREAKDOWN]", value_parser = parse_by)]
    by: Option<Breakdowns>,
    /// The period of a `period` breakdown (default: `reports.period`).
    #[arg(long, value_enum)]
    period: Option<Period>,
    /// Invitations sent (contacts closed) from this date (YYYY-MM-DD in the reports' time
    /// zone, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    since: Option<DateArg>,
    /// …and before this one.
    #[arg(long, value_name = "DATE")]
    until: Option<DateArg>,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

pub async fn run(settings: Settings, args: ReportArgs) -> anyhow::Result<()> {
    let tz = settings.reports.time_zone(&settings.defaults);
    let since = args.since.map(|d| d.instant(tz)).transpose()?;
    let until = args.until.map(|d| d.instant(tz)).transpose()?;
    let by = args.by.map(|b| b.0).unwrap_or_default();
    Breakdown::check_period(&by, args.period).map_err(|e| anyhow::anyhow!("--period: {e}"))?;
    let query = settings.reports.query(
        &settings.defaults,
        by,
        args.period,
        (since, until),
        Clock::system().now(),
    );
    let store = open_store(&settings).await?;
    // The summary first (quick when `serve` keeps it), so this and later reports read it.
    let report = match store
        .refresh_report_days(&settings.reports.summary(&settings.defaults))
        .await
    {
        Ok(_) => Report::run(&store, &query, settings.reports.min_answers).await,
        Err(e) => Err(e),
    };
    store.close().await;
    let report = report?;
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Csv => print_csv(&report)?,
        ReportFormat::Table => print_table(&report),
    }
    Ok(())
}

/// `--by`'s breakdowns.
#[derive(Debug, Clone)]
struct Breakdowns(Vec<Breakdown>);

fn parse_by(text: &str) -> Result<Breakdowns, String> {
    Breakdown::parse_list(text).map(Breakdowns)
}

/// "84.0% (76.5–89.4)".
fn share(p: &Proportion) -> String {
    format!(
        "{:.1}% ({:.1}–{:.1})",
        p.value * 100.0,
        p.low * 100.0,
        p.high * 100.0
    )
}

fn shrunk(s: &Shrunk) -> String {
    format!(
        "{:.1}% ({:.1}–{:.1})",
        s.value * 100.0,
        s.low * 100.0,
        s.high * 100.0
    )
}

/// "+32 (18–45)".
fn nps(n: &Nps) -> String {
    format!("{:+.0} ({:+.0}–{:+.0})", n.value, n.low, n.high)
}

fn mean(m: &Mean) -> String {
    format!("{:.2} ({:.2}–{:.2})", m.value, m.low, m.high)
}

/// "53s", "3h 5m", "2d 4h": to the second under an hour, to the minute under a day, to the
/// hour beyond.
fn duration(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    let unit = match seconds {
        0..3_600 => 1,
        3_600..86_400 => 60,
        _ => 3_600,
    };
    crate::domain::duration::format(std::time::Duration::from_secs(seconds / unit * unit))
}

/// "+4.2 ▲" when larger than the noise, "+1.0 ~" when not.
fn change(c: &Change, scale: f64) -> String {
    let mark = match (c.significant, c.change > 0.0) {
        (false, _) => "~",
        (true, true) => "▲",
        (true, false) => "▼",
    };
    format!("{:+.1} {mark}", c.change * scale)
}

/// A table column: its header and its cell per row; left out when no row has a value.
type Column = (String, Box<dyn Fn(&ReportRow) -> Option<String>>);

fn print_table(report: &Report) {
    let (header, rows) = grid(report);
    super::print_table(&header, rows);
    println!("{}", footnote(report));
}

/// The table's header and cells: the columns some row has a value in (the groups, sent and
/// answered always), `–` where a row has none.
fn grid(report: &Report) -> (Vec<String>, Vec<Vec<String>>) {
    let mut columns: Vec<Column> = Vec::new();
    for (i, by) in report.by.iter().enumerate() {
        columns.push((
            by.as_ref().replace('_', " "),
            Box::new(move |r: &ReportRow| {
                let k = &r.keys[i];
                Some(match &k.name {
                    Some(name) if *name != k.key => format!("{} {name}", k.key),
                    _ if k.key.is_empty() => "(none)".into(),
                    _ => k.key.clone(),
                })
            }),
        ));
    }
    let n = |p: Option<u64>| p.map(|n| n.to_string());
    columns.extend::<Vec<Column>>(vec![
        ("sent".into(), Box::new(|r| Some(r.sent.to_string()))),
        (
            "answered".into(),
            Box::new(|r| Some(r.responses.to_string())),
        ),
        (
            "response rate".into(),
            Box::new(|r| r.response_rate.as_ref().map(share)),
        ),
        (
            "CSAT (95% CI)".into(),
            Box::new(|r| r.csat.as_ref().map(share)),
        ),
        ("n".into(), Box::new(move |r| n(r.csat.map(|p| p.n)))),
        (
            "CSAT shrunk".into(),
            Box::new(|r| r.csat_shrunk.as_ref().map(shrunk)),
        ),
        (
            "rank".into(),
            Box::new(|r| match (r.rank, r.enough_answers) {
                (Some(rank), _) => Some(rank.to_string()),
                (None, false) => Some("not enough answers".into()),
                (None, true) => None,
            }),
        ),
        ("NPS (95% CI)".into(), Box::new(|r| r.nps.as_ref().map(nps))),
        ("n".into(), Box::new(move |r| n(r.nps.map(|p| p.n)))),
        (
            "CES (95% CI)".into(),
            Box::new(|r| r.ces.as_ref().map(mean)),
        ),
        ("n".into(), Box::new(move |r| n(r.ces.map(|p| p.n)))),
        ("FCR survey".into(), Box::new(|r| r.fcr.as_ref().map(share))),
        ("n".into(), Box::new(move |r| n(r.fcr.map(|p| p.n)))),
        (
            "FCR contacts".into(),
            Box::new(|r| r.fcr_contacts.as_ref().map(share)),
        ),
        (
            "n".into(),
            Box::new(move |r| n(r.fcr_contacts.map(|p| p.n))),
        ),
        (
            "median answer".into(),
            Box::new(|r| r.median_answer_seconds.map(duration)),
        ),
        (
            "CSAT change".into(),
            Box::new(|r| r.trend.as_ref()?.csat.as_ref().map(|c| change(c, 100.0))),
        ),
        (
            "NPS change".into(),
            Box::new(|r| r.trend.as_ref()?.nps.as_ref().map(|c| change(c, 1.0))),
        ),
    ]);
    let cells: Vec<Vec<Option<String>>> = report
        .rows
        .iter()
        .map(|row| columns.iter().map(|(_, cell)| cell(row)).collect())
        .collect();
    let shown: Vec<usize> = (0..columns.len())
        .filter(|&c| cells.iter().any(|row| row[c].is_some()) || c < report.by.len() + 2)
        .collect();
    let header = shown.iter().map(|&c| columns[c].0.clone()).collect();
    let rows = cells
        .iter()
        .map(|row| {
            shown
                .iter()
                .map(|&c| row[c].clone().unwrap_or_else(|| "–".into()))
                .collect()
        })
        .collect();
    (header, rows)
}

/// What the table's marks mean: the intervals, the top box, the minimum of answers, and —
/// only when a change from a previous period is shown — the trend marks.
fn footnote(report: &Report) -> String {
    let mut note = format!(
        "95% intervals; CSAT counts ratings from {} in the top box; groups under {} answers \
         are not ranked",
        report.csat_top_box, report.min_answers
    );
    let trend_shown = report.rows.iter().any(|r| {
        r.trend
            .as_ref()
            .is_some_and(|t| t.csat.is_some() || t.nps.is_some())
    });
    if trend_shown {
        note.push_str(
            "; ▲▼ a change from the previous period larger than the noise (5% test), ~ within it",
        );
    }
    note.push('.');
    note
}

fn print_csv(report: &Report) -> anyhow::Result<()> {
    let mut out = super::cells::CsvWriter::new(std::io::stdout().lock());
    let mut header: Vec<String> = Vec::new();
    for by in &report.by {
        header.push(by.as_ref().to_owned());
        header.push(format!("{}_name", by.as_ref()));
    }
    let interval = |name: &str| {
        [
            name.to_owned(),
            format!("{name}_low"),
            format!("{name}_high"),
            format!("{name}_n"),
        ]
    };
    header.extend(["sent".into(), "responses".into(), "enough_answers".into()]);
    header.extend(interval("response_rate"));
    header.extend(interval("csat"));
    header.extend([
        "csat_shrunk".into(),
        "csat_shrunk_low".into(),
        "csat_shrunk_high".into(),
        "rank".into(),
    ]);
    header.extend(interval("nps"));
    header.extend(interval("ces"));
    header.extend(interval("fcr"));
    header.extend(interval("fcr_contacts"));
    header.push("median_answer_seconds".into());
    header.push("previous_period".into());
    for metric in ["response_rate", "csat", "nps"] {
        header.push(format!("{metric}_change"));
        header.push(format!("{metric}_change_significant"));
    }
    out.write_record(&header)?;
    let number = |v: f64| format!("{v:.4}");
    let estimate = |v: Option<(f64, f64, f64, u64)>| match v {
        Some((value, low, high, n)) => [number(value), number(low), number(high), n.to_string()],
        None => [String::new(), String::new(), String::new(), "0".into()],
    };
    let share = |p: &Option<Proportion>| estimate(p.map(|p| (p.value, p.low, p.high, p.n)));
    for row in &report.rows {
        let mut record: Vec<String> = Vec::new();
        for key in &row.keys {
            record.push(key.key.clone());
            record.push(key.name.clone().unwrap_or_default());
        }
        record.extend([
            row.sent.to_string(),
            row.responses.to_string(),
            row.enough_answers.to_string(),
        ]);
        record.extend(share(&row.response_rate));
        record.extend(share(&row.csat));
        match &row.csat_shrunk {
            Some(s) => record.extend([number(s.value), number(s.low), number(s.high)]),
            None => record.extend([String::new(), String::new(), String::new()]),
        }
        record.push(row.rank.map(|r| r.to_string()).unwrap_or_default());
        record.extend(estimate(row.nps.map(|p| (p.value, p.low, p.high, p.n))));
        record.extend(estimate(row.ces.map(|p| (p.value, p.low, p.high, p.n))));
        record.extend(share(&row.fcr));
        record.extend(share(&row.fcr_contacts));
        record.push(row.median_answer_seconds.map(number).unwrap_or_default());
        let trend = row.trend.as_ref();
        record.push(trend.map(|t| t.previous_period.clone()).unwrap_or_default());
        for c in [
            trend.and_then(|t| t.response_rate),
            trend.and_then(|t| t.csat),
            trend.and_then(|t| t.nps),
        ] {
            record.push(c.map(|c| number(c.change)).unwrap_or_default());
            record.push(c.map(|c| c.significant.to_string()).unwrap_or_default());
        }
        out.write_record(&record)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::{GroupKey, Trend};

    /// A row of agent `key` with `answers` of 5 answers' worth of CSAT, ranked `rank`.
    fn row(key: &str, enough: bool, rank: Option<u32>, trend: Option<Trend>) -> ReportRow {
        ReportRow {
            keys: vec![GroupKey {
                by: Breakdown::Agent,
                key: key.into(),
                name: None,
            }],
            sent: 20,
            responses: 12,
            response_rate: Proportion::wilson(12, 20),
            enough_answers: enough,
            csat: Proportion::wilson(9, 12),
            csat_shrunk: None,
            rank,
            nps: None,
            ces: None,
            fcr: None,
            fcr_contacts: None,
            median_answer_seconds: Some(11_130.0),
            trend,
        }
    }

    fn report(rows: Vec<ReportRow>) -> Report {
        Report {
            by: vec![Breakdown::Agent],
            period: None,
            time_zone: "Asia/Jakarta".into(),
            since: None,
            until: None,
            min_answers: 10,
            csat_top_box: 4,
            rows,
        }
    }

    #[test]
    fn every_column_has_a_header_and_unranked_groups_say_why() {
        let (header, rows) = grid(&report(vec![
            row("A-1", true, Some(1), None),
            row("A-2", false, None, None),
        ]));
        assert!(header.iter().all(|h| !h.trim().is_empty()), "{header:?}");
        let rank = header
            .iter()
            .position(|h| h == "rank")
            .expect("a rank column");
        assert_eq!(rows[0][rank], "1");
        assert_eq!(rows[1][rank], "not enough answers");
        let median = header.iter().position(|h| h == "median answer").unwrap();
        assert_eq!(rows[0][median], "3h 5m");
    }

    #[test]
    fn the_trend_marks_are_explained_only_when_a_trend_is_shown() {
        let plain = footnote(&report(vec![row("A-1", true, Some(1), None)]));
        assert!(!plain.contains('▲') && !plain.contains('~'), "{plain}");
        assert!(
            plain.contains("groups under 10 answers are not ranked."),
            "{plain}"
        );
        let trend = Trend {
            previous_period: "2026-11-02".into(),
            response_rate: None,
            csat: Some(Change {
                previous: 0.5,
                change: 0.25,
                z: 2.5,
                significant: true,
            }),
            nps: None,
        };
        let shown = footnote(&report(vec![row("A-1", true, Some(1), Some(trend))]));
        assert!(
            shown.contains("▲▼ a change from the previous period"),
            "{shown}"
        );
    }

    #[test]
    fn times_to_answer_read_as_written() {
        assert_eq!(duration(2.4), "2s");
        assert_eq!(duration(53.6), "54s");
        assert_eq!(duration(90.0), "1m 30s");
        assert_eq!(duration(3_600.0 + 5.0 * 60.0 + 20.0), "1h 5m");
        assert_eq!(
            duration(2.0 * 86_400.0 + 4.0 * 3_600.0 + 50.0 * 60.0),
            "2d 4h"
        );
    }
}
