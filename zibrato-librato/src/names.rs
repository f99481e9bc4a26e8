//! Names and sources made legal for Librato.

use std::borrow::Cow;
use std::collections::HashSet;

use tracing::warn;
use zibrato_wire::DEFAULT_SOURCE;

/// Longest name or source Librato accepts.
pub const MAX_LEN: usize = 255;

/// The source Librato keeps for itself (the aggregate of all sources): a series with
/// this source (in any case) is posted as [`RESERVED_SOURCE_REWRITE`] instead.
pub const RESERVED_SOURCE: &str = "all";

/// What a series whose source is [`RESERVED_SOURCE`] is posted as.
pub const RESERVED_SOURCE_REWRITE: &str = "all_";

/// Most distinct rewritten names warned about; past it, rewrites go on silently (a
/// publisher with ever-new illegal names must not grow the worker).
const MAX_WARNED: usize = 10_000;

fn legal(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b':' | b'-' | b'_')
}

/// Rewrites names and sources to Librato's alphabet (`A-Za-z0-9.:-_`, at most 255
/// characters), replacing every other character with `_`, and warns once per name it
/// changes.
#[derive(Debug, Default)]
pub struct Sanitizer {
    warned: HashSet<String>,
}

impl Sanitizer {
    /// The legal form of `name`.
    pub fn clean<'a>(&mut self, name: &'a str) -> Cow<'a, str> {
        self.clean_within(name, MAX_LEN)
    }

    /// The legal form of `base` followed by `.suffix`, with `base` cut short enough
    /// that the suffix survives: a 255-character timer's `p50` is never truncated back
    /// into the timer's own name.
    pub fn clean_suffixed(&mut self, base: &str, suffix: &str) -> String {
        let suffix = self.clean_within(suffix, MAX_LEN / 2).into_owned();
        let room = MAX_LEN.saturating_sub(suffix.len() + 1);
        let mut name = self.clean_within(base, room).into_owned();
        name.push('.');
        name.push_str(&suffix);
        name
    }

    /// The source to post, if any: `None` for a series published without a source (the
    /// worker's [`DEFAULT_SOURCE`]), so it is Librato's source-less measurement; the
    /// reserved source `all` becomes [`RESERVED_SOURCE_REWRITE`].
    pub fn source(&mut self, source: &str) -> Option<String> {
        if source == DEFAULT_SOURCE {
            return None;
        }
        if source.eq_ignore_ascii_case(RESERVED_SOURCE) {
            self.warn_once(
                source,
                RESERVED_SOURCE_REWRITE,
                "the source `all` is Librato's own",
            );
            return Some(RESERVED_SOURCE_REWRITE.to_string());
        }
        Some(self.clean(source).into_owned())
    }

    fn clean_within<'a>(&mut self, name: &'a str, max: usize) -> Cow<'a, str> {
        if name.len() <= max && !name.is_empty() && name.bytes().all(legal) {
            return Cow::Borrowed(name);
        }
        let mut cleaned: String = name
            .chars()
            .map(|c| {
                if c.is_ascii() && legal(c as u8) {
                    c
                } else {
                    '_'
                }
            })
            .take(max)
            .collect();
        if cleaned.is_empty() {
            cleaned.push('_');
        }
        self.warn_once(name, &cleaned, "name changed to what Librato accepts");
        Cow::Owned(cleaned)
    }

    fn warn_once(&mut self, original: &str, sent_as: &str, why: &str) {
        if self.warned.len() < MAX_WARNED && self.warned.insert(original.to_string()) {
            warn!(original, sent_as, "{why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_characters_become_underscores() {
        let mut s = Sanitizer::default();
        assert_eq!(s.clean("api.requests:ok-1_2"), "api.requests:ok-1_2");
        assert_eq!(s.clean("a b|c/é"), "a_b_c__");
        assert_eq!(s.clean(&"x".repeat(300)).len(), MAX_LEN);
    }

    #[test]
    fn suffixes_survive_truncation() {
        let mut s = Sanitizer::default();
        let long = "t".repeat(300);
        let p50 = s.clean_suffixed(&long, "p50");
        assert_eq!(p50.len(), MAX_LEN);
        assert!(p50.ends_with("t.p50"));
        assert_ne!(p50, s.clean(&long));
        assert_eq!(s.clean_suffixed("db query", "p99.9"), "db_query.p99.9");
    }

    #[test]
    fn sources_absent_reserved_and_cleaned() {
        let mut s = Sanitizer::default();
        assert_eq!(s.source(DEFAULT_SOURCE), None);
        assert_eq!(s.source("All").as_deref(), Some(RESERVED_SOURCE_REWRITE));
        assert_eq!(s.source("web 1").as_deref(), Some("web_1"));
    }
}
