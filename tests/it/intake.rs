//! Contacts intake on every path — CSV and JSONL files (and standard input), `POST
//! /v1/contacts`, SQL sources: text cleaned alike, good rows kept beside bad ones, and each bad
//! row named by the physical line it starts on.

use crate::support::{CSV_HEADER, TestApp, TestDb};
use chrono::{DateTime, Duration, Utc};
use indicatif::ProgressBar;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use surveyd::clock::Clock;
use surveyd::domain::TimeZone;
use surveyd::intake::{
    FileFormat, ImportError, ImportOptions, ImportReport, Input, ParseContext, import_file,
};

/// The clock of the tests' imports: after every contact they hold.
const NOW: &str = "2026-11-21T00:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

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

fn options(format: FileFormat, rejects: Option<PathBuf>) -> ImportOptions {
    ImportOptions {
        format,
        rejects,
        batch_size: 2,
        rows_per_transaction: 4,
        context: ParseContext {
            time_zone: TimeZone::parse("Asia/Jakarta").unwrap(),
            country: phonenumber::country::Id::ID,
        },
        progress: ProgressBar::hidden(),
    }
}

async fn import(db: &TestDb, name: &str, content: &[u8]) -> Imported {
    import_at(db, name, content, at(NOW)).await
}

/// Imports `content` as a file called `name`, on a clock standing at `now`.
async fn import_at(db: &TestDb, name: &str, content: &[u8], now: DateTime<Utc>) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let rejects: PathBuf = dir.path().join("rejects.out");
    let options = options(FileFormat::from_path(&path), Some(rejects.clone()));
    let (clock, _) = Clock::manual(now);
    let result = import_file(&db.store, &Input::File(path), options, &clock).await;
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
        "T-8,2026-11-20 10:00,C-8,Ani,ani@example,,,,,,",
        GOOD_2,
    ]);
    let imported = import(db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (8, 2, 6), "{r:?}");
    let quoted = r.rejects.join("\n");
    for expected in [
        "line 3: field `phone`: `08123` is not a valid phone number",
        "line 4: field `closed_at`: `last tuesday` is not a date and time",
        "field `email`: `ani@` is not a valid email address",
        "line 5: field `contact_id`: is required but missing or empty",
        "line 6: has 5 fields but the header has 11 columns",
        "line 7: field `contact_channel`: `fax` is not a contact channel; expected one of: phone,",
        "line 8: field `email`: `ani@example` is not a valid email address (its domain `example` needs a dot",
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
    assert_eq!(lines, ["3", "4", "5", "6", "7", "8"]);
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
    csv_text_is_cleaned_and_nul_refused,
    jsonl_text_is_cleaned_and_nul_refused,
    posted_text_is_cleaned_and_nul_refused,
    sql_source_text_is_cleaned_and_nul_refused,
    closing_times_more_than_a_day_ahead_are_refused,
    standard_input_is_read_and_named,
    the_exit_status_says_whether_the_import_did_its_job,
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
    let options = options(FileFormat::Csv, None);
    let input = Input::File("/nonexistent/c.csv".into());
    let err = import_file(&db.store, &input, options, &Clock::system())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/c.csv"),
        "{err}"
    );
}

/// A contact with a line break or separator (CR, LF, CRLF, U+2028, U+2029) in every text
/// field, inside or around its value, in the import format.
const BROKEN: [(&str, &str); 18] = [
    ("contact_id", "T-\r\n9"),
    ("closed_at", "2026-11-20\u{2028}10:00"),
    ("opened_at", "2026-11-20\n09:30"),
    ("customer_id", "C-\r9"),
    ("customer_name", "Budi\nSantoso"),
    ("email", "\r\nbudi@example.co.id\u{2028}"),
    ("phone", "0812-3456-7890\r\n"),
    ("whatsapp", "\n+62 812 3456 7890"),
    ("locale", "id\r"),
    ("time_zone", "Asia/Makassar\u{2028}"),
    ("segment", "retail\u{2028}priority"),
    ("agent_id", "A-\n1"),
    ("agent_name", "Sari \r\n Wijaya"),
    ("team", "Bill\u{2029}ing"),
    ("contact_channel", "walk-in\n"),
    ("category", "billing\r\nrefund"),
    ("resolution", "\u{2028}resolved"),
    ("attr.note", "line one\r\nline two\u{2028}line three"),
];

