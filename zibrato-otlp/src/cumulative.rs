//! What cumulative temporality needs: each series' running total (a counter) or
//! running histogram (a timer) since the worker first saw it, in one bounded table.
//!
//! A window delivered again (a retry) is not added twice: a series remembers the last
//! window it took. A series not seen for [`FORGET_AFTER_SECONDS`] is forgotten and, if
//! it returns, starts again with a new start time, as OTLP expects after a reset. The
//! table holds at most `max_series` series; a new series past that is not exported
//! (its points would have no history to run on), counted and warned about by the
//! caller, until forgetting makes room.

use std::collections::HashMap;
use std::sync::Arc;

use crate::histogram::Exponential;

/// Series not seen for this long are forgotten.
pub const FORGET_AFTER_SECONDS: u64 = 3600;

/// The default most series the table holds (`--max-cumulative-series`).
pub const DEFAULT_MAX_SERIES: usize = 100_000;

/// A series' level, name and source.
pub type SeriesKey = (Arc<str>, Arc<str>, Arc<str>);

/// A timer's figures over a window, or summed over windows: exact count, sum, min,
/// max (seconds) and the buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerFigures {
    /// Values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their buckets.
    pub buckets: TimerBuckets,
}

/// A timer's buckets, in the form the worker exports.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerBuckets {
    /// Exponential, at the sketch's full scale (capped only when exported).
    Exponential(Exponential),
    /// Explicit: one count per upper bound, then one above the last.
    Explicit(Vec<u64>),
}

impl TimerFigures {
    fn add(&mut self, window: &TimerFigures) {
        if window.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = window.clone();
            return;
        }
        self.count += window.count;
        self.sum += window.sum;
        self.min = self.min.min(window.min);
        self.max = self.max.max(window.max);
        match (&mut self.buckets, &window.buckets) {
            (TimerBuckets::Exponential(total), TimerBuckets::Exponential(more)) => {
                total.merge(more);
            }
            (TimerBuckets::Explicit(total), TimerBuckets::Explicit(more)) => {
                for (t, m) in total.iter_mut().zip(more) {
                    *t += m;
                }
            }
            // The form is the worker's setting, the same for every window.
            _ => {}
        }
    }
}

enum Total {
    Counter(i64),
    Timer(Box<TimerFigures>),
}

struct Running {
    start_ns: u64,
    last_seen: u64,
    total: Total,
}

/// The table is full: this series has no running total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Running totals and histograms, bounded.
pub struct Cumulative {
    series: HashMap<SeriesKey, Running>,
    max_series: usize,
}

impl Cumulative {
    /// An empty table of at most `max_series` series.
    pub fn new(max_series: usize) -> Self {
        Cumulative {
            series: HashMap::new(),
            max_series,
        }
    }

    /// The series held.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    fn entry(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        fresh: impl FnOnce() -> Total,
    ) -> Result<&mut Running, Full> {
        if !self.series.contains_key(&key) && self.series.len() >= self.max_series {
            return Err(Full);
        }
        Ok(self.series.entry(key).or_insert_with(|| Running {
            start_ns,
            last_seen: 0,
            total: fresh(),
        }))
    }

    /// A counter's total after the window ending at `measure_time` (seconds) added
    /// `sum`, and its start time (nanoseconds).
    pub fn counter(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        measure_time: u64,
        sum: i64,
    ) -> Result<(u64, i64), Full> {
        let running = self.entry(key, start_ns, || Total::Counter(0))?;
        if let Total::Counter(total) = &mut running.total {
            if measure_time > running.last_seen {
                *total = total.saturating_add(sum);
                running.last_seen = measure_time;
            }
            return Ok((running.start_ns, *total));
        }
        // A name that was a timer and is now a counter: start it again.
        running.total = Total::Counter(sum);
        running.start_ns = start_ns;
        running.last_seen = measure_time;
        Ok((start_ns, sum))
    }

    /// A timer's figures since its first window, after the window ending at
    /// `measure_time` added `window`, and its start time (nanoseconds).
    pub fn timer(
        &mut self,
        key: SeriesKey,
        start_ns: u64,
        measure_time: u64,
        window: &TimerFigures,
    ) -> Result<(u64, TimerFigures), Full> {
        let running = self.entry(key, start_ns, || {
            Total::Timer(Box::new(TimerFigures {
                count: 0,
                ..window.clone()
            }))
        })?;
        if let Total::Timer(total) = &mut running.total {
            if measure_time > running.last_seen {
                total.add(window);
                running.last_seen = measure_time;
            }
            return Ok((running.start_ns, (**total).clone()));
        }
        running.total = Total::Timer(Box::new(window.clone()));
        running.start_ns = start_ns;
        running.last_seen = measure_time;
        Ok((start_ns, window.clone()))
    }

    /// Forgets series not seen for [`FORGET_AFTER_SECONDS`] before `now` (seconds).
    pub fn forget_idle(&mut self, now: u64) {
        self.series
            .retain(|_, r| now.saturating_sub(r.last_seen) < FORGET_AFTER_SECONDS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::SCALE;

    fn key(name: &str) -> SeriesKey {
        ("info".into(), name.into(), "w".into())
    }

    fn timer(values: &[f64], counts: Vec<u64>, offset: i32) -> TimerFigures {
        TimerFigures {
            count: values.len() as u64,
            sum: values.iter().sum(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            buckets: TimerBuckets::Exponential(Exponential {
                scale: SCALE,
                offset,
                counts,
                zero: 0,
            }),
        }
    }

    #[test]
    fn timers_run_on_and_a_retry_is_not_added_twice() {
        let mut c = Cumulative::new(10);
        let first = timer(&[0.5, 1.5], vec![1, 0, 1], 10);
        let second = timer(&[0.1], vec![1], 5);
        let (start, total) = c.timer(key("t"), 90, 100, &first).unwrap();
        assert_eq!((start, total.count), (90, 2));
        let (start, total) = c.timer(key("t"), 100, 110, &second).unwrap();
        assert_eq!(start, 90, "the series' first window's start");
        let (_, retried) = c.timer(key("t"), 100, 110, &second).unwrap();
        assert_eq!(retried, total);
        assert_eq!((total.count, total.min, total.max), (3, 0.1, 1.5));
        assert!((total.sum - 2.1).abs() < 1e-12);
        let TimerBuckets::Exponential(h) = total.buckets else {
            panic!("exponential")
        };
        assert_eq!((h.offset, h.counts.iter().sum::<u64>()), (5, 3));
    }

    #[test]
    fn the_table_is_bounded_and_forgetting_makes_room() {
        let mut c = Cumulative::new(2);
        assert_eq!(c.counter(key("a"), 0, 100, 1), Ok((0, 1)));
        assert_eq!(c.counter(key("b"), 0, 100, 1), Ok((0, 1)));
        assert_eq!(c.counter(key("c"), 0, 100, 1), Err(Full));
        // A series held goes on.
        assert_eq!(c.counter(key("a"), 0, 110, 2), Ok((0, 3)));
        c.counter(key("b"), 0, 100 + FORGET_AFTER_SECONDS, 0)
            .unwrap();
        c.forget_idle(110 + FORGET_AFTER_SECONDS);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.counter(key("c"), 5, 200 + FORGET_AFTER_SECONDS, 4),
            Ok((5, 4))
        );
    }
}
