//! The core every Zibrato worker is built on: the original's `Backend` class, done
//! right.
//!
//! A worker subscribes to exact levels at the broker's worker port, decodes and
//! validates each frame (a malformed one is counted and dropped, never fatal),
//! aggregates per flush window, and hands each window to a [`Backend`] on a thread of
//! its own, so a slow backend never makes it miss frames.
//!
//! # Semantics
//!
//! Series are keyed by (level, kind, name, source); a measurement without a source
//! counts as `not_specified`.
//!
//! * **Counters** are summed over the window. A counter that saw nothing in a window
//!   reports 0, until it has been idle for `--expire-after` seconds; then it is
//!   forgotten and reports nothing.
//! * **Gauges** keep count, sum, min, max, sum of squares and the last reading.
//! * **Timers** keep the same summary, in nanoseconds, and percentiles (p50, p90, p95,
//!   p99 by default) from a [`DurationSketch`], a mergeable log-linear sketch within
//!   0.8 % relative error for values within a factor of 65 536 of the window's largest.
//!   Memory is bounded by the number of series — at most 4 KiB of sketch per timer,
//!   typically 1–3 KiB — never by the number of measurements.
//!
//! # Limits
//!
//! At most `--max-series` live series (20 000 by default) are held. A measurement of a
//! new series past the limit is added to the series [`OVERFLOW_NAME`]
//! (`zibrato.overflow`) of its level and kind instead, its strings are not kept, and it
//! is counted (`zibrato.worker.overflow_measurements`) and warned about at a limited
//! rate with an example name. Publishers' sequence numbers are tracked for at most
//! 65 536 (publisher, level) pairs. So whatever names
//! and publisher ids arrive, memory stays bounded.
//!
//! Windows end on multiples of the flush interval since the Unix epoch, whether or not
//! anything arrives; `measure_time` is the end of the window, so workers with the same
//! interval agree. An idle worker sends nothing.
//!
//! # Failures
//!
//! The backend removes from a [`Window`] what it delivered; what is left is retried
//! with exponential backoff and jitter (or after the service's `Retry-After`, read with
//! [`retry_after`] and cut to `--max-retry-after`), from a queue of at most
//! `--max-pending-bytes` of windows; beyond it the oldest are dropped, counted and
//! logged. A [`DeliveryError::Fatal`] (credentials refused) stops the worker with a
//! failure exit code.
//!
//! With `--spool-dir`, each window is written to disk (and `fsync`ed) before delivery
//! is tried, replayed after a restart and deleted once delivered, so a crash loses at
//! most the window being aggregated; the spool holds at most `--spool-max-bytes`.
//! Delivery is at least once: a request whose answer never came, or a window delivered
//! just before a crash, is sent again, identical.
//!
//! On SIGTERM, SIGINT or SIGQUIT the worker stops reading, flushes what it holds, and
//! delivers within `--shutdown-timeout`: a stop during a backoff or a `Retry-After`
//! pause tries at once, and a failure then is retried within a second, never later
//! than the timeout. It exits 0 when everything was delivered, 3
//! ([`exit::UNDELIVERED`]) when windows were left undelivered at the timeout
//! (dropped and counted in `dropped_windows`, or kept in the spool for the next
//! start, as its log says), or 1 if a backend call is still under way a second past
//! the timeout. A second stop signal ends it at once (status 130); a panic on any
//! thread ends it with status 101.
//!
//! # Time
//!
//! Windows close on the monotonic clock at the wall clock's interval boundaries, kept
//! between half and one and a half intervals apart, and are stamped from the wall clock,
//! each later than the last: a stepped wall clock neither stops nor floods them.
//!
//! # Self-metrics
//!
//! When `zibrato` is among its `--levels` (the same switch that brings the broker's and
//! clients' self-metrics), each window also carries, on the level `zibrato` (source
//! `--source`, by default the host name), counters of the increase since the previous
//! window:
//! `zibrato.worker.frames`, `.measurements`, `.malformed`, `.lost_frames` (from the
//! publishers' sequence numbers: missing past the reorder window or a second), `.late_frames` (of those, frames that came after
//! all), `.duplicate_frames` (frames received twice, dropped: a broker that restarted
//! between forwarding a frame and having it acknowledged sends it again), `.flushes`, `.delivery_errors`, `.dropped_windows`,
//! `.rejected_series`, `.delivered_series`, `.overflow_measurements`, `.spool_errors`,
//! and the gauge
//! `zibrato.worker.series`. They
//! join windows that hold measurements, so an idle worker stays silent; being
//! increases, they lose nothing by waiting.

mod aggregate;
mod backend;
mod config;
mod delivery;
mod options;
mod pending;
mod retry_after;
mod runner;
mod schedule;
mod sequence;
mod sketch;
pub mod spool;
mod subscriber;
mod summary;
mod telemetry;

pub use aggregate::OVERFLOW_NAME;
pub use backend::{Backend, Delivered, DeliveryError};
pub use config::WorkerArgs;
pub use delivery::MAX_RETRY_AFTER;
pub use options::WorkerOptions;
pub use retry_after::retry_after;
pub use runner::{run, run_until};
pub use sketch::{DurationSketch, MAX_BUCKETS};
pub use summary::{Readings, SeriesSummary, Summary, Window};
use telemetry::WorkerStats;
pub use zibrato_common::Shutdown;
pub use zibrato_common::exit;
pub use zibrato_common::{SecondsError, parse_seconds};
pub use zibrato_wire::{DEFAULT_SOURCE, Kind};

/// The worker core's inner parts (aggregation, sequence tracking), public only for
/// this project's fuzz targets and benches, with the feature `internals`. Not part of
/// the API: no documentation promise, no semver promise.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::aggregate::{Aggregator, Refused};
    pub use crate::sequence::{MAX_SEQUENCE_GAP, Observed, REORDER_ALLOWANCE, SequenceTracker};
}