/// What intake keeps of [`BROKEN`]: one line per column, the attribute's lines as LF.
fn kept() -> Value {
    json!({
        "contact_id": "T- 9",
        "closed_at": "2026-11-20T02:00:00Z",
        "opened_at": "2026-11-20T01:30:00Z",
        "customer_id": "C- 9",
        "customer_name": "Budi Santoso",
        "email": "budi@example.co.id",
        "phone": "+6281234567890",
        "whatsapp": "+6281234567890",
        "locale": "id",
        "time_zone": "Asia/Makassar",
        "segment": "retail priority",
        "agent_id": "A- 1",
        "agent_name": "Sari Wijaya",
        "team": "Bill ing",
        "contact_channel": "walk_in",
        "category": "billing refund",
        "resolution": "resolved",
        "attributes": {"note": "line one\nline two\nline three"},
    })
}

/// [`BROKEN`] with a NUL at the end of every value: refused, each field named.
fn with_nul() -> Vec<(&'static str, String)> {
    BROKEN.iter().map(|(k, v)| (*k, format!("{v}\0"))).collect()
}

/// A clean contact beside the bad one, in the columns of [`BROKEN`].
fn clean() -> Vec<(&'static str, String)> {
    let value = |key| match key {
        "contact_id" => "T-10",
        "closed_at" => "2026-11-20 10:00",
        "customer_id" => "C-10",
        _ => "",
    };
    BROKEN
        .iter()
        .map(|(k, _)| (*k, value(*k).to_owned()))
        .collect()
}

/// A contact as a JSON object of the import format (`attr.NAME` in `attributes`).
fn object<'k, 'v>(pairs: impl IntoIterator<Item = (&'k str, &'v str)>) -> Value {
    let mut object = serde_json::Map::new();
    let mut attributes = serde_json::Map::new();
    for (key, value) in pairs {
        match key.strip_prefix("attr.") {
            Some(name) => attributes.insert(name.into(), value.into()),
            None => object.insert(key.into(), value.into()),
        };
    }
    object.insert("attributes".into(), attributes.into());
    object.into()
}

