//! Contacts import from CSV and JSONL files: good rows kept, bad rows named and rejected.

mod support;

use indicatif::ProgressBar;
use std::path::PathBuf;
use support::{CSV_HEADER, TestDb};
use surveyd::clock::Clock;
use surveyd::domain::TimeZone;
use surveyd::intake::{
    FileFormat, ImportError, ImportOptions, ImportReport, ParseContext, import_file,
};

struct Imported {
    result: Result<ImportReport, ImportError>,
    rejects: String,
    _dir: tempfile::TempDir,
}

impl Imported {
    fn report(&self) -> &ImportReport {
        self.result.as_ref().expect("the import ran")
    }
}

async fn import(db: &TestDb, name: &str, content: &[u8]) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let rejects: PathBuf = dir.path().join("rejects.out");
    let options = ImportOptions {
        format: FileFormat::from_path(&path),
        rejects: Some(rejects.clone()),
        batch_size: 2,
        rows_per_transaction: 4,
        context: ParseContext {
            time_zone: TimeZone::parse("Asia/Jakarta").unwrap(),
            country: phonenumber::country::Id::ID,
        },
        progress: ProgressBar::hidden(),
    };
    let result = import_file(&db.store, &path, options, &Clock::system()).await;
    Imported {
        result,
        rejects: std::fs::read_to_string(&rejects).unwrap_or_default(),
        _dir: dir,
    }
}

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(CSV_HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}

const GOOD_1: &str = "T-1,2026-11-20 10:00,C-1,Budi Santoso,budi@example.co.id,0812-3456-7890,A-1,Sari,Billing,phone,resolved";
const GOOD_2: &str = "T-2,2026-11-20T11:00:00+07:00,C-2,Jane Doe,jane@example.com,+62 812 9876 5432,A-2,Tono,Retail,email,escalated";

async fn csv_import_is_idempotent(db: &TestDb) {
    let file = csv(&[GOOD_1, GOOD_2]);
    let first = import(db, "c.csv", &file).await;
    let r = first.report();
    assert_eq!(
        (r.read, r.inserted, r.updated, r.unchanged, r.rejected),
        (2, 2, 0, 0, 0)
    );
    let again = import(db, "c.csv", &file).await;
    let r = again.report();
    assert_eq!((r.read, r.inserted, r.updated, r.unchanged), (2, 0, 0, 2));

    let t1 = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(
        t1.closed_at.to_rfc3339(),
        "2026-11-20T03:00:00+00:00",
        "local time read in WIB"
    );
    assert_eq!(t1.phone.unwrap().as_str(), "+6281234567890");
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 2);
}

async fn bad_rows_are_rejected_and_good_ones_kept(db: &TestDb) {
    let file = csv(&[
        GOOD_1,
        "T-3,2026-11-20 10:00,C-3,Ani,ani@example.com,08123,,,,,",
        "T-4,last tuesday,C-4,Ani,ani@,0812-3456-7890,,,,,",
        ",2026-11-20 10:00,C-5,Ani,,,,,,,",
        "T-6,2026-11-20 10:00,C-6,too,few",
        "T-7,2026-11-20 10:00,C-7,Ani,,,,,,fax,",
        GOOD_2,
    ]);
    let imported = import(db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (7, 2, 5), "{r:?}");
    let quoted = r.rejects.join("\n");
    for expected in [
        "line 3: field `phone`: `08123` is not a valid phone number",
        "line 4: field `closed_at`: `last tuesday` is not a date and time",
        "field `email`: `ani@` is not a valid email address",
        "line 5: field `contact_id`: is required but missing or empty",
        "line 6: has 5 fields but the header has 11 columns",
        "line 7: field `contact_channel`: `fax` is not a contact channel; expected one of: phone,",
    ] {
        assert!(
            quoted.contains(expected),
            "missing `{expected}` in:\n{quoted}"
        );
    }
    // The rejects file is CSV with line, field and reason first, then the original row.
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(imported.rejects.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..4], ["_line", "_field", "_reason", "contact_id"]);
    let lines: Vec<String> = rows.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(lines, ["3", "4", "5", "6", "7"]);
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 2);
}

