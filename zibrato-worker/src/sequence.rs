//! Frames lost in transit, and frames received twice, from each publisher's per-level
//! sequence numbers.
//!
//! Each publisher numbers its frames per level from 0, adding one per frame (wrapping
//! at 2^64). A receiver expects each (publisher, level) to continue where it left off,
//! and remembers which of the last [`WINDOW`] numbers below that it has seen:
//!
//! * the **first frame** seen from a publisher on a level sets the start, whatever its
//!   number (the receiver may have joined late): taken, no loss;
//! * a frame **ahead** of the expected number by `gap` means `gap` frames were lost, as
//!   long as the gap is at most [`MAX_SEQUENCE_GAP`]: taken, `gap` counted lost;
//! * a frame numbered **0** behind the expected number starts a new numbering (a
//!   publisher that restarted with the same id, or a device whose level came back to
//!   a slot): taken, counted in `resets`;
//! * a frame **behind** the expected number, within the window: if its number was seen,
//!   it is a **duplicate** (a resend after a broker restarted between forwarding a
//!   frame and having it acknowledged) and dropped; if not, it is **late** (counted
//!   lost when the gap was seen; datagrams can be reordered) and taken;
//! * anything else (further behind, or a jump ahead no real loss explains) restarts
//!   the numbering there: taken, counted in `resets`, no loss;
//! * wrapping from 2^64 − 1 to 0 is an ordinary step of one;
//! * a publisher silent for longer than the expiry is forgotten, and so is the least
//!   recently seen one once [`SequenceTracker::capacity`] publishers are tracked; a
//!   forgotten publisher that comes back starts afresh, as on its first frame.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

/// The largest forward jump counted as loss; anything larger is a restart.
pub const MAX_SEQUENCE_GAP: u64 = 1 << 24;

/// How many numbers below the expected one a receiver remembers having seen: a frame
/// this far behind is told apart as a duplicate or a late arrival.
pub const WINDOW: u64 = 64;

/// Where a (publisher, level) stands.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// The next expected sequence number.
    next: u64,
    /// Bit `i` is set when number `next - 1 - i` was seen.
    seen: u64,
    /// When a frame of it last arrived.
    heard: Instant,
}

/// (publisher, level index) → where it stands.
type Table = HashMap<(u64, u16), Position, FxBuildHasher>;

/// What a frame is, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// New: take it; `lost` frames before it never arrived.
    New {
        /// Frames skipped since the last one.
        lost: u64,
    },
    /// Arrived after later ones (it was counted lost then): take it.
    Late,
    /// Seen before: drop it.
    Duplicate,
}

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
    /// Of those, frames that arrived after all, late.
    pub late: u64,
    /// Frames received a second time, dropped.
    pub duplicates: u64,
    /// Numberings that started again (a frame 0 behind the expected number, or a jump
    /// no loss explains).
    pub resets: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        SequenceTracker::with_capacity(SequenceTracker::DEFAULT_CAPACITY)
    }
}

