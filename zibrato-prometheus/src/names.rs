//! Zibrato names and sources made legal for Prometheus.
//!
//! A Zibrato name may carry tags, `http.requests;method=GET;status=200` (read by the
//! rules every backend shares, [`zibrato_wire::tags`]); they become Prometheus labels. The
//! rest of the name becomes the metric name with every character outside
//! `[a-zA-Z0-9_:]` replaced by `_` (and a `_` in front of a leading digit).

use std::collections::BTreeMap;

/// Label names the worker sets itself; a tag with one of these names is renamed
/// `exported_<name>`, as Prometheus does for clashing target labels.
const OWN_LABELS: [&str; 3] = ["level", "source", "quantile"];

/// A name split into its metric name and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitName {
    /// The metric name, legal for Prometheus (without the `_total`/`_seconds` suffix).
    pub metric: String,
    /// Tags as legal label names and their values, sorted by name.
    pub tags: BTreeMap<String, String>,
}

/// Splits `name` into a legal metric name (after `prefix`) and its tags. A name whose
/// `;` segments are not all `key=value` is taken whole, `;` and all, as the metric
/// name: `http.requests;method=GET;status=200` is `http_requests` with the labels
/// `method` and `status`; `9lives` is `_9lives`, or `app_9lives` after the prefix `app_`.
pub fn split_name(prefix: &str, name: &str) -> SplitName {
    let (base, found) = zibrato_wire::tags::split(name);
    let mut tags = BTreeMap::new();
    for (key, value) in found {
        // Two keys that become the same label name: the first keeps it.
        tags.entry(label_name(key))
            .or_insert_with(|| value.to_string());
    }
    SplitName {
        metric: metric_name(prefix, base),
        tags,
    }
}

/// `prefix` + `name` with the characters Prometheus refuses in metric names replaced.
pub fn metric_name(prefix: &str, name: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + name.len() + 1);
    for c in prefix.chars().chain(name.chars()) {
        out.push(if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        });
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A legal label name for a tag key: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved by Prometheus), and not one of the worker's own labels.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    while out.starts_with("__") {
        out.remove(0);
    }
    if out.is_empty() {
        out.push('_');
    }
    if OWN_LABELS.contains(&out.as_str()) {
        out.insert_str(0, "exported_");
    }
    out
}

/// A label value escaped for the text format: `\`, `"` and line feeds.
pub fn escape_label_value(value: &str) -> String {
    escape(value, true)
}

/// `# HELP` text escaped for the text format: `\` and line feeds.
pub fn escape_help(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_labels_and_names_get_a_legal_start() {
        let split = split_name("", "http.requests;method=GET;status=200");
        assert_eq!(split.metric, "http_requests");
        assert_eq!(split.tags["method"], "GET");
        assert_eq!(split_name("app_", "9lives").metric, "app_9lives");
        assert_eq!(split_name("", "9lives").metric, "_9lives");
    }

    #[test]
    fn tags_become_labels_with_legal_names() {
        let split = split_name("", "a.b-c;my-key=x y;level=l;__x=1;9=n;method=GET=ok");
        assert_eq!(split.metric, "a_b_c");
        let tags: Vec<(&str, &str)> = split
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("_9", "n"),
                ("_x", "1"),
                ("exported_level", "l"),
                ("method", "GET=ok"),
                ("my_key", "x y"),
            ]
        );
    }

    #[test]
    fn a_name_that_is_not_tag_syntax_is_taken_whole() {
        let split = split_name("", "odd;name");
        assert_eq!(split.metric, "odd_name");
        assert!(split.tags.is_empty());
        assert_eq!(split_name("", ";=x").metric, "__x");
        assert_eq!(split_name("", "").metric, "_");
        assert_eq!(split_name("", "é:ok").metric, "_:ok");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\"b\\c\nd"), "a\"b\\\\c\\nd");
    }
}
