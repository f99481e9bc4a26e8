//! What the statsd ingress remembers of each name: the gauge's current value (statsd
//! applies `+N`/`-N` to it, across flushes), the fraction a sampled counter has not
//! counted yet, and the interned strings its frames refer to. Bounded: at most
//! `capacity` names, in two generations, so a flood of new names forgets the least
//! recently seen ones and costs no more than the bound.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashTable};
use rustc_hash::FxBuildHasher;

/// A name's identity: its level, name (with tags) and source.
#[derive(Debug, PartialEq, Eq)]
struct Key {
    level: usize,
    name: Box<str>,
    source: Option<Box<str>>,
}

/// The same, borrowed from a line, to look up without allocating.
struct KeyRef<'a> {
    level: usize,
    name: &'a str,
    source: Option<&'a str>,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            level: self.level,
            name: &self.name,
            source: self.source.as_deref(),
        }
        .hash(state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.level.hash(state);
        self.name.hash(state);
        self.source.hash(state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.level == key.level && self.name == &*key.name && self.source == key.source.as_deref()
    }
}

/// What is remembered of one name.
#[derive(Debug)]
pub(crate) struct State {
    /// A number of its own, for the frames' series.
    pub id: u64,
    pub name: Arc<str>,
    pub source: Option<Arc<str>>,
    /// The gauge's current value, once it has one.
    pub gauge: Option<f64>,
    /// The part of a sampled or fractional counter not counted yet, in (-1, 1).
    pub carry: f64,
}

impl State {
    /// The whole increment a counter sample makes (`value / rate`, statsd's scaling),
    /// the fraction carried to the next one, so the counts add up to statsd's.
    pub(crate) fn count(&mut self, value: f64, rate: f64) -> i64 {
        let exact = value / rate + self.carry;
        let whole = exact.trunc();
        self.carry = exact - whole;
        // Saturating: an absurd value cannot wrap.
        whole as i64
    }

    /// The gauge's reading after a sample: the value, or the current value changed by
    /// it (`relative`, when there is a current value).
    pub(crate) fn gauge(&mut self, value: f64, relative: bool) -> f64 {
        let reading = match (relative, self.gauge) {
            (true, Some(current)) => current + value,
            _ => value,
        };
        // A sum of finite values can overflow to infinity; it stays at the last
        // finite reading instead (the wire carries finite gauges only).
        let reading = if reading.is_finite() {
            reading
        } else {
            self.gauge.unwrap_or(0.0)
        };
        self.gauge = Some(reading);
        reading
    }
}

/// A remembered name.
struct Entry {
    key: Key,
    state: State,
}

/// The remembered names.
pub(crate) struct Keys {
    current: HashTable<Entry>,
    previous: HashTable<Entry>,
    hasher: FxBuildHasher,
    capacity: usize,
    next_id: u64,
    /// Names forgotten to stay within the bound.
    pub forgotten: u64,
}

impl Keys {
    pub(crate) fn new(capacity: usize) -> Keys {
        Keys {
            current: HashTable::new(),
            previous: HashTable::new(),
            hasher: FxBuildHasher,
            capacity: capacity.max(2),
            next_id: 0,
            forgotten: 0,
        }
    }

    /// The state of a name, new if it is not remembered.
    pub(crate) fn get(&mut self, level: usize, name: &str, source: Option<&str>) -> &mut State {
        let look = KeyRef {
            level,
            name,
            source,
        };
        // One hash and one probe for a name seen in this generation, the usual case.
        let hash = self.hasher.hash_one(&look);
        let same = |e: &Entry| look.equivalent(&e.key);
        let current = match self.current.find_entry(hash, same) {
            Ok(found) => return &mut found.into_mut().state,
            Err(absent) => absent.into_table(),
        };
        let state = match self.previous.find_entry(hash, same) {
            Ok(found) => found.remove().0.state,
            Err(_) => {
                self.next_id += 1;
                State {
                    id: self.next_id,
                    name: Arc::from(name),
                    source: source.map(Arc::from),
                    gauge: None,
                    carry: 0.0,
                }
            }
        };
        if current.len() >= self.capacity / 2 {
            self.forgotten += self.previous.len() as u64;
            self.previous = std::mem::take(current);
        }
        let key = Key {
            level,
            name: Box::from(name),
            source: source.map(Box::from),
        };
        let hasher = &self.hasher;
        let entry = current.insert_unique(hash, Entry { key, state }, |e| hasher.hash_one(&e.key));
        &mut entry.into_mut().state
    }

    /// How many names are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_counters_add_up_to_statsds_float_counts() {
        let mut keys = Keys::new(16);
        let state = keys.get(0, "hits", None);
        let counted: i64 = (0..10).map(|_| state.count(1.0, 0.3)).sum();
        // statsd counts 10 × 1/0.3 = 33.33…: 33 whole, 0.33… carried.
        assert_eq!(counted, 33);
        assert!((state.carry - 1.0 / 3.0).abs() < 1e-9);
        let fresh = keys.get(0, "other", None);
        assert_eq!(fresh.count(0.5, 1.0), 0, "half a count waits");
        assert_eq!(fresh.count(0.5, 1.0), 1);
        assert_eq!(fresh.count(-2.0, 1.0), -2, "negative increments too");
    }

    #[test]
    fn relative_gauges_change_the_current_value() {
        let mut keys = Keys::new(16);
        let g = keys.get(0, "temp", None);
        assert_eq!(g.gauge(5.0, true), 5.0, "no current value: taken as it is");
        assert_eq!(g.gauge(-2.0, true), 3.0);
        assert_eq!(g.gauge(10.0, false), 10.0);
        assert_eq!(g.gauge(f64::MAX, true), 10.0 + f64::MAX);
        assert_eq!(g.gauge(f64::MAX, true), 10.0 + f64::MAX, "no infinity");
        let other = keys.get(0, "temp", Some("web-1"));
        assert_eq!(other.gauge, None, "sources apart");
        assert_eq!(keys.get(1, "temp", None).gauge, None, "levels apart");
    }

    #[test]
    fn a_flood_of_names_stays_within_the_bound_and_keeps_the_busy_ones() {
        let mut keys = Keys::new(100);
        keys.get(0, "busy", None).gauge(42.0, false);
        for i in 0..10_000 {
            keys.get(0, &format!("flood.{i}"), None);
            if i % 40 == 0 {
                keys.get(0, "busy", None);
            }
            assert!(keys.len() <= 100);
        }
        assert_eq!(keys.get(0, "busy", None).gauge, Some(42.0));
        assert!(keys.forgotten > 9_000);
        let a = keys.get(0, "new", None).id;
        let b = keys.get(0, "newer", None).id;
        assert_ne!(a, b);
    }
}
