//! Contacts in: the import format shared by files (CSV, JSONL), the HTTP API and SQL sources
//! (a helpdesk's database, polled).
//!
//! Every source turns its input into a [`RawContact`] (column → text) and calls
//! [`RawContact::parse`], so the same row gets the same verdict wherever it comes from.

mod file;
mod http;
mod record;
pub mod source;

pub use file::{FileFormat, ImportError, ImportOptions, ImportReport, import_file};
pub use http::post_contacts;
pub use record::{Column, FieldError, ParseContext, RawContact};
