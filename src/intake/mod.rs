//! Contacts in: the import format shared by files (CSV, JSONL) and the HTTP API.
//!
//! Every source turns its input into a [`RawContact`] (column → text) and calls
//! [`RawContact::parse`], so the same row gets the same verdict wherever it comes from.

mod file;
mod http;
mod record;

pub use file::{FileFormat, ImportError, ImportOptions, ImportReport, import_file};
pub use http::post_contacts;
pub use record::{Column, FieldError, ParseContext, RawContact};
