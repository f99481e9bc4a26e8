//! Tags in a name: `http.requests;method=GET;status=200` is the name `http.requests`
//! with the tags `method=GET` and `status=200` (the Graphite tag syntax). The wire
//! carries names as they are; this is how every Zibrato backend reads them, and how
//! every Zibrato writer (the `metrics` facade, the broker's statsd ingress) writes them.
//!
//! The rules (specified in the wire format document, section 4.6):
//!
//! * The name splits at each `;`. The first part is the base name; every later part is
//!   a tag, `key=value`, split at its first `=`: the key is not empty and holds neither
//!   `;` nor `=`, the value holds no `;` and may be empty or hold `=`.
//! * If any later part is not a tag (no `=`, or an empty key), the name has no tags: it
//!   is taken whole, `;` and all, as the base name.
//! * A key given twice keeps its first value.
//! * A writer replaces `;` and `=` in a key, and `;` in a value, with `_`, and writes
//!   tags sorted by key (the facade) or in the order it was given them (statsd lines).

/// `name` split into its base name and its tags.
///
/// # Examples
///
/// ```
/// let (base, tags) = zibrato_wire::tags::split("http.requests;method=GET;status=200");
/// assert_eq!(base, "http.requests");
/// assert_eq!(tags.collect::<Vec<_>>(), [("method", "GET"), ("status", "200")]);
///
/// // A part that is not key=value: no tags, the whole name is the base.
/// let (base, tags) = zibrato_wire::tags::split("a;b");
/// assert_eq!((base, tags.count()), ("a;b", 0));
/// ```
pub fn split(name: &str) -> (&str, Tags<'_>) {
    match name.split_once(';') {
        Some((base, rest)) if rest.split(';').all(|part| tag(part).is_some()) => (
            base,
            Tags {
                rest: Some(rest),
                whole: rest,
            },
        ),
        _ => (
            name,
            Tags {
                rest: None,
                whole: "",
            },
        ),
    }
}

/// Appends the tag `;key=value` to a name being written, with `;` and `=` in the key
/// and `;` in the value replaced by `_`, so the name reads back with this tag. An
/// empty key is written as `_`.
///
/// # Errors
///
/// The writer's.
///
/// # Examples
///
/// ```
/// let mut name = String::from("http.requests");
/// zibrato_wire::tags::push(&mut name, "method", "GET").unwrap();
/// zibrato_wire::tags::push(&mut name, "a;b=c", "x;y=z").unwrap();
/// assert_eq!(name, "http.requests;method=GET;a_b_c=x_y=z");
/// ```
pub fn push(out: &mut impl core::fmt::Write, key: &str, value: &str) -> core::fmt::Result {
    out.write_char(';')?;
    if key.is_empty() {
        out.write_char('_')?;
    }
    for c in key.chars() {
        out.write_char(if c == ';' || c == '=' { '_' } else { c })?;
    }
    out.write_char('=')?;
    for c in value.chars() {
        out.write_char(if c == ';' { '_' } else { c })?;
    }
    Ok(())
}

/// One part as a tag: split at its first `=`, with a non-empty key.
fn tag(part: &str) -> Option<(&str, &str)> {
    part.split_once('=').filter(|(key, _)| !key.is_empty())
}

/// The tags of a name, in the order written, a key given twice only the first time.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    /// What is left to read, `None` once done.
    rest: Option<&'a str>,
    /// All the tags, to find keys already given.
    whole: &'a str,
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        loop {
            let rest = self.rest?;
            let (part, after) = match rest.split_once(';') {
                Some((part, after)) => (part, Some(after)),
                None => (rest, None),
            };
            self.rest = after;
            let (key, value) = tag(part)?;
            // Read so far: everything of `whole` before this part.
            let before = &self.whole[..self.whole.len() - rest.len()];
            let repeated = before
                .split(';')
                .filter_map(tag)
                .any(|(earlier, _)| earlier == key);
            if !repeated {
                return Some((key, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn all(name: &str) -> (&str, Vec<(&str, &str)>) {
        let (base, tags) = split(name);
        (base, tags.collect())
    }

    #[test]
    fn a_name_without_a_semicolon_has_no_tags() {
        assert_eq!(all("api.hits"), ("api.hits", vec![]));
    }

    #[test]
    fn values_may_be_empty_or_hold_an_equals_sign() {
        assert_eq!(
            all("q;expr=a=b;empty="),
            ("q", vec![("expr", "a=b"), ("empty", "")])
        );
    }

    #[test]
    fn one_part_that_is_not_a_tag_makes_the_whole_name_the_base() {
        for name in ["a;b", "a;=v", "a;k=v;", "a;k=v;;", "a;"] {
            assert_eq!(all(name), (name, vec![]), "{name}");
        }
    }

    #[test]
    fn a_key_given_twice_keeps_its_first_value() {
        assert_eq!(
            all("x;k=1;j=2;k=3;j=4"),
            ("x", vec![("k", "1"), ("j", "2")])
        );
    }

    #[test]
    fn what_push_writes_reads_back_as_that_tag() {
        let cases = [
            ("k", "v"),
            ("a;b", "c"),
            ("a=b", "c=d"),
            ("", "x"),
            ("k", "a;b"),
            ("k", ""),
        ];
        for (key, value) in cases {
            let mut name = heapless::String::<64>::new();
            name.push_str("base").unwrap();
            super::push(&mut name, key, value).unwrap();
            let (base, mut tags) = split(&name);
            assert_eq!(base, "base", "{name}");
            let (k, v) = tags.next().unwrap_or_else(|| panic!("{name}"));
            assert!(!k.is_empty() && !k.contains([';', '=']), "{name}");
            assert!(!v.contains(';'), "{name}");
            assert_eq!(v.len(), value.len(), "{name}");
            assert!(tags.next().is_none(), "{name}");
        }
    }

    #[test]
    fn an_empty_base_is_kept_empty() {
        assert_eq!(all(";k=v"), ("", vec![("k", "v")]));
    }
}
