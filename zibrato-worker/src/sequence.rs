//! Frames lost in transit, counted from each publisher's per-level sequence numbers.
//!
//! Each publisher numbers its frames per level from 0, adding one per frame (wrapping
//! at 2^64). A receiver expects each (publisher, level) to continue where it left off:
//!
//! * the **first frame** seen from a publisher on a level sets the start, whatever its
//!   number (the receiver may have joined late): no loss;
//! * a frame **ahead** of the expected number by `gap` means `gap` frames were lost, as
//!   long as the gap is at most [`MAX_SEQUENCE_GAP`]; a larger jump cannot be loss on any real
//!   link (it would take days at full speed) and is taken as a restart of the
//!   numbering: counted in `resets`, not as loss;
//! * a frame **behind** the expected number (a duplicate, or a publisher that restarted
//!   with the same id) restarts the numbering there: counted in `out_of_order`, no loss;
//! * wrapping from 2^64 − 1 to 0 is an ordinary step of one;
//! * a publisher silent for longer than the expiry is forgotten, and so is the least
//!   recently seen one once [`SequenceTracker::capacity`] publishers are tracked; a
//!   forgotten publisher that comes back starts afresh, as on its first frame.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// The largest forward jump counted as loss; anything larger is a restart.
pub const MAX_SEQUENCE_GAP: u64 = 1 << 24;

/// (publisher, level index) → (next expected sequence number, last seen).
type Table = HashMap<(u64, u16), (u64, Instant), FxBuildHasher>;

/// Tracks the next expected sequence number per (publisher, level). Levels are given
/// as small indexes (their position in the worker's `--levels`), so observing a frame
/// allocates nothing once the publisher is known.
///
/// Memory is bounded: at most `capacity` (publisher, level) pairs are held, in two
/// generations; when the current one holds half of them it becomes the previous one
/// and the previous one is forgotten, so a flood of made-up publisher ids evicts the
/// least recently seen pairs and costs no more than the bound.
pub struct SequenceTracker {
    current: Table,
    previous: Table,
    capacity: usize,
    /// Frames that never arrived: the sum of the gaps (saturating).
    pub lost: u64,
    /// Frames that arrived behind the expected number (late, twice, or after a restart).
    pub out_of_order: u64,
    /// Jumps ahead larger than [`MAX_SEQUENCE_GAP`], taken as restarts.
    pub resets: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        SequenceTracker::with_capacity(SequenceTracker::DEFAULT_CAPACITY)
    }
}

impl SequenceTracker {
    /// The default bound on tracked (publisher, level) pairs: about 3 MiB at most.
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A tracker holding at most `capacity` (publisher, level) pairs (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        SequenceTracker {
            current: Table::default(),
            previous: Table::default(),
            capacity: capacity.max(2),
            lost: 0,
            out_of_order: 0,
            resets: 0,
        }
    }

    /// The most (publisher, level) pairs held at once.
    #[cfg(any(test, feature = "internals"))]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many (publisher, level) pairs are held now.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether no pair is held.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes a frame; returns how many frames before it were lost.
    pub fn observe(&mut self, publisher: u64, level: u16, sequence: u64, now: Instant) -> u64 {
        let key = (publisher, level);
        let expected = match self.current.get_mut(&key) {
            Some(entry) => Some(entry.0),
            None => self.previous.remove(&key).map(|(next, _)| next),
        };
        let next = sequence.wrapping_add(1);
        let lost = match expected {
            None => 0,
            Some(expected) => {
                let ahead = sequence.wrapping_sub(expected);
                if ahead <= MAX_SEQUENCE_GAP {
                    ahead
                } else if expected.wrapping_sub(sequence) <= MAX_SEQUENCE_GAP {
                    self.out_of_order += 1;
                    0
                } else {
                    self.resets += 1;
                    0
                }
            }
        };
        match self.current.get_mut(&key) {
            Some(entry) => *entry = (next, now),
            None => {
                if self.current.len() >= self.capacity / 2 {
                    self.previous = std::mem::take(&mut self.current);
                }
                self.current.insert(key, (next, now));
            }
        }
        self.lost = self.lost.saturating_add(lost);
        lost
    }

    /// Forgets publishers silent for longer than `idle`.
    pub fn expire(&mut self, now: Instant, idle: Duration) {
        let fresh = |_: &(u64, u16), (_, seen): &mut (u64, Instant)| {
            now.saturating_duration_since(*seen) <= idle
        };
        self.current.retain(fresh);
        self.previous.retain(fresh);
        for table in [&mut self.current, &mut self.previous] {
            if table.len() < table.capacity() / 4 {
                table.shrink_to_fit();
            }
        }
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
        assert_eq!(t.observe(1, 0, 7, now), 0, "behind: restarts the numbering");
        assert_eq!(t.observe(1, 0, 8, now), 0);
        assert_eq!((t.lost, t.out_of_order), (2, 1));
    }

    #[test]
    fn wrapping_is_a_step_and_huge_jumps_are_restarts() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        t.observe(1, 0, u64::MAX - 1, now);
        assert_eq!(t.observe(1, 0, u64::MAX, now), 0);
        assert_eq!(t.observe(1, 0, 0, now), 0, "wraps to 0");
        assert_eq!(t.observe(1, 0, 3, now), 2, "a gap across nothing odd");
        assert_eq!(t.observe(1, 0, u64::MAX / 2, now), 0, "a crafted jump");
        assert_eq!(t.resets, 1);
        assert_eq!(t.observe(1, 0, 2, now), 0, "and back");
        assert_eq!(t.resets, 2);
        assert_eq!(t.lost, 2, "no overflow, no absurd loss");
        assert_eq!(
            t.observe(1, 0, 3 + MAX_SEQUENCE_GAP, now),
            MAX_SEQUENCE_GAP,
            "the largest gap"
        );
    }

    #[test]
    fn a_flood_of_publishers_stays_within_the_capacity() {
        let mut t = SequenceTracker::with_capacity(1000);
        let now = Instant::now();
        t.observe(7, 0, 0, now);
        for publisher in 100..100_000u64 {
            t.observe(publisher, 0, 0, now);
            if publisher % 100 == 0 {
                // A real publisher that keeps sending keeps its place.
                t.observe(7, 0, publisher / 100, now);
            }
            assert!(t.len() <= 1000);
        }
        assert_eq!(t.lost, 0, "publisher 7 was never forgotten");
        t.expire(now + Duration::from_secs(10), Duration::from_secs(1));
        assert!(t.is_empty());
    }
}
