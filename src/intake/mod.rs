//! Contacts in: the import format shared by files (CSV, JSONL), the HTTP API and SQL sources
//! (a helpdesk's database, polled).
//!
//! Every source turns its input into a [`RawContact`] (column → text) and calls
//! [`RawContact::parse`], so the same row gets the same verdict wherever it comes from: its
//! text cleaned the same way (one line per column, NUL refused), its closing time no more
//! than a day ahead of the injected clock. Files are cut into records by `split`, which
//! numbers each by the physical line it starts on.

mod file;
mod record;
pub mod source;
mod split;

pub use file::{FileFormat, ImportError, ImportOptions, ImportReport, Input, import_file};
pub use record::{Column, FieldError, ParseContext, RawContact};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Contacts parsed and written together (one set of statements) during an import.
    pub batch_size: usize,
    /// Contacts committed per database transaction during an import. Larger is faster;
    /// on SQLite other writers wait while a transaction is open.
    pub rows_per_transaction: usize,
}
