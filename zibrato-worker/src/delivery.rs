//! The delivery thread: a bounded queue of windows, retries with backoff and jitter.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_daemon::{RateLimiter, Shutdown, later};

use crate::{Backend, DeliveryError, Window, WorkerStats};

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The longest wait [`retry_after`](crate::retry_after) reads from a header: a larger or
/// absurd value is cut to this, so one odd header cannot stall delivery for hours (or
/// overflow the clock). `--max-retry-after` may cut it shorter.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Settings of the delivery thread.
pub(crate) struct Delivery {
    pub max_pending: usize,
    pub shutdown_timeout: Duration,
    pub max_retry_after: Duration,
    pub stats: Arc<WorkerStats>,
    pub shutdown: Shutdown,
}

/// How the delivery thread ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Clean,
    Fatal,
}

/// Exponential backoff with ±25 % jitter, so many workers do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    let jitter = (zibrato_daemon::random_publisher_id() % 501) as f64 / 1000.0 + 0.75;
    base.mul_f64(jitter)
}

impl Delivery {
    pub(crate) fn run<B: Backend>(self, mut backend: B, windows: Receiver<Window>) -> Ended {
        let mut queue: VecDeque<Window> = VecDeque::new();
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
                        queue.push_back(window);
                        while let Ok(window) = windows.try_recv() {
                            queue.push_back(window);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        closing = Some(later(Instant::now(), self.shutdown_timeout));
                    }
                },
            }
            while queue.len() > self.max_pending {
                if let Some(old) = queue.pop_front() {
                    self.stats.dropped_windows.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        measure_time = old.measure_time,
                        series = old.series.len(),
                        pending = self.max_pending,
                        "delivery is failing for longer than the pending queue holds; dropped the oldest window"
                    );
                }
            }
            if let Some(deadline) = closing {
                if queue.is_empty() {
                    return Ended::Clean;
                }
                if Instant::now() >= deadline {
                    let dropped = queue.len() as u64;
                    self.stats
                        .dropped_windows
                        .fetch_add(dropped, Ordering::Relaxed);
                    error!(
                        windows = dropped,
                        "shutdown timeout: windows not delivered are dropped"
                    );
                    return Ended::Clean;
                }
            }
            if queue.is_empty() || Instant::now() < next_try {
                continue;
            }
            let Some(window) = queue.front_mut() else {
                continue;
            };
            match backend.deliver(window) {
                Ok(delivered) => {
                    self.stats
                        .delivered_series
                        .fetch_add(delivered.accepted as u64, Ordering::Relaxed);
                    self.stats
                        .rejected_series
                        .fetch_add(delivered.rejected as u64, Ordering::Relaxed);
                    if delivered.expired {
                        self.stats.dropped_windows.fetch_add(1, Ordering::Relaxed);
                    }
                    queue.pop_front();
                    // Recovered only once the service takes something: a window dropped
                    // as too old, or refused whole, says nothing about the outage.
                    if delivered.accepted > 0 {
                        if attempt > 0 {
                            info!(backend = backend.name(), "delivery recovered");
                        }
                        attempt = 0;
                    }
                }
                Err(DeliveryError::Retry { reason, after }) => {
                    self.stats.delivery_errors.fetch_add(1, Ordering::Relaxed);
                    let delay = after
                        .map_or_else(|| backoff(attempt), |after| after.min(self.max_retry_after));
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
