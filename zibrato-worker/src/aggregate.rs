//! Aggregation of measurements per (level, kind, name, source) over a flush window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use zibrato_wire::{DEFAULT_SOURCE, Frame, Kind, Value};

use crate::sketch::DurationSketch;
use crate::summary::{Readings, SeriesSummary, Summary};

/// A series identified by interned string ids: hashing and comparing it touches four
/// integers, never the strings themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    level: u32,
    kind: u8,
    name: u32,
    source: u32,
}

enum Aggregate {
    Counter { sum: i64, events: u64 },
    Gauge(Option<Readings>),
    Timer(Option<(Readings, DurationSketch, Vec<u64>)>),
}

struct State {
    key: Key,
    aggregate: Aggregate,
    last_seen: Instant,
}

/// Every distinct string seen, once, with a dense id; [`DEFAULT_SOURCE`] is always
/// [`DEFAULT_SOURCE_ID`], so a frame needs no lookup for it.
struct Strings {
    /// Looked up by bytes, so a frame's strings (UTF-8 checked once when it was
    /// decoded) are not checked again on every frame; only a new string is converted.
    ids: HashMap<Box<[u8]>, u32, FxBuildHasher>,
    text: Vec<Arc<str>>,
}

/// The id of [`DEFAULT_SOURCE`] in every [`Strings`].
const DEFAULT_SOURCE_ID: u32 = 0;

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
    fn id(&mut self, s: &str) -> u32 {
        match self.ids.get(s.as_bytes()) {
            Some(&id) => id,
            None => self.insert(s),
        }
    }

    /// The id of a string already interned, by its bytes: a frame's strings (UTF-8
    /// checked once when it was decoded) are not checked again on every frame.
    fn find(&self, bytes: &[u8]) -> Option<u32> {
        self.ids.get(bytes).copied()
    }

    /// Interns a string given as bytes; `None` if they are not UTF-8 (which a decoded
    /// frame's strings always are).
    fn intern_bytes(&mut self, bytes: &[u8]) -> Option<u32> {
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

    fn text(&self, id: u32) -> Arc<str> {
        Arc::clone(&self.text[id as usize])
    }
}