async fn jsonl_import_with_bad_lines(db: &TestDb) {
    let file = concat!(
        r#"{"contact_id": 101, "closed_at": "2026-11-20T03:00:00Z", "customer_id": "C-1", "whatsapp": "6281234567890", "attributes": {"priority": "high"}}"#,
        "\n\n",
        r#"{"contact_id": "102", "closed_at": "2026-11-20T03:00:00Z"}"#,
        "\n",
        r#"{"contact_id": "103", "closed_at": "#,
        "\n",
        r#"["not", "an", "object"]"#,
        "\n",
        r#"{"contact_id": "104", "closed_at": "2026-11-20 10:00", "customer_id": "C-4", "resolution": true, "colour": "red"}"#,
        "\n",
        r#"{"contact_id": "105", "closed_at": "2026-11-20 10:00", "customer_id": "C-5", "locale": "en_gb", "time_zone": "Asia/Jayapura", "colour": "blue"}"#,
    );
    let imported = import(db, "c.jsonl", file.as_bytes()).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (6, 2, 4), "{r:?}");
    let quoted = r.rejects.join("\n");
    for expected in [
        "line 3: field `customer_id`: is required",
        "line 4: is not a JSON object: EOF while parsing",
        "line 5: is not a JSON object: invalid type: sequence",
        "line 6: field `resolution`: must be text or a number",
    ] {
        assert!(
            quoted.contains(expected),
            "missing `{expected}` in:\n{quoted}"
        );
    }
    assert_eq!(
        r.warnings.len(),
        1,
        "an unknown key is reported once: {:?}",
        r.warnings
    );
    assert!(r.warnings[0].contains("line 6: unknown key `colour`"));

    let rejects: Vec<serde_json::Value> = imported
        .rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 4);
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(rejects[0]["fields"][0], "customer_id");
    assert!(rejects[0]["record"].as_str().unwrap().contains(r#""102""#));

    let c = db.store.find_contact("101").await.unwrap().unwrap();
    assert_eq!(c.whatsapp.unwrap().as_str(), "+6281234567890");
    assert_eq!(c.attributes["priority"], "high");
    let c = db.store.find_contact("105").await.unwrap().unwrap();
    assert_eq!(
        c.closed_at.to_rfc3339(),
        "2026-11-20T01:00:00+00:00",
        "read in WIT"
    );
    assert_eq!(c.locale.unwrap().as_str(), "en-GB");
}

on_both_backends!(
    csv_import_is_idempotent,
    bad_rows_are_rejected_and_good_ones_kept,
    jsonl_import_with_bad_lines,
);

#[tokio::test]
async fn duplicate_contact_ids_last_wins_and_are_counted() {
    let db = TestDb::sqlite().await;
    let later = GOOD_1.replace("resolved", "unresolved");
    // Batches hold 2 rows: the duplicates land in the same batch and in a later one.
    let file = csv(&[
        GOOD_1,
        &later,
        GOOD_2,
        GOOD_1.replace("Billing", "Retail").as_str(),
    ]);
    let imported = import(&db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.read, r.duplicates, r.rejected), (4, 2, 0), "{r:?}");
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 2);
    let t1 = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(
        t1.team.unwrap().as_str(),
        "Retail",
        "the last row for T-1 wins"
    );
    assert_eq!(t1.resolution.unwrap().as_str(), "resolved");
}

#[tokio::test]
async fn unknown_columns_warn_and_attributes_are_kept() {
    let db = TestDb::sqlite().await;
    let file = b"\xef\xbb\xbfcontact_id,closed_at,customer_id,emial,attr.priority,_note\nT-1,2026-11-20 10:00,C-1,x@y.z,high,ignored\n";
    let imported = import(&db, "c.csv", file).await;
    let r = imported.report();
    assert_eq!((r.inserted, r.rejected), (1, 0));
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].contains("line 1: unknown column `emial` (column 4) is ignored"),
        "{:?}",
        r.warnings
    );
    let c = db.store.find_contact("T-1").await.unwrap().unwrap();
    assert_eq!(c.attributes["priority"], "high");
    assert_eq!(c.email, None);
}

#[tokio::test]
async fn non_utf8_fields_are_named_and_the_rest_kept() {
    let db = TestDb::sqlite().await;
    let mut file = csv(&[GOOD_1]);
    file.extend_from_slice(b"T-9,2026-11-20 10:00,C-9,Bu\xe9di,,,,,,,\n");
    file.extend_from_slice(GOOD_2.as_bytes());
    file.push(b'\n');
    let imported = import(&db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.inserted, r.rejected), (2, 1), "{r:?}");
    assert!(
        r.rejects[0].starts_with("line 3: field `customer_name`: is not valid UTF-8"),
        "{:?}",
        r.rejects
    );
}

#[tokio::test]
async fn a_quoted_field_with_a_newline_keeps_line_numbers_true() {
    let db = TestDb::sqlite().await;
    let file = csv(&[
        "T-1,2026-11-20 10:00,C-1,\"Budi\nSantoso\",,,,,,,",
        "T-2,not a date,C-2,,,,,,,,",
    ]);
    let imported = import(&db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!(r.inserted, 1);
    assert!(r.rejects[0].starts_with("line 4:"), "{:?}", r.rejects);
}

#[tokio::test]
async fn an_empty_file_imports_nothing_and_says_so() {
    let db = TestDb::sqlite().await;
    for name in ["empty.csv", "empty.jsonl"] {
        let imported = import(&db, name, b"").await;
        let r = imported.report();
        assert_eq!(r.read, 0);
        assert!(
            r.warnings[0].contains("empty") || r.warnings[0].contains("no records"),
            "{:?}",
            r.warnings
        );
    }
}

#[tokio::test]
async fn a_header_without_required_columns_is_refused() {
    let db = TestDb::sqlite().await;
    let imported = import(&db, "c.csv", b"contact_id,customer_name\nT-1,Budi\n").await;
    let err = imported.result.unwrap_err().to_string();
    assert!(
        err.contains("line 1: the header lacks the required column(s): closed_at, customer_id"),
        "{err}"
    );
    let imported = import(
        &db,
        "c.csv",
        b"contact_id,closed_at,customer_id,email,Email\n",
    )
    .await;
    let err = imported.result.unwrap_err().to_string();
    assert!(
        err.contains("column `Email` appears twice (columns 4 and 5)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_file_is_an_error() {
    let db = TestDb::sqlite().await;
    let options = ImportOptions {
        format: FileFormat::Csv,
        rejects: None,
        batch_size: 10,
        rows_per_transaction: 10,
        context: ParseContext {
            time_zone: TimeZone::parse("Asia/Jakarta").unwrap(),
            country: phonenumber::country::Id::ID,
        },
        progress: ProgressBar::hidden(),
    };
    let err = import_file(
        &db.store,
        "/nonexistent/c.csv".as_ref(),
        options,
        &Clock::system(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/c.csv"),
        "{err}"
    );
}
