//! What a flushed window holds for one series.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use zibrato_wire::Kind;

/// Count, sum, min, max, sum of squares and last value of the readings in a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Readings {
    /// Number of readings.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
    /// The last one received.
    pub last: f64,
}

impl Readings {
    /// The summary of one reading.
    pub fn of(value: f64) -> Readings {
        Readings {
            count: 1,
            sum: value,
            min: value,
            max: value,
            sum_squares: value * value,
            last: value,
        }
    }

    /// Adds a reading.
    #[inline]
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum_squares += value * value;
        self.last = value;
    }

    /// The mean of the readings.
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// The same readings in another unit, each multiplied by `factor` (`1e-9` turns a
    /// timer's nanoseconds into seconds); the sum of squares by `factor²`.
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Readings {
        Readings {
            count: self.count,
            sum: self.sum * factor,
            min: self.min * factor,
            max: self.max * factor,
            sum_squares: self.sum_squares * factor * factor,
            last: self.last * factor,
        }
    }
}

/// The aggregate of one series over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Summary {
    /// The sum of the increments (0 for a counter that saw none this window but has not
    /// expired yet).
    Counter {
        /// Sum of the increments.
        sum: i64,
    },
    /// The readings' statistics.
    Gauge(Readings),
    /// The durations' statistics, in nanoseconds, and the configured percentiles as
    /// `(quantile, nanoseconds)` pairs, from the worker's [`DurationSketch`](crate::DurationSketch)
    /// (within 0.8 % of the true value, for values within a factor of 65 536 of the
    /// window's largest).
    Timer {
        /// Statistics of the durations, in nanoseconds.
        stats: Readings,
        /// `(quantile, value in nanoseconds)`, in the configured order.
        percentiles: Vec<(f64, f64)>,
        /// The durations themselves, in arrival order, for a backend that asks for them
        /// ([`Backend::timer_values`](crate::Backend::timer_values)), at most that many
        /// per series and window; empty otherwise.
        values: Vec<u64>,
        /// The window's distribution of durations, for a backend that asks for it
        /// ([`Backend::timer_sketch`](crate::Backend::timer_sketch)) to export a
        /// histogram; `None` otherwise.
        sketch: Option<crate::DurationSketch>,
    },
}

/// One series in a flushed window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SeriesSummary {
    /// The level it arrived on.
    pub level: Arc<str>,
    /// Counter, gauge or timer.
    pub kind: Kind,
    /// The series name.
    pub name: Arc<str>,
    /// The source (`not_specified` when the publisher gave none).
    pub source: Arc<str>,
    /// The aggregate.
    pub summary: Summary,
}

/// One flushed window: what a [`Backend`](crate::Backend) delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Window {
    /// The end of the window, in seconds since the Unix epoch, aligned to the flush
    /// interval: every worker with the same interval stamps the same times.
    pub measure_time: u64,
    /// The flush interval.
    pub interval: std::time::Duration,
    /// The series, in no particular order. A backend removes what it has delivered, so
    /// a retry sends only the rest.
    pub series: Vec<SeriesSummary>,
}

impl SeriesSummary {
    /// A series' aggregate for one window. `source` is [`DEFAULT_SOURCE`] for a series
    /// published without one.
    ///
    /// [`DEFAULT_SOURCE`]: crate::DEFAULT_SOURCE
    pub fn new(
        level: impl Into<Arc<str>>,
        kind: Kind,
        name: impl Into<Arc<str>>,
        source: impl Into<Arc<str>>,
        summary: Summary,
    ) -> Self {
        SeriesSummary {
            level: level.into(),
            kind,
            name: name.into(),
            source: source.into(),
            summary,
        }
    }
}

impl Window {
    /// A window ending at `measure_time` (seconds since the Unix epoch) after
    /// `interval`, holding `series`.
    pub fn new(
        measure_time: u64,
        interval: std::time::Duration,
        series: Vec<SeriesSummary>,
    ) -> Self {
        Window {
            measure_time,
            interval,
            series,
        }
    }

    /// About how many bytes the window holds in memory: what the pending queue's bound
    /// (`--max-pending-bytes`) counts.
    pub fn approx_bytes(&self) -> usize {
        const SERIES: usize = std::mem::size_of::<SeriesSummary>() + 3 * 16;
        std::mem::size_of::<Window>()
            + self
                .series
                .iter()
                .map(|s| {
                    let extra = match &s.summary {
                        Summary::Timer {
                            percentiles,
                            values,
                            sketch,
                            ..
                        } => {
                            percentiles.len() * 16
                                + values.len() * 8
                                + sketch.as_ref().map_or(0, |s| s.approx_bytes())
                        }
                        _ => 0,
                    };
                    SERIES + s.level.len() + s.name.len() + s.source.len() + extra
                })
                .sum::<usize>()
    }
}
