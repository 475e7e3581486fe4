//! The README's quick start and walkthrough, run as written: every `sh` block of those sections
//! is read from README.md, each `cargo run --release -- …` line runs the binary under test
//! (other lines run in `sh`), in a fresh folder holding only what a fresh clone has beside it
//! (`examples/`). A `# → text` comment is what the command's output must show. The browser
//! step (open the printed link, send the form) is done over HTTP as a browser would. So the
//! README cannot drift from what works, on any day.

use crate::support;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One command of the README and what its output must show.
struct Step {
    command: String,
    expect: Option<String>,
}

/// The `sh` blocks under the headings that start with one of `sections`.
fn steps(readme: &str, sections: &[&str]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut in_section = false;
    let mut in_block = false;
    for line in readme.lines() {
        if line.starts_with("## ") {
            in_section = sections.iter().any(|s| line[3..].starts_with(s));
            continue;
        }
        if line.starts_with("```") {
            in_block = in_section && !in_block && line.trim() == "```sh";
            continue;
        }
        if !in_block || line.trim().is_empty() {
            continue;
        }
        let (command, comment) = match line.find(" # ") {
            Some(at) => (&line[..at], Some(line[at + 3..].trim())),
            None => (line, None),
        };
        steps.push(Step {
            command: command.trim().to_owned(),
            expect: comment
                .and_then(|c| c.strip_prefix("→ "))
                .map(|e| e.trim().to_owned()),
        });
    }
    steps
}

