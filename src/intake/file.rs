//! `surveyd contacts import`: streams a CSV or JSONL file (or standard input) into the store
//! in batches.
//!
//! A blocking reader thread parses rows and hands batches of contacts over a small bounded
//! channel to the writer, which upserts each batch in one transaction; memory stays constant
//! whatever the input's size. A bad row is skipped, counted and written to the rejects file
//! with its line (the physical line it starts on, as an editor counts) and reason; every good
//! row is imported. Input that cannot be read on (a quoted field never closed, a read error)
//! stops the import there: the rows before it are imported, and the report says where.

mod sink;

use super::record::{Column, FieldError, ParseContext, RawContact};
use super::split::{CsvRecord, CsvRecords, JsonLines, MAX_RECORD, Stop};
use crate::clock::Clock;
use crate::domain::ContactRecord;
use crate::store::{Store, StoreError, UpsertCounts};
use indicatif::ProgressBar;
use sink::{Original, Sink};
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Where an import reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    /// `-` is standard input; anything else names a file.
    pub fn from_arg(arg: PathBuf) -> Input {
        if arg.as_os_str() == "-" {
            Input::Stdin
        } else {
            Input::File(arg)
        }
    }

    /// The format the input's name suggests: see [`FileFormat::from_path`]; CSV for
    /// standard input.
    pub fn format(&self) -> FileFormat {
        match self {
            Input::File(path) => FileFormat::from_path(path),
            Input::Stdin => FileFormat::Csv,
        }
    }

    /// The input's size, when it is known ahead.
    fn len(&self) -> Option<u64> {
        match self {
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Stdin => None,
        }
    }

    fn open(&self) -> Result<Box<dyn Read + Send>, ImportError> {
        match self {
            Input::File(path) => match File::open(path) {
                Ok(file) => Ok(Box::new(file)),
                Err(error) => Err(ImportError::Open {
                    input: self.clone(),
                    error,
                }),
            },
            Input::Stdin => Ok(Box::new(std::io::stdin())),
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::File(path) => write!(f, "{}", path.display()),
            Input::Stdin => f.write_str("standard input"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Jsonl,
}

impl FileFormat {
    /// JSONL for `.jsonl`, `.ndjson` and `.json` files, CSV otherwise.
    pub fn from_path(path: &Path) -> FileFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(ext) if ["jsonl", "ndjson", "json"].contains(&ext.as_str()) => FileFormat::Jsonl,
            _ => FileFormat::Csv,
        }
    }
}

pub struct ImportOptions {
    pub format: FileFormat,
    /// Where rejected rows go (same format as the input, with line and reason first).
    pub rejects: Option<PathBuf>,
    pub batch_size: usize,
    /// Rows written per database transaction (a multiple of `batch_size` in effect).
    pub rows_per_transaction: usize,
    pub context: ParseContext,
    /// Shows progress by bytes read; pass a hidden bar when nobody watches.
    pub progress: ProgressBar,
}

/// How many rejected rows an import report quotes; the rejects file has them all.
pub const REJECTS_QUOTED: usize = 20;

/// What an import did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    /// Records read (good and bad, duplicates included).
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records whose contact_id appeared earlier in the file (the last one wins).
    pub duplicates: u64,
    pub rejected: u64,
    /// Problems with the file as a whole that did not stop the import.
    pub warnings: Vec<String>,
    /// The first rejected rows as "line N: reason".
    pub rejects: Vec<String>,
    /// Where and why the import stopped before the end of its input (the rows before were
    /// imported): "contacts.csv: line 7: a quoted field opened here is never closed; …".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl ImportReport {
    /// Why the import failed its purpose, if it did: it stopped before the end of its input,
    /// or it rejected every row it read. An input with no rows at all has not failed.
    pub fn failure(&self) -> Option<String> {
        if let Some(stopped) = &self.stopped {
            return Some(stopped.clone());
        }
        (self.read > 0 && self.rejected == self.read).then(|| match self.read {
            1 => "the only row was rejected".to_owned(),
            n => format!("all {n} rows were rejected"),
        })
    }
}

/// Why a file could not be imported at all (or stopped part way).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {input}: {error}")]
    Open { input: Input, error: std::io::Error },
    #[error("{input}: line {line}: {reason}")]
    Unreadable {
        input: Input,
        line: u64,
        reason: String,
    },
    #[error("cannot write the rejects file {path}: {error}")]
    Rejects {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "stopped after {imported} contacts were stored: {error} (re-running the import is safe)"
    )]
    Store { imported: u64, error: StoreError },
}

