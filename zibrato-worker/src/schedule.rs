//! When windows close and how they are stamped: closes follow the monotonic clock,
//! stamps the wall clock's interval boundaries, and stamps only move forward.

use std::time::{Duration, Instant};

use zibrato_common::later;

/// When windows close: on the monotonic clock, so a wall clock stepped back or forward
/// neither stops flushing nor floods windows; each window is stamped from the wall
/// clock, rounded to the interval's boundary, and always later than the last one.
pub(crate) struct Schedule {
    interval: Duration,
    interval_us: u64,
    /// When the current window closes, on the monotonic clock.
    pub(crate) next_flush: Instant,
    /// The stamp of the last window, in microseconds since the Unix epoch.
    last_us: Option<u64>,
}

impl Schedule {
    pub(crate) fn new(interval: Duration, wall_us: u64, now: Instant) -> Schedule {
        let interval_us = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let until_boundary = interval_us - wall_us % interval_us;
        Schedule {
            interval,
            interval_us,
            next_flush: later(now, Duration::from_micros(until_boundary)),
            last_us: None,
        }
    }

    /// Closes the current window at `now` (wall clock `wall_us`, read at `now`): returns
    /// its stamp and sets the next close for the next wall-clock boundary, kept between
    /// half an interval and one and a half intervals away whatever the wall clock did,
    /// and after a stall (a suspended process) skipping the windows that were missed.
    pub(crate) fn advance(&mut self, wall_us: u64, now: Instant) -> u64 {
        let stamp = self.stamp(wall_us);
        let until_boundary = Duration::from_micros(self.interval_us - wall_us % self.interval_us);
        let wait = until_boundary.clamp(self.interval / 2, self.interval.saturating_mul(3) / 2);
        // From `now`, the moment the wall clock was read: from the planned time, a late
        // flush would pull the next one early, and the next earlier still.
        self.next_flush = later(now, wait);
        stamp
    }

    /// The stamp of the window closed at shutdown: the boundary at or after now.
    pub(crate) fn last_window(&mut self, wall_us: u64) -> u64 {
        let boundary = wall_us
            .div_ceil(self.interval_us)
            .saturating_mul(self.interval_us);
        self.after_last(boundary)
    }

    /// The boundary nearest to the wall clock (the flush runs a little after it).
    fn stamp(&mut self, wall_us: u64) -> u64 {
        let nearest = wall_us
            .saturating_add(self.interval_us / 2)
            .saturating_sub((wall_us.saturating_add(self.interval_us / 2)) % self.interval_us);
        self.after_last(nearest)
    }

    /// Stamps only move forward, by at least one interval: a wall clock stepped back
    /// must not give two windows the same time.
    fn after_last(&mut self, stamp: u64) -> u64 {
        let stamp = match self.last_us {
            Some(last) if stamp <= last => last.saturating_add(self.interval_us),
            _ => stamp,
        };
        self.last_us = Some(stamp);
        stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn windows_follow_the_monotonic_clock_whatever_the_wall_clock_does() {
        let b = 10_000_000 * S;
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(10), b + 3 * S, start);
        assert_eq!(schedule.next_flush - start, Duration::from_secs(7));
        let mut now = schedule.next_flush;
        assert_eq!(schedule.advance(b + 10 * S, now), b + 10 * S);
        assert_eq!(schedule.next_flush - now, Duration::from_secs(10));
        // The wall clock steps back an hour: the next window still closes in 10 s and
        // is stamped after the last one.
        now = schedule.next_flush;
        assert_eq!(schedule.advance(b + 20 * S - 3_600 * S, now), b + 20 * S);
        assert_eq!(schedule.next_flush - now, Duration::from_secs(10));
        // A day forward: one window, stamped by the wall clock, then the same pace.
        now = schedule.next_flush;
        assert_eq!(
            schedule.advance(b + 86_400 * S + 2 * S, now),
            b + 86_400 * S
        );
        let wait = schedule.next_flush - now;
        assert!(wait >= Duration::from_secs(5) && wait <= Duration::from_secs(15));
        // Late by a minute (a stalled process): the next close is ahead, not behind.
        now = schedule.next_flush + Duration::from_secs(60);
        schedule.advance(b + 86_470 * S, now);
        assert!(schedule.next_flush > now);
        // A flush that runs late does not pull the next one early.
        let planned = schedule.next_flush;
        now = planned + Duration::from_millis(300);
        schedule.advance(b + 86_480 * S + 300_000, now);
        assert_eq!(schedule.next_flush - now, Duration::from_millis(9_700));
        let planned = schedule.next_flush;
        schedule.advance(b + 86_490 * S, planned);
        assert_eq!(schedule.next_flush - planned, Duration::from_secs(10));
    }

    #[test]
    fn absurd_intervals_neither_panic_nor_wrap() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::MAX, u64::MAX, start);
        assert!(schedule.next_flush >= start);
        assert_eq!(schedule.advance(u64::MAX, start), u64::MAX);
        // At the last representable time, stamps stay there rather than wrap to 1970.
        assert_eq!(schedule.last_window(u64::MAX), u64::MAX);
        let mut late = Schedule::new(Duration::from_secs(10), u64::MAX - 5 * S, start);
        let first = late.advance(u64::MAX - 5 * S, start);
        assert!(late.advance(u64::MAX, start) >= first);
        assert!(late.last_window(u64::MAX) >= first);
        let mut tiny = Schedule::new(Duration::from_nanos(1), 5, start);
        let a = tiny.advance(5, start);
        let b = tiny.advance(5, start);
        assert!(b > a);
    }
}