fn pairs<'a>(row: &'a [(&'static str, String)]) -> impl Iterator<Item = (&'static str, &'a str)> {
    row.iter().map(|(k, v)| (*k, v.as_str()))
}

/// Asserts that intake stored [`BROKEN`] cleaned.
async fn assert_kept(db: &TestDb) {
    let stored = db
        .store
        .find_contact("T- 9")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(serde_json::to_value(&stored).unwrap(), kept());
}

/// Asserts that `reason` names every field of [`BROKEN`] as holding NUL.
fn assert_every_field_named(reason: &str) {
    for (field, _) in BROKEN {
        assert!(
            reason.contains(&format!("field `{field}`: contains a NUL character")),
            "`{field}` is not named in: {reason}"
        );
    }
}

async fn csv_text_is_cleaned_and_nul_refused(db: &TestDb) {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(BROKEN.iter().map(|(k, _)| k)).unwrap();
    writer.write_record(BROKEN.iter().map(|(_, v)| v)).unwrap();
    writer
        .write_record(with_nul().iter().map(|(_, v)| v))
        .unwrap();
    writer.write_record(clean().iter().map(|(_, v)| v)).unwrap();
    let file = writer.into_inner().unwrap();
    let imported = import(db, "c.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (3, 2, 1), "{r:?}");
    // The first row's quoted fields hold 13 line breaks: the second row starts on line 16.
    assert!(
        r.rejects[0].starts_with("line 16: field `contact_id`"),
        "{:?}",
        r.rejects
    );
    assert_every_field_named(&r.rejects[0]);
    assert_kept(db).await;
    assert!(db.store.find_contact("T-10").await.unwrap().is_some());
}

async fn jsonl_text_is_cleaned_and_nul_refused(db: &TestDb) {
    let lines = [
        object(BROKEN),
        object(pairs(&with_nul())),
        object(pairs(&clean())),
    ];
    let file = lines.map(|l| l.to_string()).join("\n");
    let imported = import(db, "c.jsonl", file.as_bytes()).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (3, 2, 1), "{r:?}");
    assert!(r.rejects[0].starts_with("line 2: "), "{:?}", r.rejects);
    assert_every_field_named(&r.rejects[0]);
    assert_kept(db).await;
}

/// An API token for `POST /v1/contacts`.
async fn api_token(db: &TestDb) -> String {
    let (token, hash) = surveyd::auth::new_token();
    db.store
        .create_token("helpdesk", &hash, Utc::now())
        .await
        .unwrap();
    token
}

async fn posted_text_is_cleaned_and_nul_refused(db: &TestDb) {
    let token = api_token(db).await;
    let (clock, _) = Clock::manual(at(NOW));
    let app = TestApp::spawn_with_clock(db, db.settings(), clock).await;
    let body = json!([
        object(BROKEN),
        object(pairs(&with_nul())),
        object(pairs(&clean()))
    ]);
    let response = app.post_json("/v1/contacts", Some(&token), &body).await;
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["inserted"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let errors = body["errors"].as_array().unwrap();
    let mut named: Vec<&str> = errors
        .iter()
        .inspect(|e| assert_eq!(e["index"], 1, "{e}"))
        .inspect(|e| {
            assert!(
                e["reason"].as_str().unwrap().starts_with("contains a NUL"),
                "{e}"
            )
        })
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut fields: Vec<&str> = BROKEN.iter().map(|(k, _)| *k).collect();
    fields.sort_unstable();
    assert_eq!(named, fields);
    assert_kept(db).await;
    app.stop().await;
}

async fn sql_source_text_is_cleaned_and_nul_refused(db: &TestDb) {
    use surveyd::campaign::schedule::Schedule;
    use surveyd::config::DatabaseUrl;
    use surveyd::intake::source::{SourceSettings, SqlSource};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/helpdesk.db", dir.path().display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let helpdesk = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
        .await
        .unwrap();
    let columns: Vec<String> = BROKEN.iter().map(|(k, _)| format!("\"{k}\"")).collect();
    sqlx::query(&format!("CREATE TABLE closed ({})", columns.join(", ")))
        .execute(&helpdesk)
        .await
        .unwrap();
    let insert = format!(
        "INSERT INTO closed VALUES ({})",
        vec!["?"; BROKEN.len()].join(", ")
    );
    let rows = [
        BROKEN.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        with_nul(),
        clean(),
    ];
    for row in rows {
        let mut query = sqlx::query(&insert);
        for (_, value) in row {
            query = query.bind(Some(value).filter(|v| !v.is_empty()));
        }
        query.execute(&helpdesk).await.unwrap();
    }
    let settings = SourceSettings {
        name: "helpdesk".into(),
        url: DatabaseUrl::parse(&url).unwrap(),
        query: "SELECT * FROM closed".into(),
        schedule: Schedule::Every(std::time::Duration::from_secs(300)),
        batch_size: 100,
        settle: std::time::Duration::from_secs(60),
    };
    let source = SqlSource::new(
        &settings,
        ParseContext::of(&db.settings().defaults),
        std::time::Duration::from_secs(300),
    )
    .unwrap();
    let (clock, _) = Clock::manual(at(NOW));
    let report = source.poll(&db.store, &clock, "daemon-a").await.unwrap();
    assert_eq!(
        (report.read, report.inserted, report.rejected),
        (3, 2, 1),
        "{report:?}"
    );
    let reject = &report.rejects[0];
    assert!(reject.starts_with("contact T-\\r\\n9\\0: "), "{reject}");
    assert_every_field_named(reject);
    assert_kept(db).await;
}

/// Line numbers as an editor shows them: CRLF line ends, blank lines, a quoted field over
/// three lines; in the report and in the rejects file.
#[tokio::test]
async fn rejects_name_the_physical_line_they_start_on() {
    let db = TestDb::sqlite().await;
    let file = [
        CSV_HEADER,
        GOOD_1,
        "",
        "T-3,yesterday,C-3,,,,,,,,",
        "T-4,2026-11-20 10:00,C-4,\"Budi",
        "Santoso",
        "Jr\",,,,,,,",
        "T-5,2026-11-20 10:00,,,,,,,,,",
        "",
        "",
        "T-6,2026-11-20 10:00,C-6,Ani,ani@example,,,,,,",
        "",
    ]
    .join("\r\n");
    let imported = import(&db, "c.csv", file.as_bytes()).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (5, 2, 3), "{r:?}");
    let lines: Vec<&str> = r
        .rejects
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    assert_eq!(lines, ["line 4", "line 8", "line 11"]);
    let t4 = db.store.find_contact("T-4").await.unwrap().unwrap();
    assert_eq!(t4.customer_name.as_deref(), Some("Budi Santoso Jr"));

    let mut rows = csv::Reader::from_reader(imported.rejects.as_bytes());
    let lines: Vec<String> = rows.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(lines, ["4", "8", "11"]);

    let jsonl = [
        r#"{"contact_id": "J-1", "closed_at": "2026-11-20 10:00", "customer_id": "C-1"}"#,
        "",
        r#"{"contact_id": "J-2", "closed_at": "2026-11-20 10:00"}"#,
        r#"{"contact_id": "J-3", "#,
    ]
    .join("\r\n");
    let imported = import(&db, "c.jsonl", jsonl.as_bytes()).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (3, 1, 2), "{r:?}");
    assert!(
        r.rejects[0].starts_with("line 3: field `customer_id`"),
        "{:?}",
        r.rejects
    );
    assert!(
        r.rejects[1].starts_with("line 4: is not a JSON object"),
        "{:?}",
        r.rejects
    );
    let lines: Vec<u64> = imported
        .rejects
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, [3, 4]);
}