/// Imports `input` into `store`; rows are read as of `clock`'s time when the import starts.
pub async fn import_file(
    store: &Store,
    input: &Input,
    options: ImportOptions,
    clock: &Clock,
) -> Result<ImportReport, ImportError> {
    let source = input.open()?;
    if let Some(len) = input.len() {
        options.progress.set_length(len);
    }
    let rows_per_transaction = options.rows_per_transaction.max(1);
    let (tx, mut rx) = mpsc::channel::<Vec<ContactRecord>>(1);
    let reader_input = input.clone();
    let now = clock.now();
    let reader = tokio::task::spawn_blocking(move || {
        let mut sink = Sink::new(reader_input, &options, now, tx);
        let source = BufReader::with_capacity(1 << 16, source);
        let read = match options.format {
            FileFormat::Csv => read_csv(CsvRecords::new(source), &mut sink),
            FileFormat::Jsonl => read_jsonl(JsonLines::new(source), &mut sink),
        };
        match read {
            Ok(()) => {}
            Err(ReadError::Stopped(stop)) => sink.stopped(stop),
            Err(ReadError::Failed(error)) => return Err(error),
        }
        sink.finish()
    });

    let mut counts = UpsertCounts::default();
    let written = write_batches(store, &mut rx, rows_per_transaction, clock, &mut counts).await;
    drop(rx);
    let mut report = reader.await.expect("the import reader panicked")?;
    if let Err(error) = written {
        return Err(ImportError::Store {
            imported: counts.inserted + counts.updated + counts.unchanged,
            error,
        });
    }
    report.inserted = counts.inserted;
    report.updated = counts.updated;
    report.unchanged = counts.unchanged;
    store
        .refresh_statistics(
            counts.inserted + counts.updated,
            "customers, contacts, agents, teams",
        )
        .await
        .map_err(|error| ImportError::Store {
            imported: counts.inserted + counts.updated + counts.unchanged,
            error,
        })?;
    Ok(report)
}

/// Upserts the reader's batches, committing every `rows_per_transaction` rows: a large
/// transaction writes each touched index page once instead of once per batch. `committed`
/// counts only what has been committed.
async fn write_batches(
    store: &Store,
    rx: &mut mpsc::Receiver<Vec<ContactRecord>>,
    rows_per_transaction: usize,
    clock: &Clock,
    committed: &mut UpsertCounts,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    let mut pending = UpsertCounts::default();
    let mut rows = 0;
    while let Some(batch) = rx.recv().await {
        pending += tx.upsert_contacts(&batch, clock.now()).await?;
        rows += batch.len();
        if rows >= rows_per_transaction {
            tx.commit().await?;
            *committed += std::mem::take(&mut pending);
            rows = 0;
            tx = store.begin().await?;
        }
    }
    tx.commit().await?;
    *committed += pending;
    Ok(())
}

/// Why a reader ended before its input did.
enum ReadError {
    /// The input cannot be read on from here; the rows before it are kept.
    Stopped(Stop),
    /// The import cannot go on at all.
    Failed(ImportError),
}

impl From<ImportError> for ReadError {
    fn from(error: ImportError) -> Self {
        ReadError::Failed(error)
    }
}

impl From<Stop> for ReadError {
    fn from(stop: Stop) -> Self {
        ReadError::Stopped(stop)
    }
}

/// What each header column feeds.
enum Target {
    Column(Column),
    Attribute(String),
    Ignored,
}

fn read_csv(
    mut reader: CsvRecords<impl std::io::BufRead>,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut header = CsvRecord::default();
    match reader.read(&mut header) {
        Ok(true) => {}
        Ok(false) => {
            sink.warn(format!("{} is empty: nothing to import", sink.input));
            return Ok(());
        }
        Err(Stop { line, reason }) => return Err(sink.unreadable(line, reason).into()),
    }
    if header.too_long {
        let reason = format!("the header is longer than {} MiB", MAX_RECORD >> 20);
        return Err(sink.unreadable(header.line, reason).into());
    }
    let targets = read_header(&header, sink)?;
    sink.open_rejects(Some(&header.fields))?;

    let mut record = CsvRecord::default();
    while !sink.closed && reader.read(&mut record)? {
        let line = record.line;
        let original = Original::Csv(&record.fields);
        if record.too_long {
            let reason = format!("is longer than {} MiB", MAX_RECORD >> 20);
            sink.reject(line, &[FieldError::record(reason)], original)?;
            continue;
        }
        let fields = &record.fields;
        if fields.len() == 1 && fields[0].iter().all(u8::is_ascii_whitespace) {
            continue; // a blank line
        }
        if fields.len() != targets.len() {
            let reason = format!(
                "has {} fields but the header has {} columns",
                fields.len(),
                targets.len()
            );
            sink.reject(line, &[FieldError::record(reason)], original)?;
            continue;
        }
        let mut raw = RawContact::default();
        let mut errors = Vec::new();
        for (target, bytes) in targets.iter().zip(fields.iter()) {
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let name = match target {
                        Target::Column(c) => c.name().to_owned(),
                        Target::Attribute(a) => Column::attribute(a),
                        Target::Ignored => continue,
                    };
                    errors.push(FieldError::new(
                        name,
                        format!(
                            "is not valid UTF-8 (byte {}); save the file as UTF-8",
                            e.valid_up_to() + 1
                        ),
                    ));
                    continue;
                }
            };
            match target {
                Target::Column(c) => raw.set(*c, text),
                Target::Attribute(name) if !text.trim().is_empty() => {
                    raw.attributes
                        .insert(name.clone(), serde_json::Value::String(text.to_owned()));
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            sink.accept(line, &raw, original)?;
        } else {
            sink.reject(line, &errors, original)?;
        }
        if sink.report.read.is_multiple_of(4096) {
            sink.progress(reader.bytes());
        }
    }
    Ok(())
}

