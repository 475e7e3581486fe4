//! Where an import's records go as they are read: parsed, duplicates counted, batched for
//! the writer, rejects quoted in the report and written to the rejects file in the input's
//! own format.

use super::{ImportError, ImportOptions, ImportReport, Input, REJECTS_QUOTED};
use crate::domain::ContactRecord;
use crate::intake::record::{FieldError, RawContact};
use crate::intake::split::Stop;
use chrono::{DateTime, Utc};
use csv::ByteRecord;
use std::collections::HashSet;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufWriter, Write};
use tokio::sync::mpsc;

/// The original text of a rejected record, to write back out.
pub(super) enum Original<'a> {
    Csv(&'a ByteRecord),
    Line(&'a [u8]),
}

enum RejectsFile {
    Csv(Box<csv::Writer<File>>),
    Jsonl(BufWriter<File>),
}

/// Receives records from a reader: parses, folds duplicates, batches, rejects.
pub(super) struct Sink<'o> {
    pub(super) input: Input,
    options: &'o ImportOptions,
    /// When the rows are read.
    now: DateTime<Utc>,
    tx: mpsc::Sender<Vec<ContactRecord>>,
    batch: Vec<ContactRecord>,
    /// Hashes of the contact ids read so far (8 bytes each), to count duplicates.
    seen: HashSet<u64>,
    id_hasher: foldhash::quality::FixedState,
    rejects_file: Option<RejectsFile>,
    pub(super) report: ImportReport,
    /// The reader should stop: the writer has gone (it failed).
    pub(super) closed: bool,
}

impl<'o> Sink<'o> {
    pub(super) fn new(
        input: Input,
        options: &'o ImportOptions,
        now: DateTime<Utc>,
        tx: mpsc::Sender<Vec<ContactRecord>>,
    ) -> Self {
        Sink {
            input,
            options,
            now,
            tx,
            batch: Vec::with_capacity(options.batch_size),
            seen: HashSet::new(),
            id_hasher: foldhash::quality::FixedState::with_seed(0x5eed),
            rejects_file: None,
            report: ImportReport::default(),
            closed: false,
        }
    }

    fn rejects_error(&self, error: impl Into<std::io::Error>) -> ImportError {
        ImportError::Rejects {
            path: self.options.rejects.clone().unwrap_or_default(),
            error: error.into(),
        }
    }

    /// Opens the rejects file, if one was asked for; for CSV, `header` is the input's header.
    pub(super) fn open_rejects(&mut self, header: Option<&ByteRecord>) -> Result<(), ImportError> {
        let Some(path) = &self.options.rejects else {
            return Ok(());
        };
        let file = File::create(path).map_err(|e| self.rejects_error(e))?;
        self.rejects_file = Some(match header {
            Some(header) => {
                let mut w = csv::WriterBuilder::new().flexible(true).from_writer(file);
                let mut first = ByteRecord::from(vec!["_line", "_field", "_reason"]);
                first.extend(header.iter());
                w.write_byte_record(&first)
                    .map_err(|e| self.rejects_error(e))?;
                RejectsFile::Csv(Box::new(w))
            }
            None => RejectsFile::Jsonl(BufWriter::new(file)),
        });
        Ok(())
    }

    pub(super) fn warn(&mut self, warning: String) {
        self.report.warnings.push(warning);
    }

    pub(super) fn accept(
        &mut self,
        line: u64,
        raw: &RawContact<'_>,
        original: Original<'_>,
    ) -> Result<(), ImportError> {
        self.report.read += 1;
        match raw.parse(&self.options.context, self.now) {
            Ok(record) => {
                if !self
                    .seen
                    .insert(self.id_hasher.hash_one(record.contact_id.as_str()))
                {
                    self.report.duplicates += 1;
                }
                self.batch.push(record);
                if self.batch.len() >= self.options.batch_size {
                    self.flush();
                }
                Ok(())
            }
            Err(errors) => self.write_reject(line, &errors, original),
        }
    }

    pub(super) fn reject(
        &mut self,
        line: u64,
        errors: &[FieldError],
        original: Original<'_>,
    ) -> Result<(), ImportError> {
        self.report.read += 1;
        self.write_reject(line, errors, original)
    }

    fn write_reject(
        &mut self,
        line: u64,
        errors: &[FieldError],
        original: Original<'_>,
    ) -> Result<(), ImportError> {
        self.report.rejected += 1;
        let fields: Vec<&str> = errors.iter().filter_map(|e| e.field.as_deref()).collect();
        let reason = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        if self.report.rejects.len() < REJECTS_QUOTED {
            self.report.rejects.push(format!("line {line}: {reason}"));
        }
        let result = match (&mut self.rejects_file, original) {
            (None, _) => Ok(()),
            (Some(RejectsFile::Csv(w)), Original::Csv(record)) => {
                let mut out = ByteRecord::new();
                out.push_field(line.to_string().as_bytes());
                out.push_field(fields.join(",").as_bytes());
                out.push_field(reason.as_bytes());
                out.extend(record.iter());
                w.write_byte_record(&out).map_err(std::io::Error::from)
            }
            (Some(RejectsFile::Jsonl(w)), Original::Line(text)) => {
                let entry = serde_json::json!({
                    "line": line,
                    "fields": fields,
                    "reason": reason,
                    "record": String::from_utf8_lossy(text),
                });
                writeln!(w, "{entry}")
            }
            (Some(_), _) => unreachable!("the rejects file has the input's format"),
        };
        result.map_err(|e| self.rejects_error(e))
    }

    /// Hands the current batch to the writer.
    fn flush(&mut self) {
        if self.batch.is_empty() || self.closed {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.options.batch_size));
        if self.tx.blocking_send(batch).is_err() {
            self.closed = true;
        }
    }

    pub(super) fn progress(&self, bytes: u64) {
        self.options.progress.set_position(bytes);
    }

    pub(super) fn finish(mut self) -> Result<ImportReport, ImportError> {
        self.flush();
        match self.rejects_file.take() {
            Some(RejectsFile::Csv(mut w)) => w.flush().map_err(|e| self.rejects_error(e))?,
            Some(RejectsFile::Jsonl(mut w)) => w.flush().map_err(|e| self.rejects_error(e))?,
            None => {}
        }
        if self.report.read == 0 && self.report.warnings.is_empty() && self.report.stopped.is_none()
        {
            self.warn(format!(
                "{} holds no records: nothing to import",
                self.input
            ));
        }
        self.options.progress.finish_and_clear();
        Ok(self.report)
    }

    pub(super) fn unreadable(&self, line: u64, reason: impl Into<String>) -> ImportError {
        ImportError::Unreadable {
            input: self.input.clone(),
            line,
            reason: reason.into(),
        }
    }

    /// Records that the reading stopped at `stop`; what was read before it is imported.
    pub(super) fn stopped(&mut self, stop: Stop) {
        let Stop { line, reason } = stop;
        self.report.stopped = Some(format!(
            "{}: line {line}: {reason}; the rows before this one were imported, nothing from \
             it on (importing the fixed input again is safe)",
            self.input
        ));
    }
}
