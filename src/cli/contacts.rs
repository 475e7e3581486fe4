//! `surveyd contacts import|list`.

use super::{OutputFormat, create_store, open_store, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use crate::intake::{FileFormat, ImportOptions, ImportReport, Input, ParseContext, import_file};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// Import closed contacts from a CSV or JSONL file, or from standard input (`-`); upsert
    /// by contact_id: re-importing changes nothing.
    ///
    /// Bad rows are skipped and reported with the line they start on, as an editor counts
    /// (the header is line 1); the good rows beside them are imported. In every column, line
    /// breaks, tabs and other control characters become a space; a NUL character rejects the
    /// row. A closed_at more than a day in the future, or an email domain without a dot,
    /// rejects the row. A quoted CSV field that is never closed stops the import at the line
    /// where it opened: the rows before it are imported, nothing after it.
    ///
    /// Exit status: 0 when the input was read to its end and at least one row was good (or it
    /// holds no rows); 1 when the input cannot be read, when every row was rejected, or when
    /// the import stopped part way. The summary is printed first unless the input could not
    /// be read at all.
    ///
    /// Columns / keys: contact_id, closed_at, customer_id (required); opened_at, customer_name,
    /// email, phone, whatsapp, locale, time_zone, segment, agent_id, agent_name, team,
    /// contact_channel, category, resolution; attr.NAME columns (CSV) or an `attributes`
    /// object (JSONL) for free attributes (their text may span lines).
    Import {
        /// The file to read (UTF-8), or `-` for standard input.
        file: PathBuf,
        /// The input's format; by default JSONL for .jsonl/.ndjson/.json, CSV otherwise (and
        /// for `-`).
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
        /// Write rejected rows here, in the input's format, with line, field and reason first.
        #[arg(long, value_name = "PATH")]
        rejects: Option<PathBuf>,
        /// Print the summary as JSON (--format is the input's format).
        #[arg(long)]
        json: bool,
    },
    /// List stored contacts, most recently closed first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(settings: Settings, command: ContactsCommand) -> anyhow::Result<()> {
    // An import makes the database when there is none yet; listing only reads.
    let store = match command {
        ContactsCommand::Import { .. } => create_store(&settings).await?,
        ContactsCommand::List { .. } => open_store(&settings).await?,
    };
    match command {
        ContactsCommand::Import {
            file,
            format,
            rejects,
            json,
        } => {
            let input = Input::from_arg(file);
            let progress = if std::io::stderr().is_terminal() {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                let template = match input {
                    Input::File(_) => {
                        "{spinner} importing {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}"
                    }
                    Input::Stdin => "{spinner} importing {bytes} {bytes_per_sec}",
                };
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("valid progress template")
                        .progress_chars("=> "),
                );
                bar
            } else {
                ProgressBar::hidden()
            };
            let options = ImportOptions {
                format: format.unwrap_or_else(|| input.format()),
                rejects: rejects.clone(),
                batch_size: settings.intake.batch_size.max(1),
                rows_per_transaction: settings.intake.rows_per_transaction,
                context: ParseContext::of(&settings.defaults),
                progress,
            };
            let report = import_file(&store, &input, options, &Clock::system()).await?;
            print_report(&report, rejects.as_ref(), json)?;
            store.close().await;
            if let Some(failure) = report.failure() {
                anyhow::bail!("{failure}");
            }
            return Ok(());
        }
        ContactsCommand::List { limit, format } => {
            let contacts = store.list_contacts(limit).await?;
            let header = [
                "contact_id",
                "closed_at",
                "customer_id",
                "customer_name",
                "email",
                "phone",
                "agent_id",
                "team",
                "contact_channel",
                "resolution",
            ];
            let text = |v: Option<&dyn ToString>| v.map(|v| v.to_string()).unwrap_or_default();
            print_rows(format, &header, &contacts, "no contacts", |c| {
                vec![
                    c.contact_id.to_string(),
                    c.closed_at.to_rfc3339(),
                    c.customer_id.to_string(),
                    c.customer_name.clone().unwrap_or_default(),
                    text(c.email.as_ref().map(|v| v as _)),
                    text(c.phone.as_ref().map(|v| v as _)),
                    text(c.agent_id.as_ref().map(|v| v as _)),
                    text(c.team.as_ref().map(|v| v as _)),
                    text(c.contact_channel.as_ref().map(|v| v as _)),
                    text(c.resolution.as_ref().map(|v| v as _)),
                ]
            })?;
        }
    }
    store.close().await;
    Ok(())
}

fn print_report(
    report: &ImportReport,
    rejects: Option<&PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    for warning in &report.warnings {
        eprintln!(
            "warning: {}",
            super::cells::terminal_safe(&warning.to_string())
        );
    }
    for reject in &report.rejects {
        eprintln!(
            "rejected: {}",
            super::cells::terminal_safe(&reject.to_string())
        );
    }
    let quoted = report.rejects.len() as u64;
    if report.rejected > quoted {
        match rejects {
            Some(path) => eprintln!(
                "… and {} more rejected rows, all in {}",
                report.rejected - quoted,
                path.display()
            ),
            None => eprintln!(
                "… and {} more rejected rows; use --rejects PATH to keep them all",
                report.rejected - quoted
            ),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!(
            "read {}, inserted {}, updated {}, unchanged {}, duplicates {}, rejected {}",
            report.read,
            report.inserted,
            report.updated,
            report.unchanged,
            report.duplicates,
            report.rejected
        );
    }
    Ok(())
}
