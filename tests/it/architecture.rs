//! The crate's shape, checked from its own source: the layers listed under `# Layers` in
//! `src/lib.rs`, every top-level module in one of them, imports (`crate::…`) only toward the
//! same or a lower layer and never in a circle, and the HTTP crates (axum, hyper, tower-http)
//! only under `src/http/`. Test modules (`#[cfg(test)] mod tests`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The HTTP server crates, which only the HTTP edge may name.
const HTTP_CRATES: [&str; 5] = [
    "axum::",
    "axum_extra::",
    "hyper::",
    "hyper_util::",
    "tower_http::",
];

/// Each listed module's layer, from lines `N. \`a\`, \`b\`: what they are` of the section.
fn layers(lib: &str) -> Result<BTreeMap<String, usize>, String> {
    let section = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .skip_while(|l| *l != "# Layers")
        .skip(1)
        .take_while(|l| !l.starts_with('#'));
    let mut layers = BTreeMap::new();
    for line in section {
        let Some((number, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(layer) = number.parse::<usize>() else {
            continue;
        };
        let names = rest.split(':').next().unwrap_or_default();
        for name in names.split(',') {
            let name = name.trim().trim_matches('`');
            if layers.insert(name.to_owned(), layer).is_some() {
                return Err(format!("`{name}` is listed in two layers"));
            }
        }
    }
    if layers.is_empty() {
        return Err("src/lib.rs has no `# Layers` section".into());
    }
    Ok(layers)
}

/// The source without comments and without its test module.
fn code(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    source
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` imports: `crate::name…` and the names of `use crate::{…}`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group, at brace depth 0.
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

/// What is wrong with `files` (path under `src/`, source) against the layers of `lib`.
fn problems(lib: &str, files: &[(String, String)]) -> Vec<String> {
    let layers = match layers(lib) {
        Ok(layers) => layers,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    for module in &modules {
        if !layers.contains_key(module) {
            problems.push(format!("module `{module}` is in no layer of src/lib.rs"));
        }
    }
    for listed in layers.keys() {
        if !modules.contains(listed) {
            problems.push(format!("layer lists `{listed}`, which is not a module"));
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, source) in files {
        let top = path.split('/').next().unwrap_or_default();
        let top = top.strip_suffix(".rs").unwrap_or(top).to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code(source);
        if top != "http" {
            for krate in HTTP_CRATES {
                if code.contains(krate) {
                    problems.push(format!(
                        "src/{path} names `{krate}`: HTTP belongs in src/http/"
                    ));
                }
            }
        }
        for to in imports(&code) {
            if to == top || !modules.contains(&to) {
                continue;
            }
            if let (Some(from_layer), Some(to_layer)) = (layers.get(&top), layers.get(&to))
                && to_layer > from_layer
            {
                problems.push(format!(
                    "src/{path} (`{top}`, layer {from_layer}) imports `{to}` (layer {to_layer}): \
                     imports run down"
                ));
            }
            graph.entry(top.clone()).or_default().insert(to);
        }
    }
    problems.extend(
        circles(&graph)
            .into_iter()
            .map(|c| format!("import circle: {}", c.join(" → "))),
    );
    problems
}

/// The circles of `graph`, each as a path back to its start.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            found.push(circle);
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn imports_run_down_the_layers_of_lib_rs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "read {} files of src/", files.len());
    let problems = problems(&lib, &files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_an_upward_import_a_circle_an_unlisted_module_and_axum() {
    let lib = "//! # Layers\n//!\n//! 1. `low`: below.\n//! 2. `high`, `other`: above.\n\
               pub mod high;\npub mod low;\npub mod other;\npub mod stray;\n";
    let files = [
        ("low.rs", "use crate::high::Thing;\n"),
        (
            "high/mod.rs",
            "use crate::{other, low::{a, b}};\nuse axum::Router;\n",
        ),
        ("other.rs", "fn f() { crate::high::g() }\n"),
        (
            "stray.rs",
            "#[cfg(test)]\nmod tests {\n use crate::high::x;\n}\n",
        ),
    ]
    .map(|(p, s)| (p.to_owned(), s.to_owned()));
    let found = problems(lib, &files);
    let has = |part: &str| found.iter().any(|p| p.contains(part));
    assert!(has("module `stray` is in no layer"), "{found:?}");
    assert!(
        has("src/low.rs (`low`, layer 1) imports `high` (layer 2)"),
        "{found:?}"
    );
    assert!(has("src/high/mod.rs names `axum::`"), "{found:?}");
    assert!(has("import circle:"), "{found:?}");
    // The test module's import is not counted: `stray` imports nothing.
    assert!(
        !found.iter().any(|p| p.contains("src/stray.rs")),
        "{found:?}"
    );
    assert_eq!(
        imports("crate::{a, b::{c, d}, e::f}; crate::g::h"),
        ["a", "b", "e", "g"].map(String::from).into()
    );
}
