//! The delivery thread: a bounded queue of windows, retries with backoff and jitter.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_common::{RateLimiter, Shutdown, later};

use crate::pending::{Bounds, Pending};
use crate::spool::{Spool, SpoolFile};
use crate::{Backend, Delivered, DeliveryError, Window, WorkerStats};

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The longest wait [`retry_after`](crate::retry_after) reads from a header: a larger or
/// absurd value is cut to this, so one odd header cannot stall delivery for hours (or
/// overflow the clock). `--max-retry-after` may cut it shorter.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Settings of the delivery thread.
pub(crate) struct Delivery {
    pub bounds: Bounds,
    /// The spool and the windows a previous run left in it.
    pub spool: Option<(Spool, Vec<SpoolFile>)>,
    pub shutdown_timeout: Duration,
    pub max_retry_after: Duration,
    pub stats: Arc<WorkerStats>,
    pub shutdown: Shutdown,
}

/// How the delivery thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Everything flushed was delivered.
    Clean,
    /// The shutdown timeout passed with windows undelivered: dropped (counted), or
    /// left in the spool for the next start.
    Undelivered,
    /// The backend refused the worker.
    Fatal,
}

/// During a stop, the longest wait between attempts: a retry after a failure comes
/// no later than this, whatever the backoff or `Retry-After` said, so the last attempt
/// falls within `--shutdown-timeout`.
const CLOSING_RETRY: Duration = Duration::from_secs(1);

/// Exponential backoff with ±25 % jitter, so many workers do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    let jitter = 0.75 + fastrand::f64() / 2.0;
    base.mul_f64(jitter)
}

impl Delivery {
    pub(crate) fn run<B: Backend>(mut self, mut backend: B, windows: Receiver<Window>) -> Ended {
        let mut queue = Pending::new(self.bounds, self.spool.take(), Arc::clone(&self.stats));
        if !queue.is_empty() {
            info!(
                windows = queue.len(),
                bytes = queue.spooled_bytes(),
                "replaying the windows a previous run left in the spool"
            );
        }
        let mut attempt = 0u32;
        let mut next_try = Instant::now();
        let mut failures = RateLimiter::new(Duration::from_secs(10));
        let mut closing: Option<Instant> = None;
        loop {
            // Take new windows without waiting past the next retry; once the ingest
            // side has closed, sleep until the retry or the deadline instead.
            let now = Instant::now();
            let wait = if queue.is_empty() {
                Duration::from_millis(200)
            } else {
                next_try.saturating_duration_since(now)
            };
            match closing {
                Some(deadline) => {
                    let until = next_try.min(deadline).saturating_duration_since(now);
                    std::thread::sleep(until.min(Duration::from_millis(200)));
                }
                None => match windows.recv_timeout(wait) {
                    Ok(window) => {
                        queue.push(window);
                        while let Ok(window) = windows.try_recv() {
                            queue.push(window);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        closing = Some(later(Instant::now(), self.shutdown_timeout));
                        // A stop is a deadline, not a reason to keep waiting: whatever
                        // pause a backoff or a `Retry-After` asked for, try now.
                        next_try = Instant::now();
                    }
                },
            }
            if let Some(deadline) = closing {
                if queue.is_empty() {
                    return Ended::Clean;
                }
                if Instant::now() >= deadline {
                    let (dropped, kept) = queue.abandon();
                    if dropped > 0 {
                        error!(
                            windows = dropped,
                            "shutdown timeout: windows not delivered are dropped"
                        );
                    }
                    if kept > 0 {
                        warn!(
                            windows = kept,
                            "shutdown timeout: windows not delivered stay in the spool for the next start"
                        );
                    }
                    return Ended::Undelivered;
                }
            }
            if queue.is_empty() || Instant::now() < next_try {
                continue;
            }
            let Some(window) = queue.front() else {
                continue;
            };
            let before = window.series.len();
            match backend.deliver(window) {
                Ok(delivered) => {
                    self.count(delivered);
                    queue.done();
                    // Recovered only once the service takes something: a window dropped
                    // as too old, or refused whole, says nothing about the outage.
                    if delivered.accepted > 0 {
                        if attempt > 0 {
                            info!(backend = backend.name(), "delivery recovered");
                        }
                        attempt = 0;
                    }
                }
                Err(DeliveryError::Retry {
                    reason,
                    after,
                    delivered,
                }) => {
                    self.count(delivered);
                    if window.series.len() < before {
                        queue.partly_done();
                    }
                    self.stats.delivery_errors.fetch_add(1, Ordering::Relaxed);
                    let mut delay = after
                        .map_or_else(|| backoff(attempt), |after| after.min(self.max_retry_after));
                    if closing.is_some() {
                        delay = delay.min(CLOSING_RETRY);
                    }
                    attempt = attempt.saturating_add(1);
                    next_try = later(Instant::now(), delay);
                    if let Some(suppressed) = failures.check() {
                        warn!(
                            backend = backend.name(),
                            %reason,
                            retry_in = ?delay,
                            pending = queue.len(),
                            suppressed,
                            "delivery failed; will retry"
                        );
                    }
                }
                Err(DeliveryError::Fatal { reason }) => {
                    self.stats.delivery_errors.fetch_add(1, Ordering::Relaxed);
                    error!(backend = backend.name(), %reason, "delivery refused; stopping");
                    self.shutdown.request();
                    return Ended::Fatal;
                }
            }
        }
    }

    /// Counts what a delivery attempt achieved, whether or not it then failed.
    fn count(&self, delivered: Delivered) {
        self.stats
            .delivered_series
            .fetch_add(delivered.accepted as u64, Ordering::Relaxed);
        self.stats
            .rejected_series
            .fetch_add(delivered.rejected as u64, Ordering::Relaxed);
        if delivered.expired {
            self.stats.dropped_windows.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_with_jitter() {
        let first = backoff(0);
        assert!(first >= Duration::from_millis(375) && first <= Duration::from_millis(625));
        let capped = backoff(20);
        assert!(capped >= MAX_BACKOFF.mul_f64(0.75) && capped <= MAX_BACKOFF.mul_f64(1.25));
    }
}