/// The name of the series that take the measurements of new series once the worker
/// holds [`--max-series`](crate::WorkerArgs::max_series) live ones: one per level and
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
                kind: series.kind.code(),
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
                add_values(&mut state.aggregate, series.values, self.timer_values);
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
                    kind: series.kind.code(),
                    name,
                    source,
                };
                // Interning may have found the series after all.
                if let Some(&slot) = self.index.get(&key) {
                    return slot as usize;
                }
                return self.insert(key, series.kind, now);
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
            kind: series.kind.code(),
            name,
            source: DEFAULT_SOURCE_ID,
        };
        match self.index.get(&key) {
            Some(&slot) => slot as usize,
            None => {
                self.overflow_series += 1;
                self.insert(key, series.kind, now)
            }
        }
    }

    fn insert(&mut self, key: Key, kind: Kind, now: Instant) -> usize {
        let aggregate = match kind {
            Kind::Counter => Aggregate::Counter { sum: 0, events: 0 },
            Kind::Gauge => Aggregate::Gauge(None),
            Kind::Timer => Aggregate::Timer(None),
        };
        let state = Some(State {
            key,
            aggregate,
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
        key.source == DEFAULT_SOURCE_ID && &*self.strings.text[key.name as usize] == OVERFLOW_NAME
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
            if let Some(summary) = take(
                &mut state.aggregate,
                &self.percentiles,
                expired,
                self.timer_sketch,
            ) {
                let kind = Kind::from_code(u64::from(state.key.kind)).unwrap_or(Kind::Counter);
                out.push(SeriesSummary {
                    level: self.strings.text(state.key.level),
                    kind,
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
        if self.strings.text.len() > 4 * self.index.len() + 1024 {
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
                let mut remap = |id: u32| self.strings.id(&old.text[id as usize]);
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

fn add_values(aggregate: &mut Aggregate, values: zibrato_wire::Values<'_>, keep: usize) {
    match aggregate {
        Aggregate::Counter { sum, events } => {
            for value in values {
                if let Value::Counter(n) = value {
                    *sum = sum.saturating_add(n);
                    *events += 1;
                }
            }
        }
        Aggregate::Gauge(stats) => {
            for value in values {
                if let Value::Gauge(v) = value {
                    match stats {
                        Some(s) => s.add(v),
                        None => *stats = Some(Readings::of(v)),
                    }
                }
            }
        }
        Aggregate::Timer(timer) => {
            for value in values {
                if let Value::Timer(ns) = value {
                    match timer {
                        Some((stats, _, _)) => stats.add(ns as f64),
                        None => {
                            *timer = Some((
                                Readings::of(ns as f64),
                                DurationSketch::default(),
                                Vec::new(),
                            ))
                        }
                    }
                    if let Some((_, sketch, kept)) = timer {
                        sketch.add(ns);
                        if kept.len() < keep {
                            kept.push(ns);
                        }
                    }
                }
            }
        }
    }
}

fn take(
    aggregate: &mut Aggregate,
    percentiles: &[f64],
    expired: bool,
    keep_sketch: bool,
) -> Option<Summary> {
    match aggregate {
        Aggregate::Counter { sum, events } => {
            let summary = Summary::Counter { sum: *sum };
            let had_events = *events > 0;
            *sum = 0;
            *events = 0;
            // An idle counter reports 0 until it expires, then nothing.
            (had_events || !expired).then_some(summary)
        }
        Aggregate::Gauge(stats) => stats.take().map(Summary::Gauge),
        Aggregate::Timer(timer) => timer.take().map(|(stats, sketch, values)| {
            let percentiles = percentiles
                .iter()
                .map(|&q| {
                    let value = sketch.quantile(q).map_or(stats.max, |v| v as f64);
                    // The bucket midpoint never reports beyond what was seen.
                    (q, value.clamp(stats.min, stats.max))
                })
                .collect();
            Summary::Timer {
                values,
                stats,
                percentiles,
                sketch: keep_sketch.then_some(sketch),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zibrato_wire::{FrameBuilder, Header, Level, Measurement};

    fn frame_bytes(ms: &[Measurement<'_>]) -> Vec<u8> {
        let mut b = FrameBuilder::<&str, 16, 16, 256>::new();
        for m in ms {
            b.push(*m).unwrap();
        }
        let level = Level::new("info").unwrap();
        let header = Header::default();
        let mut buf = vec![0; b.encoded_len(level, &header)];
        b.encode(level, &header, &mut buf).unwrap();
        buf
    }

    fn find<'a>(out: &'a [SeriesSummary], name: &str) -> Option<&'a Summary> {
        out.iter().find(|s| &*s.name == name).map(|s| &s.summary)
    }

    #[test]
    fn counters_sum_gauges_and_timers_summarise() {
        let mut agg = Aggregator::new(vec![0.5, 0.99], Duration::from_secs(60));
        let now = Instant::now();
        let bytes = frame_bytes(&[
            Measurement::new("c", None, Value::Counter(2)).unwrap(),
            Measurement::new("c", None, Value::Counter(3)).unwrap(),
            Measurement::new("g", Some("h"), Value::Gauge(1.0)).unwrap(),
            Measurement::new("g", Some("h"), Value::Gauge(3.0)).unwrap(),
            Measurement::new("t", None, Value::Timer(100)).unwrap(),
        ]);
        assert_eq!(agg.ingest(&Frame::decode(&bytes).unwrap(), now), 5);
        let out = agg.flush(now);
        assert_eq!(find(&out, "c"), Some(&Summary::Counter { sum: 5 }));
        let Some(Summary::Gauge(g)) = find(&out, "g") else {
            panic!()
        };
        assert_eq!(
            (g.count, g.sum, g.min, g.max, g.sum_squares, g.last),
            (2, 4.0, 1.0, 3.0, 10.0, 3.0)
        );
        assert_eq!(
            out.iter()
                .find(|s| &*s.name == "g")
                .unwrap()
                .source
                .as_ref(),
            "h"
        );
        assert_eq!(
            out.iter()
                .find(|s| &*s.name == "c")
                .unwrap()
                .source
                .as_ref(),
            DEFAULT_SOURCE
        );
        let Some(Summary::Timer {
            stats, percentiles, ..
        }) = find(&out, "t")
        else {
            panic!()
        };
        assert_eq!(stats.count, 1);
        assert_eq!(percentiles.len(), 2);
    }

    #[test]
    fn expired_series_free_their_slots_and_strings() {
        let mut agg = Aggregator::new(vec![], Duration::from_secs(1));
        let start = Instant::now();
        let names: Vec<String> = (0..3000).map(|i| format!("old.{i}")).collect();
        for chunk in names.chunks(200) {
            let ms: Vec<_> = chunk
                .iter()
                .map(|n| Measurement::new(n, Some("src"), Value::Gauge(1.0)).unwrap())
                .collect();
            let mut b = FrameBuilder::<&str, 512, 256, 256>::new();
            for m in &ms {
                b.push(*m).unwrap();
            }
            let level = Level::new("info").unwrap();
            let mut buf = vec![0; b.encoded_len(level, &Header::default())];
            b.encode(level, &Header::default(), &mut buf).unwrap();
            agg.ingest(&Frame::decode(&buf).unwrap(), start);
        }
        assert_eq!(agg.flush(start).len(), 3000);
        assert!(agg.flush(start + Duration::from_secs(2)).is_empty());
        assert_eq!(agg.series_count(), 0);
        let later = start + Duration::from_secs(3);
        let bytes = frame_bytes(&[
            Measurement::new("new", Some("src"), Value::Counter(4)).unwrap(),
            Measurement::new("bare", None, Value::Counter(1)).unwrap(),
        ]);
        agg.ingest(&Frame::decode(&bytes).unwrap(), later);
        let mut out = agg.flush(later);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(out.len(), 2);
        assert_eq!(
            (&*out[1].name, &*out[1].source, &*out[1].level),
            ("new", "src", "info")
        );
        assert_eq!(out[1].summary, Summary::Counter { sum: 4 });
        // The table was rebuilt; a series without a source still reads as the default.
        assert_eq!((&*out[0].name, &*out[0].source), ("bare", DEFAULT_SOURCE));
        assert!(
            agg.strings.text.len() < 100,
            "strings of expired series were dropped"
        );
    }

    #[test]
    fn past_the_limit_new_series_fold_into_overflow_and_keep_no_strings() {
        let mut agg = Aggregator::new(vec![0.5], Duration::from_secs(1)).with_max_series(10);
        let start = Instant::now();
        let names: Vec<String> = (0..1000).map(|i| format!("req.{i}")).collect();
        for round in 0..3 {
            for chunk in names.chunks(100) {
                let mut ms = vec![Measurement::new("steady", None, Value::Counter(1)).unwrap()];
                ms.extend(
                    chunk
                        .iter()
                        .map(|n| Measurement::new(n, Some("web"), Value::Counter(2)).unwrap()),
                );
                ms.push(Measurement::new(&chunk[0], None, Value::Timer(1000)).unwrap());
                let mut b = FrameBuilder::<&str, 256, 256, 256>::new();
                for m in &ms {
                    b.push(*m).unwrap();
                }
                let level = Level::new("info").unwrap();
                let mut buf = vec![0; b.encoded_len(level, &Header::default())];
                b.encode(level, &Header::default(), &mut buf).unwrap();
                assert_eq!(agg.ingest(&Frame::decode(&buf).unwrap(), start), 102);
            }
            assert!(
                agg.series_count() <= 10 + 2,
                "round {round}: {}",
                agg.series_count()
            );
            assert!(
                agg.strings.text.len() < 40,
                "refused names are not interned"
            );
            let refused = agg.take_refused().expect("a refused series is named");
            assert!(refused.name.starts_with("req."), "{refused:?}");
            let out = agg.flush(start);
            let sum: i64 = out
                .iter()
                .filter_map(|s| match s.summary {
                    Summary::Counter { sum } => Some(sum),
                    _ => None,
                })
                .sum();
            assert_eq!(sum, 10 + 2000, "every increment is somewhere");
            assert_eq!(find(&out, "steady"), Some(&Summary::Counter { sum: 10 }));
            let overflow = out
                .iter()
                .find(|s| &*s.name == OVERFLOW_NAME && s.kind == Kind::Counter)
                .expect("an overflow counter");
            assert_eq!(&*overflow.level, "info");
            let Summary::Counter { sum: folded } = overflow.summary else {
                panic!()
            };
            assert!(folded >= 2 * 990 - 2 * 9, "{folded}");
        }
        assert!(agg.overflowed() > 0);
        // Once the series expire, new ones get their own series again.
        agg.flush(start + Duration::from_secs(5));
        assert_eq!(agg.series_count(), 0);
        let bytes = frame_bytes(&[Measurement::new("fresh", None, Value::Counter(4)).unwrap()]);
        agg.ingest(
            &Frame::decode(&bytes).unwrap(),
            start + Duration::from_secs(6),
        );
        let out = agg.flush(start + Duration::from_secs(6));
        assert_eq!(find(&out, "fresh"), Some(&Summary::Counter { sum: 4 }));
    }

    #[test]
    fn slots_freed_at_the_end_are_not_reused_past_it() {
        // Found by the worker_limits fuzz target: expired series at the end of the
        // slot table were given back, but their slot numbers stayed on the free list.
        let mut agg = Aggregator::new(vec![], Duration::from_secs(1));
        let start = Instant::now();
        let all = frame_bytes(&[
            Measurement::new("a", None, Value::Counter(1)).unwrap(),
            Measurement::new("b", None, Value::Counter(1)).unwrap(),
            Measurement::new("c", None, Value::Counter(1)).unwrap(),
        ]);
        agg.ingest(&Frame::decode(&all).unwrap(), start);
        let later = start + Duration::from_secs(5);
        let a = frame_bytes(&[Measurement::new("a", None, Value::Counter(1)).unwrap()]);
        agg.ingest(&Frame::decode(&a).unwrap(), later);
        agg.flush(later);
        assert_eq!(agg.series_count(), 1);
        let new = frame_bytes(&[
            Measurement::new("d", None, Value::Counter(2)).unwrap(),
            Measurement::new("e", None, Value::Counter(3)).unwrap(),
        ]);
        agg.ingest(&Frame::decode(&new).unwrap(), later);
        let out = agg.flush(later);
        assert_eq!(find(&out, "e"), Some(&Summary::Counter { sum: 3 }));
    }

    #[test]
    fn idle_counters_report_zero_until_they_expire_and_others_report_nothing() {
        let mut agg = Aggregator::new(vec![], Duration::from_secs(10));
        let start = Instant::now();
        let bytes = frame_bytes(&[
            Measurement::new("c", None, Value::Counter(1)).unwrap(),
            Measurement::new("g", None, Value::Gauge(1.0)).unwrap(),
        ]);
        agg.ingest(&Frame::decode(&bytes).unwrap(), start);
        assert_eq!(agg.flush(start).len(), 2);
        let idle = agg.flush(start + Duration::from_secs(5));
        assert_eq!(idle.len(), 1);
        assert_eq!(find(&idle, "c"), Some(&Summary::Counter { sum: 0 }));
        assert!(agg.flush(start + Duration::from_secs(11)).is_empty());
        assert_eq!(agg.series_count(), 0);
    }
}
