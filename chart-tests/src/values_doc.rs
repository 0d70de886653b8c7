//! The chart README's values table, generated from values.yaml in the helm-docs convention: a
//! `# -- description` comment (continued by the `#` lines right after it) documents the key on
//! the next line. Every leaf value gets a row; a documented map gets one row with its whole
//! default (its documented children get rows of their own). helm-docs itself is a GitHub
//! download, so this small generator stands in for it; `just chart-readme` rewrites the table.

use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

/// Where the table goes in the README.
pub const START: &str = "<!-- values-table:start (generated from values.yaml by `just chart-readme`) -->";
pub const END: &str = "<!-- values-table:end -->";

/// Descriptions by dotted key path, from the `# --` comments of values.yaml.
pub fn descriptions(values_yaml: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<String> = None;
    for line in values_yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            match (comment.strip_prefix("-- "), pending.as_mut()) {
                (Some(start), _) => pending = Some(start.trim().to_owned()),
                (None, Some(description)) => {
                    description.push(' ');
                    description.push_str(comment.trim());
                }
                (None, None) => {}
            }
            continue;
        }
        let key = trimmed.split_once(':').map(|(key, _)| key).filter(|key| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        });
        let Some(key) = key else {
            // A blank line or anything else ends a description that documents nothing.
            pending = None;
            continue;
        };
        while stack.last().is_some_and(|(depth, _)| *depth >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_owned()));
        if let Some(description) = pending.take() {
            let path: Vec<&str> = stack.iter().map(|(_, key)| key.as_str()).collect();
            found.insert(path.join("."), description);
        }
    }
    found
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub kind: &'static str,
    pub default: String,
    pub description: String,
}

/// The rows for values.yaml, in file order.
pub fn rows(values_yaml: &str) -> Vec<Row> {
    let descriptions = descriptions(values_yaml);
    let values: Value = serde_yaml::from_str(values_yaml).expect("values.yaml parses");
    let mut rows = Vec::new();
    walk(values.as_mapping().expect("values.yaml is a map"), "", &descriptions, false, &mut rows);
    rows
}

fn walk(map: &Mapping, prefix: &str, docs: &BTreeMap<String, String>, documented_only: bool, rows: &mut Vec<Row>) {
    for (key, value) in map {
        let key = key.as_str().expect("string keys in values.yaml");
        let path = if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
        let nested = value.as_mapping().filter(|map| !map.is_empty());
        match (docs.get(&path), nested) {
            (Some(description), nested) => {
                rows.push(row(&path, value, description));
                if let Some(map) = nested {
                    walk(map, &path, docs, true, rows);
                }
            }
            (None, Some(map)) => walk(map, &path, docs, documented_only, rows),
            (None, None) if !documented_only => rows.push(row(&path, value, "")),
            (None, None) => {}
        }
    }
}

fn row(path: &str, value: &Value, description: &str) -> Row {
    let kind = match value {
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "object",
        Value::Null | Value::Tagged(_) => "null",
    };
    Row { key: path.to_owned(), kind, default: json(value), description: description.to_owned() }
}

/// A value as compact JSON, the way helm-docs shows defaults.
fn json(value: &Value) -> String {
    match value {
        Value::Null | Value::Tagged(_) => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => format!("{text:?}"),
        Value::Sequence(items) => format!("[{}]", items.iter().map(json).collect::<Vec<_>>().join(",")),
        Value::Mapping(map) => format!(
            "{{{}}}",
            map.iter().map(|(key, value)| format!("{}:{}", json(key), json(value))).collect::<Vec<_>>().join(",")
        ),
    }
}

/// The Markdown table, between the markers.
pub fn table(values_yaml: &str) -> String {
    // Pipes would end the cell; <release> would read as an HTML tag.
    let cell = |text: &str| text.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;");
    let mut out = format!("{START}\n| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n");
    for row in rows(values_yaml) {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            cell(&row.key),
            row.kind,
            cell(&row.default),
            cell(&row.description)
        ));
    }
    out.push_str(END);
    out
}

/// The README with its table replaced by a fresh one; None when the markers are missing.
pub fn update(readme: &str, values_yaml: &str) -> Option<String> {
    let start = readme.find(START)?;
    let end = readme[start..].find(END)? + start + END.len();
    Some(format!("{}{}{}", &readme[..start], table(values_yaml), &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "\
# A header comment documents nothing.

# -- The name.
name: \"\"
image:
  # -- Repository, on
  # two lines.
  repository: todo/web
  tag: \"\"
# -- Resources, as one row.
resources:
  requests: {cpu: 10m}
  # -- A documented child of a documented map.
  limits: {memory: 32Mi}
empty: {}
list: [a, b]
replicas: null
";

    #[test]
    fn rows_follow_the_helm_docs_convention() {
        let rows = rows(VALUES);
        let summary: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|row| (row.key.as_str(), row.kind, row.default.as_str(), row.description.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("name", "string", "\"\"", "The name."),
                ("image.repository", "string", "\"todo/web\"", "Repository, on two lines."),
                ("image.tag", "string", "\"\"", ""),
                (
                    "resources",
                    "object",
                    "{\"requests\":{\"cpu\":\"10m\"},\"limits\":{\"memory\":\"32Mi\"}}",
                    "Resources, as one row."
                ),
                ("resources.limits", "object", "{\"memory\":\"32Mi\"}", "A documented child of a documented map."),
                ("empty", "object", "{}", ""),
                ("list", "list", "[\"a\",\"b\"]", ""),
                ("replicas", "null", "null", ""),
            ]
        );
    }

    #[test]
    fn the_table_replaces_only_the_marked_region() {
        let readme = format!("# Chart\nbefore\n{START}\nold table\n{END}\nafter\n");
        let updated = update(&readme, "# -- A | pipe, a <tag>.\nkey: 1\n").unwrap();
        assert!(updated.starts_with("# Chart\nbefore\n"));
        assert!(updated.ends_with(&format!("{END}\nafter\n")));
        assert!(updated.contains("| key | int | `1` | A \\| pipe, a &lt;tag&gt;. |"), "{updated}");
        assert!(!updated.contains("old table"));
        assert_eq!(update("no markers", "key: 1\n"), None);
    }
}
