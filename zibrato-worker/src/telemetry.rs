//! The worker's own counters, and how they join each window.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zibrato_common::SELF_METRICS_LEVEL;
use zibrato_wire::Kind;

use crate::summary::{Readings, SeriesSummary, Summary};

/// Running totals, shared by the ingest and delivery threads.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Frames received and valid.
    pub frames: AtomicU64,
    /// Measurements in them.
    pub measurements: AtomicU64,
    /// Messages that failed validation and were dropped.
    pub malformed: AtomicU64,
    /// Frames lost in transit, from sequence gaps.
    pub lost_frames: AtomicU64,
    /// Of those, frames that arrived after all, late (and were taken).
    pub late_frames: AtomicU64,
    /// Frames received a second time (resent after a broker restart), dropped.
    pub duplicate_frames: AtomicU64,
    /// Windows flushed with something in them.
    pub flushes: AtomicU64,
    /// Delivery attempts that failed.
    pub delivery_errors: AtomicU64,
    /// Windows dropped because the pending queue was full or time ran out at shutdown.
    pub dropped_windows: AtomicU64,
    /// Series the backend will never accept, dropped.
    pub rejected_series: AtomicU64,
    /// Series delivered.
    pub delivered_series: AtomicU64,
    /// Measurements of new series past `--max-series`, folded into the overflow series.
    pub overflow_measurements: AtomicU64,
    /// Spool files that could not be written, rewritten or read back.
    pub spool_errors: AtomicU64,
}

impl WorkerStats {
    fn totals(&self) -> [(&'static str, u64); TOTALS] {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("zibrato.worker.frames", l(&self.frames)),
            ("zibrato.worker.measurements", l(&self.measurements)),
            ("zibrato.worker.malformed", l(&self.malformed)),
            ("zibrato.worker.lost_frames", l(&self.lost_frames)),
            ("zibrato.worker.late_frames", l(&self.late_frames)),
            ("zibrato.worker.duplicate_frames", l(&self.duplicate_frames)),
            ("zibrato.worker.flushes", l(&self.flushes)),
            ("zibrato.worker.delivery_errors", l(&self.delivery_errors)),
            ("zibrato.worker.dropped_windows", l(&self.dropped_windows)),
            ("zibrato.worker.rejected_series", l(&self.rejected_series)),
            ("zibrato.worker.delivered_series", l(&self.delivered_series)),
            (
                "zibrato.worker.overflow_measurements",
                l(&self.overflow_measurements),
            ),
            ("zibrato.worker.spool_errors", l(&self.spool_errors)),
        ]
    }
}

/// How many counters [`WorkerStats`] reports.
const TOTALS: usize = 13;

/// Turns the totals into per-window increases, as counter series of the level
/// `zibrato`.
pub(crate) struct SelfMetrics {
    stats: Arc<WorkerStats>,
    source: Arc<str>,
    level: Arc<str>,
    last: [u64; TOTALS],
}

impl SelfMetrics {
    pub(crate) fn new(stats: Arc<WorkerStats>, source: &str) -> Self {
        SelfMetrics {
            stats,
            source: Arc::from(source),
            level: Arc::from(SELF_METRICS_LEVEL),
            last: [0; TOTALS],
        }
    }

    /// The increases since the last call, and the series count; nothing if nothing
    /// changed, so an idle worker sends nothing.
    pub(crate) fn window(&mut self, series: usize) -> Vec<SeriesSummary> {
        let totals = self.stats.totals();
        if totals
            .iter()
            .zip(&self.last)
            .all(|((_, now), last)| now == last)
        {
            return Vec::new();
        }
        let deltas: Vec<(&str, u64)> = totals
            .iter()
            .zip(&mut self.last)
            .map(|(&(name, now), last)| (name, now.saturating_sub(std::mem::replace(last, now))))
            .collect();
        let mut out: Vec<SeriesSummary> = deltas
            .into_iter()
            .map(|(name, delta)| {
                self.series(name, Kind::Counter, Summary::Counter { sum: delta as i64 })
            })
            .collect();
        out.push(self.series(
            "zibrato.worker.series",
            Kind::Gauge,
            Summary::Gauge(Readings::of(series as f64)),
        ));
        out
    }

    fn series(&self, name: &str, kind: Kind, summary: Summary) -> SeriesSummary {
        SeriesSummary {
            level: Arc::clone(&self.level),
            kind,
            name: Arc::from(name),
            source: Arc::clone(&self.source),
            summary,
        }
    }

    pub(crate) fn stats(&self) -> &WorkerStats {
        &self.stats
    }
}
