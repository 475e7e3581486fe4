//! The tree of known keys a variable's name is read against: the embedded defaults', the
//! file's and the optional ones, named entries by their names, `*` levels by pattern.

use super::{OPTIONAL, PREFIX, Step};
use figment::value::{Dict, Value};
use std::collections::BTreeMap;

/// The keys known at one level.
#[derive(Debug, Default)]
pub(super) struct Node {
    /// Keys by their name as written (a team's `Billing`), with the entry's position when the
    /// level is a list of named tables.
    children: BTreeMap<String, (Option<usize>, Node)>,
    /// What any other name at this level holds (`gateways.*`).
    any: Option<Box<Node>>,
    /// A leaf whose value is text.
    text: bool,
}

impl Node {
    /// The keys of `known` and of [`OPTIONAL`].
    pub(super) fn of(known: &Dict) -> Node {
        let mut root = Node::default();
        root.add_data(known);
        for pattern in OPTIONAL {
            let (path, text) = match pattern.strip_suffix('=') {
                Some(path) => (path, false),
                None => (*pattern, true),
            };
            root.add_pattern(&path.split('.').collect::<Vec<_>>(), text);
        }
        // A named entry of a list takes the keys any entry may have.
        root.share_patterns();
        root
    }

    fn add_data(&mut self, dict: &Dict) {
        for (key, value) in dict {
            let child = &mut self.children.entry(key.clone()).or_default().1;
            child.add_value(value);
        }
    }

    fn add_value(&mut self, value: &Value) {
        match value {
            Value::Dict(_, dict) => self.add_data(dict),
            Value::String(..) => self.text = true,
            Value::Array(_, items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Dict(_, dict) = item
                        && let Some(Value::String(_, name)) = dict.get("name")
                    {
                        let entry = self.children.entry(name.clone()).or_default();
                        entry.0 = Some(i);
                        entry.1.add_data(dict);
                    }
                }
            }
            _ => {}
        }
    }

    fn add_pattern(&mut self, path: &[&str], text: bool) {
        let Some((first, rest)) = path.split_first() else {
            self.text = text;
            return;
        };
        let child = if *first == "*" {
            self.any.get_or_insert_with(Default::default)
        } else {
            &mut self.children.entry((*first).to_owned()).or_default().1
        };
        child.add_pattern(rest, text);
    }

    fn share_patterns(&mut self) {
        if let Some(any) = &self.any {
            let any = any.clone_keys();
            for (_, child) in self.children.values_mut() {
                child.merge_keys(&any);
            }
        }
        for (_, child) in self.children.values_mut() {
            child.share_patterns();
        }
        if let Some(any) = &mut self.any {
            any.share_patterns();
        }
    }

    fn clone_keys(&self) -> Node {
        Node {
            children: self
                .children
                .iter()
                .map(|(k, (i, n))| (k.clone(), (*i, n.clone_keys())))
                .collect(),
            any: self.any.as_ref().map(|a| Box::new(a.clone_keys())),
            text: self.text,
        }
    }

    fn merge_keys(&mut self, other: &Node) {
        for (key, (_, node)) in &other.children {
            self.children
                .entry(key.clone())
                .or_default()
                .1
                .merge_keys(node);
        }
        if let Some(any) = &other.any {
            self.any
                .get_or_insert_with(Default::default)
                .merge_keys(any);
        }
        self.text |= other.text;
    }

    fn is_leaf(&self) -> bool {
        self.children.is_empty() && self.any.is_none()
    }

    /// The key a variable's name (without the prefix) names, and whether its value is text.
    pub(super) fn resolve_name(&self, name: &str) -> Option<(Vec<Step>, bool)> {
        if name.contains("__") {
            let parts: Vec<String> = name.split("__").map(str::to_ascii_lowercase).collect();
            return self.walk(&parts);
        }
        self.resolve(&name.to_ascii_lowercase())
    }

    /// Follows explicit levels (`__`-separated), matching names without regard to case.
    fn walk(&self, parts: &[String]) -> Option<(Vec<Step>, bool)> {
        let Some((first, rest)) = parts.split_first() else {
            return Some((Vec::new(), self.text));
        };
        let (steps, node) = match self
            .children
            .iter()
            .find(|(k, _)| normalise(k) == normalise(first))
        {
            Some((key, (index, node))) => (steps_for(key, *index), node),
            None => (vec![Step::Key(first.clone())], self.any.as_deref()?),
        };
        let (mut tail, text) = node.walk(rest)?;
        let mut key = steps;
        key.append(&mut tail);
        Some((key, text))
    }

    /// Matches `rest` (lower case, `_`-joined) against the known keys, longest names first.
    fn resolve(&self, rest: &str) -> Option<(Vec<Step>, bool)> {
        let mut children: Vec<_> = self.children.iter().collect();
        children.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (key, (index, node)) in children {
            let name = normalise(key);
            if rest == name {
                return Some((steps_for(key, *index), node.text));
            }
            if let Some(tail) = rest.strip_prefix(&name).and_then(|t| t.strip_prefix('_'))
                && let Some((mut tail, text)) = node.resolve(tail)
            {
                let mut key = steps_for(key, *index);
                key.append(&mut tail);
                return Some((key, text));
            }
        }
        let any = self.any.as_deref()?;
        if any.is_leaf() {
            return Some((vec![Step::Key(rest.to_owned())], any.text));
        }
        // A new name: it ends where a key of its entry begins.
        for (at, _) in rest.match_indices('_') {
            if let Some((mut tail, text)) = any.resolve(&rest[at + 1..]) {
                let mut key = vec![Step::Key(rest[..at].to_owned())];
                key.append(&mut tail);
                return Some((key, text));
            }
        }
        None
    }

    /// Every variable name this tree knows, for suggestions.
    fn names(&self, prefix: &str, out: &mut Vec<String>) {
        for (key, (_, node)) in &self.children {
            let name = if prefix.is_empty() {
                normalise(key)
            } else {
                format!("{prefix}_{}", normalise(key))
            };
            if node.is_leaf() {
                out.push(name.to_ascii_uppercase());
            }
            node.names(&name, out);
        }
    }

    pub(super) fn closest(&self, name: &str) -> Option<String> {
        let mut names = Vec::new();
        self.names("", &mut names);
        names
            .into_iter()
            .map(|n| (strsim::jaro_winkler(&n, name), n))
            .filter(|(score, _)| *score > 0.9)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| format!("{PREFIX}{n}"))
    }
}

fn steps_for(key: &str, index: Option<usize>) -> Vec<Step> {
    match index {
        Some(i) => vec![Step::Index(i)],
        None => vec![Step::Key(key.to_owned())],
    }
}

/// A name as a variable writes it: lower case, `-` as `_`.
pub(super) fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}