/// A shell command with the README's `cargo run --release --` as the binary under test.
fn shell(dir: &Path, command: &str, env: &[(&str, String)]) -> Command {
    let binary = env!("CARGO_BIN_EXE_surveyd");
    let command = command.replace("cargo run --release --", binary);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SURVEYD_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quick_start_and_walkthrough_work_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let quick_start = steps(&readme, &["Quick start"]);
    let walkthrough = steps(&readme, &["Walkthrough"]);
    assert!(
        quick_start.iter().any(|s| s.command.ends_with("-- serve")),
        "the quick start starts the daemon"
    );
    assert!(walkthrough.iter().any(|s| s.command.contains("-- demo")));

    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")),
        &dir.path().join("examples"),
    );
    // The README's address, on a free port (other tests run beside this one).
    let port = support::free_port();
    let env = [
        ("SURVEYD_HTTP_LISTEN", format!("127.0.0.1:{port}")),
        (
            "SURVEYD_SURVEY_PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        ),
    ];

    let mut daemon = None;
    for step in &quick_start {
        if step.command == "cargo test" {
            continue; // this is it
        }
        if step.command.ends_with("-- serve") {
            let mut child = shell(dir.path(), &format!("exec {}", step.command), &env)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(
                line.starts_with("surveyd listening on"),
                "serve printed {line:?}"
            );
            daemon = Some(Daemon(child));
            continue;
        }
        panic!(
            "a quick-start command this test does not know: {}",
            step.command
        );
    }
    let _daemon = daemon.expect("the daemon runs");

    let client = reqwest::Client::new();
    let mut link: Option<String> = None;
    let mut answered = false;
    for step in &walkthrough {
        // The browser step (between the outbox and the report): open the link, send the form.
        if step.command.contains("-- report") && !answered {
            answer(&client, link.as_deref().expect("demo printed a link")).await;
            answered = true;
        }
        // What the daemon does in the background shows within seconds: read-only commands are
        // asked again until their output shows it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let output = loop {
            let out = shell(dir.path(), &step.command, &env).output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{}: {stdout}{stderr}", step.command);
            let shown = step
                .expect
                .as_ref()
                .is_none_or(|e| stdout.contains(e.as_str()));
            let writes = step.command.contains("-- demo") || step.command.contains(" import ");
            if shown || writes || Instant::now() > deadline {
                if let Some(expect) = &step.expect {
                    assert!(
                        stdout.contains(expect.as_str()),
                        "{}: no {expect:?} in\n{stdout}",
                        step.command
                    );
                }
                break stdout;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if step.command.contains("-- demo") {
            link = output
                .lines()
                .find(|l| l.starts_with("http://"))
                .map(str::to_owned);
        }
    }
    assert!(answered, "the walkthrough answers and reports");
}

/// What a customer's browser does with the demo's link: shows the survey, sends the form.
async fn answer(client: &reqwest::Client, link: &str) {
    let page = client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("lang=\"id\""),
        "the survey shows in Indonesian:\n{html}"
    );
    assert!(
        html.contains("value=\"4\" checked"),
        "4 preselected:\n{html}"
    );
    let action = link.split('?').next().unwrap();
    let sent = client
        .post(action)
        .form(&[
            ("csat", "4"),
            ("resolved", "yes"),
            ("comment", "Cepat dan ramah"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
}

/// Every relative link in README.md and docs/ leads somewhere: the file exists, and a
/// `#fragment` names a heading of the page it points to (GitHub's anchors: lower case, spaces
/// as `-`, punctuation dropped).
#[test]
fn every_relative_link_in_the_docs_resolves() {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    // Each page's links (with the line they are on) and its headings' anchors.
    let read = |page: &Path| {
        let text = std::fs::read_to_string(page).unwrap();
        let (mut links, mut anchors, mut heading) = (Vec::new(), Vec::new(), None::<String>);
        for (event, at) in Parser::new_ext(&text, Options::all()).into_offset_iter() {
            match event {
                Event::Start(Tag::Link { dest_url, .. }) => {
                    let line = text[..at.start].lines().count().max(1);
                    links.push((dest_url.to_string(), line));
                }
                Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
                Event::Text(t) | Event::Code(t) if heading.is_some() => {
                    heading.as_mut().unwrap().push_str(&t)
                }
                Event::End(TagEnd::Heading(_)) => {
                    let title = heading.take().unwrap().to_lowercase();
                    anchors.push(
                        title
                            .chars()
                            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                            .map(|c| if c == ' ' { '-' } else { c })
                            .collect::<String>(),
                    );
                }
                _ => {}
            }
        }
        (links, anchors)
    };
    let mut broken = Vec::new();
    for page in &pages {
        let (links, own_anchors) = read(page);
        for (link, line) in links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let name = format!(
                "{}:{line}: {link}",
                page.strip_prefix(root).unwrap().display()
            );
            if !target.exists() {
                broken.push(format!("{name}: no such file"));
            } else if !fragment.is_empty() {
                let anchors = if file.is_empty() {
                    own_anchors.clone()
                } else if target.extension().is_some_and(|e| e == "md") {
                    read(&target).1
                } else {
                    continue;
                };
                if !anchors.iter().any(|a| a == fragment) {
                    broken.push(format!("{name}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(pages.len() > 10, "{pages:?}");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// docs/configuration.md's reference table against the settings themselves: every key of
/// `config/default.toml` and every optional key surveyd accepts has a row (campaigns, gateways
/// and sources aside: their entries are named, and each has its own section), every row names a key that exists, and each default the table
/// states is the embedded default, so the reference cannot drift from the code.
#[test]
fn the_configuration_reference_matches_the_embedded_defaults() {
    use surveyd::config::OPTIONAL_KEYS as OPTIONAL;
    use toml::Value;

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let defaults: toml::Table = toml::from_str(surveyd::config::DEFAULT_TOML).unwrap();
    let mut leaves = Vec::new();
    fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, Value)>) {
        for (key, value) in table {
            let key = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Table(inner) if !inner.is_empty() => flatten(&key, inner, out),
                _ => out.push((key, value.clone())),
            }
        }
    }
    flatten("", &defaults, &mut leaves);
    leaves.retain(|(key, _)| !key.starts_with("campaigns"));
    let default_of = |key: &str| {
        let mut value = None::<&Value>;
        for step in key.split('.') {
            value = match value {
                None => defaults.get(step),
                Some(Value::Table(table)) => table.get(step),
                Some(_) => None,
            };
            value?;
        }
        value
    };

    // The rows of the table under `| Key | Default | Meaning |`.
    let page = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let mut rows = Vec::new();
    let mut in_table = false;
    for (n, line) in page.lines().enumerate() {
        if line.starts_with("| Key | Default |") {
            in_table = true;
        } else if in_table && !line.starts_with('|') {
            break;
        } else if in_table && !line.starts_with("|---") {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            rows.push((n + 1, cells[1].to_owned(), cells[2].to_owned()));
        }
    }
    assert!(
        rows.len() > 50,
        "the reference table was not found: {rows:?}"
    );
    // `a`, `b`: the spans in backquotes; outside them, items are split at top-level commas.
    let spans = |cell: &str| -> Vec<String> {
        cell.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s.to_owned())
            .collect()
    };
    let items = |cell: &str| -> Vec<String> {
        let mut items = vec![String::new()];
        let (mut quoted, mut depth) = (false, 0);
        for c in cell.chars() {
            match c {
                '`' => quoted = !quoted,
                '{' | '[' if quoted => depth += 1,
                '}' | ']' if quoted => depth -= 1,
                ',' if !quoted && depth == 0 => {
                    items.push(String::new());
                    continue;
                }
                _ => {}
            }
            items.last_mut().unwrap().push(c);
        }
        items.into_iter().map(|i| i.trim().to_owned()).collect()
    };

    let mut documented = Vec::new();
    let mut problems = Vec::new();
    for (line, key_cell, default_cell) in &rows {
        // `.b` after `x.a` is `x.b`.
        let mut keys: Vec<String> = Vec::new();
        for span in spans(key_cell) {
            let key = match span.strip_prefix('.') {
                Some(rest) => {
                    let previous = keys.last().expect("a `.key` follows a whole key");
                    format!("{}.{rest}", previous.rsplit_once('.').unwrap().0)
                }
                None => span,
            };
            keys.push(key);
        }
        let stated_defaults = items(default_cell);
        for (i, key) in keys.iter().enumerate() {
            documented.push(key.clone());
            let known = leaves
                .iter()
                .any(|(k, _)| k == key || k.starts_with(&format!("{key}.")))
                || OPTIONAL.iter().any(|p| {
                    let p = p.trim_end_matches('=');
                    p == key || p.starts_with(&format!("{key}."))
                })
                || key == "gateways.NAME";
            if !known {
                problems.push(format!(
                    "docs/configuration.md:{line}: `{key}` is no setting"
                ));
                continue;
            }
            let stated = stated_defaults.get(i).or(stated_defaults.last()).unwrap();
            match (default_of(key), spans(stated).first()) {
                (Some(actual), Some(text)) => {
                    let written = toml::from_str::<toml::Table>(&format!("v = {text}"))
                        .map(|mut t| t.remove("v").unwrap())
                        .unwrap_or_else(|_| Value::String(text.clone()));
                    if &written != actual {
                        problems.push(format!(
                            "docs/configuration.md:{line}: `{key}` is documented as {text}, its default is {actual}"
                        ));
                    }
                }
                (Some(actual), None) => problems.push(format!(
                    "docs/configuration.md:{line}: `{key}` is documented as {stated}, its default is {actual}"
                )),
                // An optional key's default, when it has one, is the code's.
                (None, _) => {}
            }
        }
    }
    let covered = |key: &str| {
        documented.iter().any(|d| {
            d == key || key.starts_with(&format!("{d}.")) || d.starts_with(&format!("{key}."))
        })
    };
    for (key, _) in &leaves {
        if !covered(key) {
            problems.push(format!("`{key}` (config/default.toml) has no row"));
        }
    }
    for pattern in OPTIONAL {
        let key = pattern.trim_end_matches('=').trim_end_matches(".*");
        let named = ["gateways.", "campaigns.", "sources."];
        if !named.iter().any(|n| key.starts_with(n)) && !covered(key) {
            problems.push(format!("`{key}` (an optional setting) has no row"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md's reference table:\n{}",
        problems.join("\n")
    );
}
