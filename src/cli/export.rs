//! `surveyd export responses`: one row per answered invitation — the campaign, channel, the
//! contact's ids (contact, customer, agent, team), category, the times, and each question's
//! answer — as CSV or JSON lines, streamed in pages so an export of millions stays small in
//! memory. Names, addresses and phone numbers are not exported.

use super::cells::CsvWriter;
use super::open_store;
use crate::config::Settings;
use crate::store::AnsweredInvitation;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

/// Answered invitations read per page.
const PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One row per answered invitation, with its answers (a column per question in CSV, an
    /// `answers` object in JSON lines).
    Responses {
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Write here instead of to standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// The columns before the answers.
const COLUMNS: [&str; 12] = [
    "invitation_id",
    "campaign",
    "channel",
    "contact_id",
    "customer_id",
    "agent_id",
    "team",
    "category",
    "contact_channel",
    "closed_at",
    "sent_at",
    "answered_at",
];

pub async fn run(settings: Settings, command: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Responses { format, output } = command;
    let store = open_store(&settings).await?;
    // A file is written beside its name and renamed when complete: a failed export leaves no
    // file that looks whole.
    let partial = output.as_ref().map(|path| {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".partial");
        path.with_file_name(name)
    });
    let out: Box<dyn Write> = match &partial {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                store.close().await;
                anyhow::bail!("cannot write {}: {e}", path.display());
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let written = export(&store, format, out).await;
    store.close().await;
    let (Some(path), Some(partial)) = (output, partial) else {
        return written.map(|_| ());
    };
    match written {
        Ok(count) => {
            std::fs::rename(&partial, &path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "{count} answered invitation(s) written to {}",
                path.display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn export(
    store: &crate::store::Store,
    format: ExportFormat,
    mut out: Box<dyn Write>,
) -> anyhow::Result<u64> {
    let questions = match format {
        ExportFormat::Csv => store.answered_questions().await?,
        ExportFormat::Jsonl => Vec::new(),
    };
    if format == ExportFormat::Csv {
        let mut writer = CsvWriter::new(&mut out);
        writer.write_record(
            COLUMNS
                .iter()
                .copied()
                .chain(questions.iter().map(String::as_str)),
        )?;
        writer.flush()?;
    }
    let mut after = 0;
    let mut count = 0u64;
    loop {
        let page = store.answered_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.invitation_id;
        match format {
            ExportFormat::Csv => {
                let mut writer = CsvWriter::new(&mut out);
                for row in &page {
                    writer.write_record(csv_record(row, &questions))?;
                }
                writer.flush()?;
            }
            ExportFormat::Jsonl => {
                for row in &page {
                    serde_json::to_writer(&mut out, row)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        count += page.len() as u64;
    }
    out.flush()?;
    Ok(count)
}

fn csv_record(row: &AnsweredInvitation, questions: &[String]) -> Vec<String> {
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut record = vec![
        row.invitation_id.to_string(),
        row.campaign.clone(),
        row.channel.clone(),
        row.contact_id.clone(),
        row.customer_id.clone(),
        text(&row.agent_id),
        text(&row.team),
        text(&row.category),
        text(&row.contact_channel),
        time(Some(row.closed_at)),
        time(row.sent_at),
        time(Some(row.answered_at)),
    ];
    record.extend(questions.iter().map(|q| match row.answers.get(q) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }));
    record
}
