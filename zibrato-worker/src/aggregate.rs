//! Aggregation of measurements per (level, kind, name, source) over a flush window.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::{Equivalent, HashMap, HashSet};
use rustc_hash::FxBuildHasher;
use sketches_ddsketch::{Config, DDSketch};
use zibrato_wire::{DEFAULT_SOURCE, Frame, Kind, Value};

use crate::summary::{SeriesSummary, Stats, Summary};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    level: Arc<str>,
    kind: Kind,
    name: Arc<str>,
    source: Arc<str>,
}

#[derive(Clone, Copy)]
struct KeyRef<'a> {
    level: &'a str,
    kind: Kind,
    name: &'a str,
    source: &'a str,
}

fn hash_key<H: Hasher>(state: &mut H, level: &str, kind: Kind, name: &str, source: &str) {
    level.hash(state);
    state.write_u8(kind.code());
    name.hash(state);
    source.hash(state);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(state, &self.level, self.kind, &self.name, &self.source);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(state, self.level, self.kind, self.name, self.source);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.kind == key.kind
            && self.name == &*key.name
            && self.source == &*key.source
            && self.level == &*key.level
    }
}

enum Aggregate {
    Counter { sum: i64, events: u64 },
    Gauge(Option<Stats>),
    Timer(Option<(Stats, Box<DDSketch>)>),
}

struct State {
    aggregate: Aggregate,
    last_seen: Instant,
}

/// Sums counters, summarises gauges and timers, and hands out one [`Window`] per
/// flush. Memory grows with the number of series, never with the number of
/// measurements: a timer keeps a bounded sketch, not its values.
///
/// [`Window`]: crate::Window
pub struct Aggregator {
    series: HashMap<Key, State, FxBuildHasher>,
    strings: HashSet<Arc<str>, FxBuildHasher>,
    percentiles: Vec<f64>,
    sketch: Config,
    expire_after: Duration,
}

impl Aggregator {
    /// An aggregator reporting `percentiles` (each in 0..=1) for timers and forgetting
    /// series idle for longer than `expire_after`.
    pub fn new(percentiles: Vec<f64>, expire_after: Duration) -> Aggregator {
        Aggregator {
            series: HashMap::default(),
            strings: HashSet::default(),
            percentiles,
            // 1 % relative error; at most 2048 buckets, so at most 16 KiB per timer.
            sketch: Config::defaults(),
            expire_after,
        }
    }

    /// How many series are tracked.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    fn intern(strings: &mut HashSet<Arc<str>, FxBuildHasher>, s: &str) -> Arc<str> {
        if let Some(existing) = strings.get(s) {
            return Arc::clone(existing);
        }
        let new: Arc<str> = Arc::from(s);
        strings.insert(Arc::clone(&new));
        new
    }

    /// Adds every measurement of a validated frame, at time `now`. Returns how many.
    pub fn ingest(&mut self, frame: &Frame<'_>, now: Instant) -> usize {
        let level = frame.level().as_str();
        let mut names: Vec<&str> = Vec::with_capacity(frame.strings().len());
        names.extend(frame.strings());
        let mut added = 0;
        for series in frame.series() {
            let (Some(&name), source) = (names.get(series.name as usize), series.source) else {
                continue;
            };
            let source = match source {
                Some(index) => names.get(index as usize).copied().unwrap_or(DEFAULT_SOURCE),
                None => DEFAULT_SOURCE,
            };
            let key = KeyRef {
                level,
                kind: series.kind,
                name,
                source,
            };
            let sketch = self.sketch;
            let state = self.state(key, now);
            state.last_seen = now;
            added += series.values.len();
            add_values(&mut state.aggregate, series.values, &sketch);
        }
        added
    }

    fn state(&mut self, key: KeyRef<'_>, now: Instant) -> &mut State {
        if !self.series.contains_key(&key) {
            let owned = Key {
                level: Self::intern(&mut self.strings, key.level),
                kind: key.kind,
                name: Self::intern(&mut self.strings, key.name),
                source: Self::intern(&mut self.strings, key.source),
            };
            let aggregate = match key.kind {
                Kind::Counter => Aggregate::Counter { sum: 0, events: 0 },
                Kind::Gauge => Aggregate::Gauge(None),
                Kind::Timer => Aggregate::Timer(None),
            };
            self.series.insert(
                owned,
                State {
                    aggregate,
                    last_seen: now,
                },
            );
        }
        // Just inserted if it was missing.
        self.series.get_mut(&key).expect("series present")
    }

    /// Closes the window: returns every series with data (and every counter not yet
    /// expired, at 0 if it saw nothing), resets them, and forgets series idle for
    /// longer than the expiry.
    pub fn flush(&mut self, now: Instant) -> Vec<SeriesSummary> {
        let expire_after = self.expire_after;
        let mut out = Vec::new();
        self.series.retain(|key, state| {
            let expired = now.duration_since(state.last_seen) > expire_after;
            if let Some(summary) = take(&mut state.aggregate, &self.percentiles, expired) {
                out.push(SeriesSummary {
                    level: Arc::clone(&key.level),
                    kind: key.kind,
                    name: Arc::clone(&key.name),
                    source: Arc::clone(&key.source),
                    summary,
                });
            }
            !expired
        });
        // Strings no series uses any more go too.
        if self.strings.len() > 4 * self.series.len() + 1024 {
            self.strings.retain(|s| Arc::strong_count(s) > 1);
        }
        out
    }
}

fn add_values(aggregate: &mut Aggregate, values: zibrato_wire::Values<'_>, config: &Config) {
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
                        None => *stats = Some(Stats::of(v)),
                    }
                }
            }
        }
        Aggregate::Timer(timer) => {
            for value in values {
                if let Value::Timer(ns) = value {
                    let v = ns as f64;
                    match timer {
                        Some((s, sketch)) => {
                            s.add(v);
                            sketch.add(v);
                        }
                        None => {
                            let mut sketch = Box::new(DDSketch::new(*config));
                            sketch.add(v);
                            *timer = Some((Stats::of(v), sketch));
                        }
                    }
                }
            }
        }
    }
}

fn take(aggregate: &mut Aggregate, percentiles: &[f64], expired: bool) -> Option<Summary> {
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
        Aggregate::Timer(timer) => timer.take().map(|(stats, sketch)| Summary::Timer {
            stats,
            percentiles: percentiles
                .iter()
                .map(|&q| (q, sketch.quantile(q).ok().flatten().unwrap_or(stats.max)))
                .collect(),
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
        let Some(Summary::Timer { stats, percentiles }) = find(&out, "t") else {
            panic!()
        };
        assert_eq!(stats.count, 1);
        assert_eq!(percentiles.len(), 2);
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
