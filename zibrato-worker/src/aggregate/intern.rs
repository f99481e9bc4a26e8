//! Interning: every distinct string a worker has seen, once, with a dense id, so a
//! series is hashed and compared as integers and its strings are stored once however
//! many series share them.

use std::sync::Arc;

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use zibrato_wire::DEFAULT_SOURCE;

/// The id of [`DEFAULT_SOURCE`] in every [`Strings`], so a series without a source
/// needs no lookup.
pub(super) const DEFAULT_SOURCE_ID: u32 = 0;

/// Every distinct string seen, once, with a dense id; [`DEFAULT_SOURCE`] is always
/// [`DEFAULT_SOURCE_ID`].
pub(super) struct Strings {
    /// Looked up by bytes, so a frame's strings (UTF-8 checked once when it was
    /// decoded) are not checked again on every frame; only a new string is converted.
    ids: HashMap<Box<[u8]>, u32, FxBuildHasher>,
    text: Vec<Arc<str>>,
}

impl Default for Strings {
    fn default() -> Self {
        let mut strings = Strings {
            ids: HashMap::default(),
            text: Vec::new(),
        };
        strings.insert(DEFAULT_SOURCE);
        strings
    }
}

impl Strings {
    /// The id of `s`, interning it if it is new.
    pub(super) fn id(&mut self, s: &str) -> u32 {
        match self.ids.get(s.as_bytes()) {
            Some(&id) => id,
            None => self.insert(s),
        }
    }

    /// The id of a string already interned, by its bytes.
    pub(super) fn find(&self, bytes: &[u8]) -> Option<u32> {
        self.ids.get(bytes).copied()
    }

    /// Interns a string given as bytes; `None` if they are not UTF-8 (which a decoded
    /// frame's strings always are).
    pub(super) fn intern_bytes(&mut self, bytes: &[u8]) -> Option<u32> {
        match self.find(bytes) {
            Some(id) => Some(id),
            None => Some(self.insert(std::str::from_utf8(bytes).ok()?)),
        }
    }

    fn insert(&mut self, s: &str) -> u32 {
        let id = self.text.len() as u32;
        self.text.push(Arc::from(s));
        self.ids.insert(Box::from(s.as_bytes()), id);
        id
    }

    /// The string with id `id`, shared (a summary holds it past the next flush).
    ///
    /// # Panics
    /// If `id` was not given out by this table.
    pub(super) fn text(&self, id: u32) -> Arc<str> {
        Arc::clone(&self.text[id as usize])
    }

    /// The string with id `id`, borrowed.
    pub(super) fn as_str(&self, id: u32) -> &str {
        &self.text[id as usize]
    }

    /// How many strings are interned.
    pub(super) fn len(&self) -> usize {
        self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_source_is_always_id_zero() {
        let mut strings = Strings::default();
        assert_eq!(strings.id(DEFAULT_SOURCE), DEFAULT_SOURCE_ID);
        assert_eq!(
            strings.find(DEFAULT_SOURCE.as_bytes()),
            Some(DEFAULT_SOURCE_ID)
        );
        assert_eq!(strings.len(), 1);
    }

    #[test]
    fn a_string_gets_one_id_however_it_is_asked_for() {
        let mut strings = Strings::default();
        assert_eq!(strings.find(b"api.hits"), None);
        let id = strings.id("api.hits");
        assert_eq!(strings.intern_bytes(b"api.hits"), Some(id));
        assert_eq!(strings.find(b"api.hits"), Some(id));
        assert_eq!(strings.id("api.hits"), id);
        assert_eq!(strings.len(), 2);
        assert_eq!(&*strings.text(id), "api.hits");
        assert_eq!(strings.as_str(id), "api.hits");
    }

    #[test]
    fn ids_are_dense_in_order_of_arrival() {
        let mut strings = Strings::default();
        let ids: Vec<u32> = ["a", "b", "a", "c"].iter().map(|s| strings.id(s)).collect();
        assert_eq!(ids, [1, 2, 1, 3]);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_not_interned() {
        let mut strings = Strings::default();
        assert_eq!(strings.intern_bytes(&[0xff, 0xfe]), None);
        assert_eq!(strings.len(), 1);
    }
}