/// A quoted field never closed stops the import at the line where it opened; the rows
/// before it (more than a batch of them) are imported, the rejects before it kept.
#[tokio::test]
async fn an_unclosed_quote_is_named_and_the_rows_before_it_kept() {
    let db = TestDb::sqlite().await;
    let file = csv(&[
        GOOD_1,
        GOOD_2,
        "T-3,2026-11-20 10:00,C-3,Ani,,,,,,,",
        "T-4,bad,C-4,,,,,,,,",
        "T-5,2026-11-20 10:00,C-5,Dewi,,,,,,,",
        "T-6,2026-11-20 10:00,C-6,\"Rina,,,,,,,",
        "T-7,2026-11-20 10:00,C-7,Agus,,,,,,,",
    ]);
    let imported = import(&db, "contacts.csv", &file).await;
    let r = imported.report();
    assert_eq!((r.read, r.inserted, r.rejected), (5, 4, 1), "{r:?}");
    let stopped = r.stopped.as_deref().unwrap();
    assert!(
        stopped.ends_with(
            "contacts.csv: line 7: a quoted field opened here is never closed; the rows before \
             this one were imported, nothing from it on (importing the fixed input again is safe)"
        ),
        "{stopped}"
    );
    assert_eq!(r.failure().as_deref(), Some(stopped));
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 4);
    assert!(db.store.find_contact("T-6").await.unwrap().is_none());
    assert!(imported.rejects.contains("T-4"), "{}", imported.rejects);
}

async fn closing_times_more_than_a_day_ahead_are_refused(db: &TestDb) {
    let now = at(NOW);
    let file = csv(&[
        "T-1,2026-11-22 07:00,C-1,,,,,,,,",
        "T-2,2026-11-22 07:01,C-2,,,,,,,,",
        "T-3,2027-01-05 09:00,C-3,,,,,,,,",
    ]);
    let imported = import_at(db, "c.csv", &file, now).await;
    let r = imported.report();
    assert_eq!((r.inserted, r.rejected), (1, 2), "{r:?}");
    assert_eq!(
        r.rejects,
        [
            "line 3: field `closed_at`: `2026-11-22 07:01` is more than a day in the future (it is 2026-11-21 07:00 WIB now)",
            "line 4: field `closed_at`: `2027-01-05 09:00` is more than a day in the future (it is 2026-11-21 07:00 WIB now)",
        ]
    );
    // The clock moved on: the same file imports.
    let later = import_at(db, "c.csv", &file, at("2027-01-05T00:00:00Z")).await;
    assert_eq!(later.report().inserted, 2);

    let token = api_token(db).await;
    let (clock, hand) = Clock::manual(now);
    let app = TestApp::spawn_with_clock(db, db.settings(), clock).await;
    let ahead =
        json!({"contact_id": "H-1", "closed_at": "2026-11-23T00:00:00Z", "customer_id": "C-1"});
    let response = app.post_json("/v1/contacts", Some(&token), &ahead).await;
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"],
        json!([{"index": 0, "field": "closed_at", "reason": "`2026-11-23T00:00:00Z` is more than a day in the future (it is 2026-11-21 07:00 WIB now)"}])
    );
    hand.advance(Duration::days(1));
    let response = app.post_json("/v1/contacts", Some(&token), &ahead).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    app.stop().await;
}

