//! Frames lost in transit, counted from each publisher's per-level sequence numbers.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// Tracks the next expected sequence number per (publisher, level). Levels are given
/// as small indexes (their position in the worker's `--levels`), so observing a frame
/// allocates nothing.
#[derive(Default)]
pub struct SequenceTracker {
    next: HashMap<(u64, u16), (u64, Instant), FxBuildHasher>,
    /// Frames that never arrived: the sum of the gaps.
    pub lost: u64,
    /// Frames that arrived late or twice.
    pub out_of_order: u64,
}

impl SequenceTracker {
    /// Notes a frame; returns how many frames before it were lost.
    pub fn observe(&mut self, publisher: u64, level: u16, sequence: u64, now: Instant) -> u64 {
        let entry = self
            .next
            .entry((publisher, level))
            .or_insert((sequence, now));
        let expected = entry.0;
        entry.1 = now;
        let lost = if sequence >= expected {
            entry.0 = sequence.wrapping_add(1);
            sequence - expected
        } else {
            self.out_of_order += 1;
            0
        };
        self.lost += lost;
        lost
    }

    /// Forgets publishers silent for longer than `idle`.
    pub fn expire(&mut self, now: Instant, idle: Duration) {
        self.next
            .retain(|_, (_, seen)| now.duration_since(*seen) <= idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_lost_frames_per_publisher_and_level() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        assert_eq!(t.observe(1, 0, 5, now), 0, "the first frame sets the start");
        assert_eq!(t.observe(1, 0, 6, now), 0);
        assert_eq!(t.observe(1, 0, 9, now), 2);
        assert_eq!(t.observe(1, 1, 0, now), 0, "levels are counted apart");
        assert_eq!(t.observe(2, 0, 0, now), 0, "publishers are counted apart");
        assert_eq!(t.observe(1, 0, 7, now), 0);
        assert_eq!((t.lost, t.out_of_order), (2, 1));
    }
}
