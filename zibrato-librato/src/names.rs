//! Names and sources made legal for Librato.

use std::collections::HashSet;

use tracing::warn;

/// Longest name or source Librato accepts.
pub const MAX_LEN: usize = 255;

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
    pub fn clean<'a>(&mut self, name: &'a str) -> std::borrow::Cow<'a, str> {
        if name.len() <= MAX_LEN && name.bytes().all(legal) {
            return std::borrow::Cow::Borrowed(name);
        }
        let cleaned: String = name
            .chars()
            .map(|c| {
                if c.is_ascii() && legal(c as u8) {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_LEN)
            .collect();
        if self.warned.len() < 10_000 && self.warned.insert(name.to_string()) {
            warn!(original = name, sent_as = %cleaned, "name changed to what Librato accepts");
        }
        std::borrow::Cow::Owned(cleaned)
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
}
