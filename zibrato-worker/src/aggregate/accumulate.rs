//! What one series keeps over a flush window, and what it reports at the flush:
//! counters sum, gauges and timers summarise, a timer's percentiles come from its
//! bounded sketch.

use zibrato_wire::{Kind, Value, Values};

use crate::sketch::DurationSketch;
use crate::summary::{Readings, Summary};

/// One series' window so far; its variant is the series' kind, fixed at creation.
pub(super) enum Aggregate {
    Counter { sum: i64, events: u64 },
    Gauge(Option<Readings>),
    Timer(Option<(Readings, DurationSketch, Vec<u64>)>),
}

impl Aggregate {
    /// An empty window for a series of `kind`.
    pub(super) fn new(kind: Kind) -> Aggregate {
        match kind {
            Kind::Counter => Aggregate::Counter { sum: 0, events: 0 },
            Kind::Gauge => Aggregate::Gauge(None),
            Kind::Timer => Aggregate::Timer(None),
        }
    }

    /// Adds a series' values. Values of another kind are skipped: a validated frame
    /// never holds them, since a series' kind is part of its key. Counter sums
    /// saturate rather than wrap; up to `keep` raw timer values are kept.
    pub(super) fn add(&mut self, values: Values<'_>, keep: usize) {
        match self {
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

    /// Closes the window: what to report, if anything, and an empty window after it.
    /// A counter reports its sum, 0 when idle, until it has `expired`; a gauge or timer
    /// reports only a window that saw values. Each percentile is read from the sketch
    /// and clamped to what was seen.
    pub(super) fn take(
        &mut self,
        percentiles: &[f64],
        expired: bool,
        keep_sketch: bool,
    ) -> Option<Summary> {
        match self {
            Aggregate::Counter { sum, events } => {
                let summary = Summary::Counter { sum: *sum };
                let had_events = *events > 0;
                *sum = 0;
                *events = 0;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use zibrato_wire::{FrameBuilder, Header, Level, Measurement};

    /// Adds `values` of one series named "s" to `aggregate`, through a real frame.
    fn add(aggregate: &mut Aggregate, values: &[Value], keep: usize) {
        let mut builder = FrameBuilder::<&str, 8, 8, 128>::new();
        for &value in values {
            builder
                .push(Measurement::new("s", None, value).unwrap())
                .unwrap();
        }
        let level = Level::new("info").unwrap();
        let mut buf = vec![0; builder.encoded_len(level, &Header::default())];
        builder.encode(level, &Header::default(), &mut buf).unwrap();
        let frame = zibrato_wire::Frame::decode(&buf).unwrap();
        for series in frame.series() {
            aggregate.add(series.values, keep);
        }
    }

    #[test]
    fn a_counter_saturates_instead_of_wrapping() {
        let mut counter = Aggregate::new(Kind::Counter);
        add(
            &mut counter,
            &[Value::Counter(i64::MAX), Value::Counter(5)],
            0,
        );
        assert_eq!(
            counter.take(&[], false, false),
            Some(Summary::Counter { sum: i64::MAX })
        );
    }

    #[test]
    fn an_idle_counter_reports_zero_until_it_expires() {
        let mut counter = Aggregate::new(Kind::Counter);
        assert_eq!(
            counter.take(&[], false, false),
            Some(Summary::Counter { sum: 0 })
        );
        assert_eq!(counter.take(&[], true, false), None);
        // A counter that saw events reports them even in the window it expires.
        add(&mut counter, &[Value::Counter(3)], 0);
        assert_eq!(
            counter.take(&[], true, false),
            Some(Summary::Counter { sum: 3 })
        );
    }

    #[test]
    fn a_gauge_or_timer_without_values_reports_nothing_and_resets_after_a_report() {
        for kind in [Kind::Gauge, Kind::Timer] {
            let mut series = Aggregate::new(kind);
            assert_eq!(series.take(&[0.5], false, false), None, "{kind:?}");
            let value = match kind {
                Kind::Gauge => Value::Gauge(2.0),
                _ => Value::Timer(2),
            };
            add(&mut series, &[value], 0);
            assert!(series.take(&[0.5], false, false).is_some(), "{kind:?}");
            assert_eq!(series.take(&[0.5], false, false), None, "{kind:?}");
        }
    }

    #[test]
    fn values_of_another_kind_are_skipped() {
        let mut gauge = Aggregate::new(Kind::Gauge);
        add(&mut gauge, &[Value::Counter(1), Value::Timer(9)], 0);
        assert_eq!(gauge.take(&[], false, false), None);
    }

    #[test]
    fn timer_percentiles_stay_within_what_was_seen_and_raw_values_are_bounded() {
        let mut timer = Aggregate::new(Kind::Timer);
        let values: Vec<Value> = (1..=100).map(|ms| Value::Timer(ms * 1_000_000)).collect();
        add(&mut timer, &values, 10);
        let Some(Summary::Timer {
            values,
            stats,
            percentiles,
            sketch,
        }) = timer.take(&[0.0, 0.5, 1.0], false, true)
        else {
            panic!("a timer summary")
        };
        assert_eq!(
            values,
            (1..=10).map(|ms| ms * 1_000_000).collect::<Vec<_>>()
        );
        assert_eq!((stats.count, stats.min, stats.max), (100, 1e6, 100e6));
        for &(q, value) in &percentiles {
            assert!((1e6..=100e6).contains(&value), "p{q} = {value}");
        }
        let median = percentiles[1].1;
        // The 50th or 51st value, within the sketch's 0.8 %.
        assert!((50e6 * 0.992..=51e6 * 1.008).contains(&median), "{median}");
        assert!(sketch.is_some(), "kept when asked for");
        // One value: every percentile is that value exactly, not its bucket's midpoint.
        add(&mut timer, &[Value::Timer(1_234_567)], 0);
        let Some(Summary::Timer { percentiles, .. }) = timer.take(&[0.0, 0.5, 1.0], false, false)
        else {
            panic!("a timer summary")
        };
        assert!(
            percentiles.iter().all(|&(_, v)| v == 1_234_567.0),
            "{percentiles:?}"
        );
    }
}