/// Maps header columns to what they feed; refuses a header that cannot work.
fn read_header(header: &CsvRecord, sink: &mut Sink<'_>) -> Result<Vec<Target>, ImportError> {
    let line = header.line;
    let mut targets = Vec::with_capacity(header.fields.len());
    let mut found: Vec<(Column, usize)> = Vec::new();
    for (i, bytes) in header.fields.iter().enumerate() {
        let name = std::str::from_utf8(bytes).map_err(|_| {
            sink.unreadable(line, format!("header column {} is not valid UTF-8", i + 1))
        })?;
        let name = name.trim_start_matches('\u{feff}').trim();
        if let Some(column) = Column::named(name) {
            if let Some((_, first)) = found.iter().find(|(c, _)| *c == column) {
                return Err(sink.unreadable(
                    line,
                    format!(
                        "column `{name}` appears twice (columns {} and {})",
                        first + 1,
                        i + 1
                    ),
                ));
            }
            found.push((column, i));
            targets.push(Target::Column(column));
        } else if let Some(attribute) = name.strip_prefix(Column::ATTRIBUTE_PREFIX) {
            targets.push(Target::Attribute(attribute.to_owned()));
        } else if name.starts_with('_') {
            targets.push(Target::Ignored);
        } else {
            sink.warn(format!(
                "line {line}: unknown column `{}` (column {}) is ignored; known columns: {}",
                name.escape_debug(),
                i + 1,
                Column::all()
                    .map(Column::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            targets.push(Target::Ignored);
        }
    }
    let missing: Vec<&str> = Column::REQUIRED
        .iter()
        .filter(|c| !found.iter().any(|(f, _)| f == *c))
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        return Err(sink.unreadable(
            line,
            format!(
                "the header lacks the required column(s): {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(targets)
}

fn read_jsonl(
    mut reader: JsonLines<impl std::io::BufRead>,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    sink.open_rejects(None)?;
    let mut buffer = Vec::new();
    let mut unknown_keys: HashSet<String> = HashSet::new();
    while !sink.closed {
        let Some((line, too_long)) = reader.read(&mut buffer)? else {
            return Ok(());
        };
        let original = Original::Line(&buffer);
        if too_long {
            let reason = format!("is longer than {} MiB", MAX_RECORD >> 20);
            sink.reject(line, &[FieldError::record(reason)], original)?;
            continue;
        }
        let text = match std::str::from_utf8(&buffer) {
            Ok(text) => text.trim(),
            Err(e) => {
                let reason = format!(
                    "is not valid UTF-8 (byte {}); save the file as UTF-8",
                    e.valid_up_to() + 1
                );
                sink.reject(line, &[FieldError::record(reason)], original)?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
            Ok(object) => object,
            Err(e) => {
                let reason = format!("is not a JSON object: {e}");
                sink.reject(line, &[FieldError::record(reason)], original)?;
                continue;
            }
        };
        let (raw, errors, unknown) = RawContact::from_json(&object);
        for key in unknown {
            if unknown_keys.insert(key.to_owned()) {
                sink.warn(format!(
                    "line {line}: unknown key `{}` is ignored (and wherever else it appears)",
                    key.escape_debug()
                ));
            }
        }
        if errors.is_empty() {
            sink.accept(line, &raw, original)?;
        } else {
            sink.reject(line, &errors, original)?;
        }
        if line.is_multiple_of(4096) {
            sink.progress(reader.bytes());
        }
    }
    Ok(())
}