impl SequenceTracker {
    /// The default bound on tracked (publisher, level) pairs: about 4 MiB at most.
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A tracker holding at most `capacity` (publisher, level) pairs (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        SequenceTracker {
            current: Table::default(),
            previous: Table::default(),
            capacity: capacity.max(2),
            lost: 0,
            late: 0,
            duplicates: 0,
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

    /// Notes a frame: whether to take it, and how many frames before it were lost.
    pub fn observe(&mut self, publisher: u64, level: u16, sequence: u64, now: Instant) -> Observed {
        let key = (publisher, level);
        let known = match self.current.get(&key) {
            Some(position) => Some(*position),
            None => self.previous.remove(&key),
        };
        let start = Position {
            next: sequence.wrapping_add(1),
            seen: 1,
            heard: now,
        };
        let (observed, position) = match known {
            None => (Observed::New { lost: 0 }, start),
            Some(p) => {
                let ahead = sequence.wrapping_sub(p.next);
                let behind = p.next.wrapping_sub(1).wrapping_sub(sequence);
                if ahead <= MAX_SEQUENCE_GAP {
                    let seen = p.seen.checked_shl((ahead + 1) as u32).unwrap_or(0) | 1;
                    (Observed::New { lost: ahead }, Position { seen, ..start })
                } else if sequence != 0 && behind < WINDOW {
                    let bit = 1u64 << behind;
                    let observed = if p.seen & bit != 0 {
                        Observed::Duplicate
                    } else {
                        Observed::Late
                    };
                    let seen = p.seen | bit;
                    (
                        observed,
                        Position {
                            seen,
                            heard: now,
                            ..p
                        },
                    )
                } else {
                    self.resets += 1;
                    (Observed::New { lost: 0 }, start)
                }
            }
        };
        match observed {
            Observed::New { lost } => self.lost = self.lost.saturating_add(lost),
            Observed::Late => self.late += 1,
            Observed::Duplicate => self.duplicates += 1,
        }
        match self.current.get_mut(&key) {
            Some(entry) => *entry = position,
            None => {
                if self.current.len() >= self.capacity / 2 {
                    self.previous = std::mem::take(&mut self.current);
                }
                self.current.insert(key, position);
            }
        }
        observed
    }

    /// Forgets publishers silent for longer than `idle`.
    pub fn expire(&mut self, now: Instant, idle: Duration) {
        let fresh =
            |_: &(u64, u16), p: &mut Position| now.saturating_duration_since(p.heard) <= idle;
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

    fn lost(o: Observed) -> u64 {
        match o {
            Observed::New { lost } => lost,
            other => panic!("not new: {other:?}"),
        }
    }

    #[test]
    fn gaps_are_lost_frames_per_publisher_and_level() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        assert_eq!(
            lost(t.observe(1, 0, 5, now)),
            0,
            "the first frame sets the start"
        );
        assert_eq!(lost(t.observe(1, 0, 6, now)), 0);
        assert_eq!(lost(t.observe(1, 0, 9, now)), 2);
        assert_eq!(lost(t.observe(1, 1, 0, now)), 0, "levels are counted apart");
        assert_eq!(
            lost(t.observe(2, 0, 0, now)),
            0,
            "publishers are counted apart"
        );
        assert_eq!(
            t.observe(1, 0, 7, now),
            Observed::Late,
            "a hole filled late"
        );
        assert_eq!(t.observe(1, 0, 7, now), Observed::Duplicate);
        assert_eq!(
            t.observe(1, 0, 9, now),
            Observed::Duplicate,
            "the last one again"
        );
        assert_eq!(lost(t.observe(1, 0, 10, now)), 0, "the numbering goes on");
        assert_eq!((t.lost, t.late, t.duplicates), (2, 1, 2));
    }

    #[test]
    fn resent_frames_are_duplicates_within_the_window_only() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        for sequence in 100..200 {
            t.observe(1, 0, sequence, now);
        }
        assert_eq!(
            t.observe(1, 0, 199 - (WINDOW - 1), now),
            Observed::Duplicate
        );
        assert_eq!(
            lost(t.observe(1, 0, 199 - WINDOW, now)),
            0,
            "beyond the window: a restart of the numbering"
        );
        assert_eq!(t.resets, 1);
    }

    #[test]
    fn frame_zero_starts_a_new_numbering() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        for sequence in 0..10 {
            t.observe(1, 0, sequence, now);
        }
        // A device's level came back to a slot and numbers from 0 again: taken.
        assert_eq!(lost(t.observe(1, 0, 0, now)), 0);
        assert_eq!(lost(t.observe(1, 0, 1, now)), 0);
        assert_eq!((t.duplicates, t.resets), (0, 1));
    }

    #[test]
    fn wrapping_is_a_step_and_huge_jumps_are_restarts() {
        let mut t = SequenceTracker::default();
        let now = Instant::now();
        t.observe(1, 0, u64::MAX - 1, now);
        assert_eq!(lost(t.observe(1, 0, u64::MAX, now)), 0);
        assert_eq!(lost(t.observe(1, 0, 0, now)), 0, "wraps to 0");
        assert_eq!(
            t.observe(1, 0, u64::MAX, now),
            Observed::Duplicate,
            "across the wrap"
        );
        assert_eq!(lost(t.observe(1, 0, 3, now)), 2, "a gap across nothing odd");
        assert_eq!(
            lost(t.observe(1, 0, u64::MAX / 2, now)),
            0,
            "a crafted jump"
        );
        assert_eq!(t.resets, 1);
        assert_eq!(lost(t.observe(1, 0, 2, now)), 0, "and back");
        assert_eq!(t.resets, 2);
        assert_eq!(t.lost, 2, "no overflow, no absurd loss");
        assert_eq!(
            lost(t.observe(1, 0, 3 + MAX_SEQUENCE_GAP, now)),
            MAX_SEQUENCE_GAP,
            "the largest gap"
        );
    }

    #[test]
    fn a_flood_of_publishers_stays_within_the_capacity() {
        let mut t = SequenceTracker::with_capacity(1000);
        assert_eq!(t.capacity(), 1000);
        let now = Instant::now();
        t.observe(7, 0, 0, now);
        for publisher in 100..100_000u64 {
            t.observe(publisher, 0, 0, now);
            if publisher % 100 == 0 {
                // A real publisher that keeps sending keeps its place.
                t.observe(7, 0, publisher / 100, now);
            }
            assert!(t.len() <= t.capacity());
        }
        assert_eq!(t.lost, 0, "publisher 7 was never forgotten");
        t.expire(now + Duration::from_secs(10), Duration::from_secs(1));
        assert!(t.is_empty());
    }
}
