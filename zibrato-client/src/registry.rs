//! Series interning: each distinct (kind, level, name, source) gets a dense id once,
//! so the hot path carries 4 bytes instead of three strings.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use hashbrown::{Equivalent, HashMap};
use rustc_hash::FxBuildHasher;
use zibrato_wire::{Kind, Level, validate_name};

use crate::Error;

/// Dense id of a series within one client.
pub(crate) type SeriesId = u32;

/// A series key borrowed from the caller's arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    pub kind: Kind,
    pub level: &'a str,
    pub name: &'a str,
    pub source: Option<&'a str>,
}

/// The same key, owned, as stored in maps. The strings are shared so that copying a
/// key (into a thread's recent slots) never allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    kind: Kind,
    level: Arc<str>,
    name: Arc<str>,
    source: Option<Arc<str>>,
}

impl Key {
    pub(crate) fn of(key: KeyRef<'_>) -> Key {
        Key {
            kind: key.kind,
            level: key.level.into(),
            name: key.name.into(),
            source: key.source.map(Into::into),
        }
    }
}

fn hash_parts<H: Hasher>(state: &mut H, kind: Kind, level: &str, name: &str, source: Option<&str>) {
    state.write_u8(kind.code());
    level.hash(state);
    name.hash(state);
    source.hash(state);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(
            state,
            self.kind,
            &self.level,
            &self.name,
            self.source.as_deref(),
        );
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(state, self.kind, self.level, self.name, self.source);
    }
}

impl KeyRef<'_> {
    /// Whether this borrowed key has the same content as `key`.
    #[inline]
    pub(crate) fn equivalent_to(&self, key: &Key) -> bool {
        self.kind == key.kind
            && self.name == &*key.name
            && self.level == &*key.level
            && self.source == key.source.as_deref()
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.equivalent_to(key)
    }
}

/// A map from keys to ids with the fast hasher; used by the registry and the
/// per-thread caches.
pub(crate) type KeyMap<V> = HashMap<Key, V, FxBuildHasher>;

/// What the publisher needs to know about a series.
#[derive(Debug, Clone)]
pub(crate) struct SeriesInfo {
    pub level: u16,
    pub kind: Kind,
    pub name: Arc<str>,
    pub source: Option<Arc<str>>,
}

#[derive(Debug, Default)]
struct Tables {
    ids: KeyMap<SeriesId>,
    series: Vec<SeriesInfo>,
    levels: Vec<Arc<str>>,
    strings: hashbrown::HashSet<Arc<str>, FxBuildHasher>,
}

/// All series a client has seen. Registration takes a lock, but happens once per
/// series per thread; recording afterwards goes through per-thread caches.
#[derive(Debug)]
pub(crate) struct Registry {
    tables: Mutex<Tables>,
    max_series: usize,
}

impl Registry {
    pub(crate) fn new(max_series: usize) -> Self {
        Registry {
            tables: Mutex::new(Tables::default()),
            max_series,
        }
    }

    /// The id of `key`, registering it after validating it.
    pub(crate) fn resolve(&self, key: KeyRef<'_>) -> Result<SeriesId, Error> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = tables.ids.get(&key) {
            return Ok(id);
        }
        validate(key)?;
        if tables.series.len() >= self.max_series {
            return Err(Error::TooManySeries {
                limit: self.max_series,
            });
        }
        let level = match tables.levels.iter().position(|l| &**l == key.level) {
            Some(index) => index as u16,
            None => {
                let index = tables.levels.len() as u16;
                let level = tables.intern(key.level);
                tables.levels.push(level);
                index
            }
        };
        let info = SeriesInfo {
            level,
            kind: key.kind,
            name: tables.intern(key.name),
            source: key.source.map(|s| tables.intern(s)),
        };
        let id = tables.series.len() as SeriesId;
        tables.series.push(info);
        tables.ids.insert(Key::of(key), id);
        Ok(id)
    }

    /// Copies series `from..` and the levels into the publisher's mirror.
    pub(crate) fn sync(&self, series: &mut Vec<SeriesInfo>, levels: &mut Vec<Arc<str>>) {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        series.extend_from_slice(&tables.series[series.len().min(tables.series.len())..]);
        levels.extend_from_slice(&tables.levels[levels.len().min(tables.levels.len())..]);
    }
}

impl Tables {
    /// One shared copy of each string, so a frame's string table can be deduplicated
    /// by pointer.
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(s) {
            return Arc::clone(existing);
        }
        let new: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&new));
        new
    }
}

fn validate(key: KeyRef<'_>) -> Result<(), Error> {
    Level::new(key.level).map_err(|source| Error::InvalidLevel {
        level: key.level.to_string(),
        source,
    })?;
    for name in std::iter::once(key.name).chain(key.source) {
        validate_name(name).map_err(|source| Error::InvalidName {
            name: name.to_string(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(level: &'a str, name: &'a str, source: Option<&'a str>) -> KeyRef<'a> {
        KeyRef {
            kind: Kind::Counter,
            level,
            name,
            source,
        }
    }

    #[test]
    fn same_key_same_id_and_strings_shared() {
        let registry = Registry::new(10);
        let a = registry.resolve(key("info", "hits", Some("web"))).unwrap();
        let b = registry.resolve(key("info", "hits", Some("web"))).unwrap();
        let c = registry.resolve(key("info", "web", None)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let (mut series, mut levels) = (Vec::new(), Vec::new());
        registry.sync(&mut series, &mut levels);
        assert_eq!(levels.len(), 1);
        assert!(Arc::ptr_eq(
            series[0].source.as_ref().unwrap(),
            &series[1].name
        ));
    }

    #[test]
    fn invalid_keys_and_the_limit_are_errors() {
        let registry = Registry::new(1);
        assert!(matches!(
            registry.resolve(key("in fo", "x", None)),
            Err(Error::InvalidLevel { .. })
        ));
        assert!(matches!(
            registry.resolve(key("info", "", None)),
            Err(Error::InvalidName { .. })
        ));
        registry.resolve(key("info", "x", None)).unwrap();
        assert!(matches!(
            registry.resolve(key("info", "y", None)),
            Err(Error::TooManySeries { limit: 1 })
        ));
    }
}
