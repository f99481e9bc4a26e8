//! Reading on after a stop: a daemon that has withdrawn its subscriptions still takes
//! in what was already on its way, until the flow stops.

use std::time::{Duration, Instant};

/// When a stopping daemon stops reading: once [`Drain::QUIET`] passes without a frame,
/// or [`Drain::MAX`] after it began, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    started: Instant,
    last_frame: Instant,
}

impl Drain {
    /// How long without a frame ends the drain: far longer than a frame takes between
    /// peers on one network, so what was sent before the stop arrives.
    pub const QUIET: Duration = Duration::from_secs(1);
    /// The longest a drain lasts, however busy the peers: a stop is a deadline.
    pub const MAX: Duration = Duration::from_secs(3);

    /// A drain beginning at `now`.
    pub fn start(now: Instant) -> Drain {
        Drain {
            started: now,
            last_frame: now,
        }
    }

    /// Notes that a frame came in at `now`.
    pub fn took_frame(&mut self, now: Instant) {
        self.last_frame = now;
    }

    /// Whether reading stops at `now`.
    pub fn is_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= Self::MAX
            || now.saturating_duration_since(self.last_frame) >= Self::QUIET
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_second_ends_it() {
        let start = Instant::now();
        let drain = Drain::start(start);
        assert!(!drain.is_over(start + Duration::from_millis(999)));
        assert!(drain.is_over(start + Drain::QUIET));
    }

    #[test]
    fn each_frame_gives_it_another_quiet_second_up_to_the_maximum() {
        let start = Instant::now();
        let mut drain = Drain::start(start);
        let mut now = start;
        for _ in 0..5 {
            now += Duration::from_millis(500);
            drain.took_frame(now);
            let over = drain.is_over(now);
            assert_eq!(over, now - start >= Drain::MAX, "{:?}", now - start);
        }
        assert!(drain.is_over(start + Drain::MAX));
    }
}