/// `surveyd contacts import` run in `dir` on `db`, fed `stdin`.
async fn run_import(
    db: &TestDb,
    dir: &Path,
    args: &[&str],
    stdin: &[u8],
) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_surveyd"));
    command
        .current_dir(dir)
        .args(["contacts", "import"])
        .args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SURVEYD_")) {
        command.env_remove(key);
    }
    let mut child = command
        .env("SURVEYD_DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn standard_input_is_read_and_named(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let file = csv(&[GOOD_1, "T-3,yesterday,C-3,,,,,,,,", GOOD_2]);
    let (ok, stdout, stderr) = run_import(db, dir.path(), &["-"], &file).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("read 3, inserted 2, updated 0, unchanged 0, duplicates 0, rejected 1"),
        "{stdout}"
    );
    assert!(
        stderr.contains("rejected: line 3: field `closed_at`"),
        "{stderr}"
    );
    assert_eq!(db.store.table_counts().await.unwrap().contacts, 2);

    let jsonl = br#"{"contact_id": "J-1", "closed_at": "2026-11-20 10:00", "customer_id": "C-1"}"#;
    let (ok, stdout, stderr) =
        run_import(db, dir.path(), &["-", "--format", "jsonl", "--json"], jsonl).await;
    assert!(ok, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["inserted"], 1);

    let (ok, _, stderr) = run_import(db, dir.path(), &["-"], b"name,email\nBudi,b@x.id\n").await;
    assert!(!ok);
    assert!(
        stderr.contains("error: standard input: line 1: the header lacks the required column(s)"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run_import(db, dir.path(), &["-"], b"").await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: standard input is empty"),
        "{stderr}"
    );
    assert!(stdout.contains("read 0,"), "{stdout}");
}

async fn the_exit_status_says_whether_the_import_did_its_job(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str, content: &[u8]| std::fs::write(dir.path().join(name), content).unwrap();
    write(
        "bad.csv",
        &csv(&["T-1,yesterday,C-1,,,,,,,,", "T-2,2026-11-20 10:00,,,,,,,,,"]),
    );
    let (ok, stdout, stderr) =
        run_import(db, dir.path(), &["bad.csv", "--rejects", "r.csv"], b"").await;
    assert!(!ok, "every row rejected fails the import");
    assert!(
        stdout.contains("read 2, inserted 0, updated 0, unchanged 0, duplicates 0, rejected 2"),
        "{stdout}"
    );
    assert!(
        stderr.contains("rejected: line 3: field `customer_id`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: all 2 rows were rejected"),
        "{stderr}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(
        rejects.contains("\n2,closed_at,") && rejects.contains("\n3,customer_id,"),
        "{rejects}"
    );

    write("header.csv", format!("{CSV_HEADER}\n").as_bytes());
    let (ok, stdout, stderr) = run_import(db, dir.path(), &["header.csv"], b"").await;
    assert!(ok, "a header without rows is not a failure: {stderr}");
    assert!(stdout.contains("read 0,"), "{stdout}");
    assert!(stderr.contains("header.csv holds no records"), "{stderr}");

    write(
        "open.csv",
        &csv(&[GOOD_1, "T-2,2026-11-20 10:00,C-2,\"Jane,,,,,,,", GOOD_2]),
    );
    let (ok, stdout, stderr) = run_import(db, dir.path(), &["open.csv", "--json"], b"").await;
    assert!(!ok, "an import that stopped part way fails");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (summary["read"].as_u64(), summary["inserted"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        stderr.contains("error: open.csv: line 3: a quoted field opened here is never closed"),
        "{stderr}"
    );
    assert_eq!(
        summary["stopped"].as_str().map(|s| stderr.contains(s)),
        Some(true)
    );

    write("good.csv", &csv(&[GOOD_1, "T-2,yesterday,C-2,,,,,,,,"]));
    let (ok, _, stderr) = run_import(db, dir.path(), &["good.csv"], b"").await;
    assert!(ok, "a file with some good rows succeeds: {stderr}");
}

#[test]
fn the_help_names_the_exit_status_and_the_json_switch() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_surveyd"))
        .args(["contacts", "import", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for words in [
        "or `-` for standard input",
        "Print the summary as JSON (--format is the input's format)",
        "Exit status: 0 when the input was read to its end and at least one row was good",
        "when every row was rejected",
    ] {
        assert!(
            help.contains(words),
            "import --help lacks `{words}`:\n{help}"
        );
    }
}
