//! Aggregation of measurements per (level, kind, name, source) over a flush window.

//!
//! Two parts with rules of their own: [`intern`] gives every string a dense id, so a
//! series is found by four integers; [`accumulate`] is what one series keeps over a
//! window and what it reports. This file ties them together: the index of series,
//! their limit and overflow, and expiry.

mod accumulate;
mod intern;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use zibrato_wire::{Frame, Kind};

use accumulate::Aggregate;
use intern::{DEFAULT_SOURCE_ID, Strings};

use crate::summary::SeriesSummary;
#[cfg(test)]
use crate::summary::Summary;
#[cfg(test)]
use zibrato_wire::{DEFAULT_SOURCE, Value};

/// A series identified by interned string ids: hashing and comparing it touches four
/// integers, never the strings themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    level: u32,
    kind: Kind,
    name: u32,
    source: u32,
}

struct State {
    key: Key,
    aggregate: Aggregate,
    last_seen: Instant,
}

/// The name of the series that take the measurements of new series once the worker
/// holds [`max_series`](crate::WorkerOptions::max_series) live ones: one per level and
/// kind, with the default source.
pub const OVERFLOW_NAME: &str = "zibrato.overflow";

/// The first series refused since the last flush, kept to name it in a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its level.
    pub level: Arc<str>,
    /// Counter, gauge or timer.
    pub kind: Kind,
    /// Its name.
    pub name: String,
}

/// Sums counters, summarises gauges and timers, and hands out one [`Window`] per
/// flush. Memory grows with the number of series, never with the number of
/// measurements: a timer keeps a bounded sketch, not its values.
///
/// [`Window`]: crate::Window
pub struct Aggregator {
    index: HashMap<Key, u32, FxBuildHasher>,
    states: Vec<Option<State>>,
    free: Vec<u32>,
    strings: Strings,
    /// The current frame's string table as ids (`None`: not interned, so no live
    /// series uses it); reused between frames.
    scratch: Vec<Option<u32>>,
    percentiles: Vec<f64>,
    expire_after: Duration,
    timer_values: usize,
    /// Whether each timer's sketch goes into its summary.
    timer_sketch: bool,
    max_series: usize,
    /// Live series that are overflow series (they do not count against the cap).
    overflow_series: usize,
    /// Measurements folded into overflow series, in total.
    overflowed: u64,
    /// The first series refused since the last [`Aggregator::take_refused`].
    refused: Option<Refused>,
}

impl Aggregator {
    /// An aggregator reporting `percentiles` (each in 0..=1) for timers and forgetting
    /// series idle for longer than `expire_after`, with no limit on series (see
    /// [`with_max_series`](Self::with_max_series)).
    pub fn new(percentiles: Vec<f64>, expire_after: Duration) -> Aggregator {
        Aggregator {
            index: HashMap::default(),
            states: Vec::new(),
            free: Vec::new(),
            strings: Strings::default(),
            scratch: Vec::new(),
            percentiles,
            expire_after,
            timer_values: 0,
            timer_sketch: false,
            max_series: usize::MAX,
            overflow_series: 0,
            overflowed: 0,
            refused: None,
        }
    }

    /// Also keeps up to `max` raw timer values per series and window (for a backend
    /// that forwards every duration); memory grows by at most `8 × max` bytes per timer.
    pub fn with_timer_values(mut self, max: usize) -> Aggregator {
        self.timer_values = max;
        self
    }

    /// Also hands each timer's sketch to the backend in its summary (for a histogram);
    /// memory per timer and window grows by the sketch's size, at most 4 KiB.
    pub fn with_timer_sketch(mut self, keep: bool) -> Aggregator {
        self.timer_sketch = keep;
        self
    }

    /// Holds at most `max` live series (besides the overflow series). A measurement of
    /// a new series beyond it is added to the series [`OVERFLOW_NAME`] of its level and
    /// kind instead, and counted in [`overflowed`](Self::overflowed); its strings are
    /// not kept.
    pub fn with_max_series(mut self, max: usize) -> Aggregator {
        self.max_series = max;
        self
    }

    /// How many series are tracked, overflow series included.
    pub fn series_count(&self) -> usize {
        self.index.len()
    }

    /// How many measurements were folded into overflow series so far.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// The first series refused by the limit since the last call, to name in a warning.
    pub fn take_refused(&mut self) -> Option<Refused> {
        self.refused.take()
    }

    /// Adds every measurement of a validated frame, at time `now`. Returns how many.
    pub fn ingest(&mut self, frame: &Frame<'_>, now: Instant) -> usize {
        let level = self.strings.id(frame.level().as_str());
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(frame.string_bytes().map(|bytes| self.strings.find(bytes)));
        // The frame's strings by index, gathered only when a series is not known.
        let mut table: Option<Vec<&[u8]>> = None;
        let mut added = 0;
        for series in frame.series() {
            let known = |index: u32| ids.get(index as usize).copied().flatten();
            let key = match (known(series.name), series.source.map(known)) {
                (Some(name), None) => Some(DEFAULT_SOURCE_ID).map(|source| (name, source)),
                (Some(name), Some(Some(source))) => Some((name, source)),
                _ => None,
            }
            .map(|(name, source)| Key {
                level,
                kind: series.kind,
                name,
                source,
            });
            let slot = match key.and_then(|key| self.index.get(&key)) {
                Some(&slot) => slot as usize,
                None => {
                    let table = table.get_or_insert_with(|| frame.string_bytes().collect());
                    self.new_slot(table, &mut ids, &series, level, now)
                }
            };
            if let Some(state) = &mut self.states[slot] {
                state.last_seen = now;
                added += series.values.len();
                state.aggregate.add(series.values, self.timer_values);
            }
        }
        self.scratch = ids;
        added
    }

