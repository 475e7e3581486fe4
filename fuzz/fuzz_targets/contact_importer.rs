//! The contact importer on any file: the input is written as a CSV or a JSONL file (the
//! first byte chooses) and imported into an SQLite database as `surveyd contacts import`
//! does. It must never panic, and every line it read is accounted for: stored, a duplicate,
//! or rejected with a reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use surveyd::clock::Clock;
use surveyd::config::{DatabaseUrl, Settings};
use surveyd::intake::{FileFormat, ImportOptions, Input, ParseContext, import_file};
use surveyd::store::Store;

struct Importer {
    runtime: tokio::runtime::Runtime,
    store: Store,
    dir: tempfile::TempDir,
    context: ParseContext,
}

fn importer() -> &'static Importer {
    static IMPORTER: OnceLock<Importer> = OnceLock::new();
    IMPORTER.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/fuzz.db", dir.path().display());
        let store = runtime
            .block_on(Store::open(&DatabaseUrl::parse(&url).unwrap(), 1))
            .unwrap();
        let context = ParseContext::of(&Settings::load(None).unwrap().defaults);
        Importer {
            runtime,
            store,
            dir,
            context,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let importer = importer();
    let (format, name) = match which % 2 {
        0 => (FileFormat::Csv, "contacts.csv"),
        _ => (FileFormat::Jsonl, "contacts.jsonl"),
    };
    let path = importer.dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let options = ImportOptions {
        format,
        rejects: None,
        batch_size: 64,
        rows_per_transaction: 256,
        context: importer.context.clone(),
        progress: indicatif::ProgressBar::hidden(),
    };
    let imported = importer.runtime.block_on(import_file(
        &importer.store,
        &Input::File(path),
        options,
        &Clock::system(),
    ));
    if let Ok(report) = imported {
        let stored = report.inserted + report.updated + report.unchanged;
        assert_eq!(
            stored + report.duplicates + report.rejected,
            report.read,
            "{report:?}"
        );
    }
});
