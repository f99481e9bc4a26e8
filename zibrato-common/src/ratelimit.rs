//! Warnings that cannot flood the log.

use std::time::{Duration, Instant};

/// Lets one message through per interval and counts the ones it holds back.
///
/// A hostile peer can make a daemon drop a million frames a second; the log gets one
/// line per reason and interval, with the count of what it did not print.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zibrato_common::RateLimiter;
///
/// let mut limiter = RateLimiter::new(Duration::from_secs(10));
/// assert_eq!(limiter.check(), Some(0));
/// assert_eq!(limiter.check(), None);
/// assert_eq!(limiter.check(), None);
/// // After the interval, the next check passes and reports the 2 suppressed.
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimiter {
    /// A limiter that passes one message per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLimiter {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a message may be logged now, `n` being how many were held back
    /// since the last one; `None` when this one should be held back.
    pub fn check(&mut self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    /// [`check`](Self::check) at `now` (a clock the caller gives, for tests and for
    /// callers that have read it already).
    pub fn check_at(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_again_after_the_interval_with_the_count_held_back() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(Duration::from_secs(10));
        assert_eq!(limiter.check_at(start), Some(0));
        assert_eq!(limiter.check_at(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.check_at(start + Duration::from_secs(9)), None);
        assert_eq!(limiter.check_at(start + Duration::from_secs(10)), Some(2));
        // The interval counts from the last message let through.
        assert_eq!(limiter.check_at(start + Duration::from_secs(19)), None);
        assert_eq!(limiter.check_at(start + Duration::from_secs(20)), Some(1));
    }

    #[test]
    fn a_clock_read_before_the_last_check_holds_back() {
        let start = Instant::now() + Duration::from_secs(5);
        let mut limiter = RateLimiter::new(Duration::from_secs(10));
        assert_eq!(limiter.check_at(start), Some(0));
        assert_eq!(limiter.check_at(start - Duration::from_secs(5)), None);
    }
}