    /// The slot of a series not in the index: a new one while under the limit, else
    /// the overflow series of its level and kind.
    #[cold]
    fn new_slot(
        &mut self,
        table: &[&[u8]],
        ids: &mut [Option<u32>],
        series: &zibrato_wire::Series<'_>,
        level: u32,
        now: Instant,
    ) -> usize {
        let live = self.index.len() - self.overflow_series;
        if live < self.max_series {
            let mut intern = |index: u32| -> Option<u32> {
                let id = match ids.get(index as usize).copied().flatten() {
                    Some(id) => id,
                    None => self.strings.intern_bytes(table.get(index as usize)?)?,
                };
                if let Some(place) = ids.get_mut(index as usize) {
                    *place = Some(id);
                }
                Some(id)
            };
            let name = intern(series.name);
            let source = match series.source {
                Some(index) => intern(index),
                None => Some(DEFAULT_SOURCE_ID),
            };
            if let (Some(name), Some(source)) = (name, source) {
                let key = Key {
                    level,
                    kind: series.kind,
                    name,
                    source,
                };
                // Interning may have found the series after all.
                if let Some(&slot) = self.index.get(&key) {
                    return slot as usize;
                }
                return self.insert(key, now);
            }
        }
        self.overflowed += series.values.len() as u64;
        if self.refused.is_none() {
            let name = table
                .get(series.name as usize)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            self.refused = Some(Refused {
                level: self.strings.text(level),
                kind: series.kind,
                name,
            });
        }
        let name = self.strings.id(OVERFLOW_NAME);
        let key = Key {
            level,
            kind: series.kind,
            name,
            source: DEFAULT_SOURCE_ID,
        };
        match self.index.get(&key) {
            Some(&slot) => slot as usize,
            None => {
                self.overflow_series += 1;
                self.insert(key, now)
            }
        }
    }

    fn insert(&mut self, key: Key, now: Instant) -> usize {
        let state = Some(State {
            key,
            aggregate: Aggregate::new(key.kind),
            last_seen: now,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.states[slot as usize] = state;
                slot
            }
            None => {
                self.states.push(state);
                (self.states.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        slot as usize
    }

    fn is_overflow(&self, key: &Key) -> bool {
        key.source == DEFAULT_SOURCE_ID && self.strings.as_str(key.name) == OVERFLOW_NAME
    }

    /// Closes the window: returns every series with data (and every counter not yet
    /// expired, at 0 if it saw nothing), resets them, and forgets series idle for
    /// longer than the expiry.
    pub fn flush(&mut self, now: Instant) -> Vec<SeriesSummary> {
        let mut out = Vec::new();
        for slot in 0..self.states.len() {
            let Some(state) = &mut self.states[slot] else {
                continue;
            };
            let expired = now.duration_since(state.last_seen) > self.expire_after;
            if let Some(summary) =
                state
                    .aggregate
                    .take(&self.percentiles, expired, self.timer_sketch)
            {
                out.push(SeriesSummary {
                    level: self.strings.text(state.key.level),
                    kind: state.key.kind,
                    name: self.strings.text(state.key.name),
                    source: self.strings.text(state.key.source),
                    summary,
                });
            }
            if expired {
                let key = state.key;
                if self.is_overflow(&key) {
                    self.overflow_series -= 1;
                }
                self.index.remove(&key);
                self.states[slot] = None;
                self.free.push(slot as u32);
            }
        }
        // Strings stay interned while any series might come back with them; when most
        // of them belong to expired series, start afresh from the live ones.
        if self.strings.len() > 4 * self.index.len() + 1024 {
            self.reintern();
        }
        // Slots freed by a burst of series that expired are given back too.
        let before = self.states.len();
        while matches!(self.states.last(), Some(None)) {
            self.states.pop();
        }
        if self.states.len() < before {
            let len = self.states.len();
            self.free.retain(|&slot| (slot as usize) < len);
        }
        if self.states.len() < self.states.capacity() / 4 {
            self.states.shrink_to_fit();
            self.free.shrink_to_fit();
            self.index.shrink_to_fit();
        }
        out
    }

    /// Rebuilds the string table from the live series only.
    fn reintern(&mut self) {
        let old = std::mem::take(&mut self.strings);
        let mut index = HashMap::default();
        for (slot, state) in self.states.iter_mut().enumerate() {
            if let Some(state) = state {
                let mut remap = |id: u32| self.strings.id(old.as_str(id));
                state.key = Key {
                    level: remap(state.key.level),
                    kind: state.key.kind,
                    name: remap(state.key.name),
                    source: remap(state.key.source),
                };
                index.insert(state.key, slot as u32);
            }
        }
        self.index = index;
    }
}

#[cfg(test)]
mod tests;
