//! Frames lost in transit, and frames received twice, from each publisher's per-level
//! sequence numbers.
//!
//! Each publisher numbers its frames per level from 0, adding one per frame (wrapping
//! at 2^64). A receiver expects each (publisher, level) to continue where it left off,
//! and remembers which of the last [`WINDOW`] numbers below that it has seen:
//!
//! * the **first frame** seen from a publisher on a level sets the start, whatever its
//!   number (the receiver may have joined late): taken, no loss;
//! * a frame **ahead** of the expected number by `gap` means `gap` frames are
//!   **missing**, as long as the gap is at most [`MAX_SEQUENCE_GAP`]: taken. A missing
//!   frame is counted **lost** when it can no longer arrive in order: once it falls
//!   [`WINDOW`] numbers behind, once it has been missing for longer than the reorder
//!   allowance ([`SequenceTracker::settle`], at each flush), or when the pair is
//!   forgotten or renumbered. Datagrams can be reordered: one that arrives within the
//!   allowance was never lost, and is counted nowhere;
//! * a frame numbered **0** behind the expected number starts a new numbering (a
//!   publisher that restarted with the same id, or a device whose level came back to
//!   a slot): taken, counted in `resets`;
//! * a frame **behind** the expected number, within the window: if its number was seen,
//!   it is a **duplicate** (a resend after a broker restarted between forwarding a
//!   frame and having it acknowledged) and dropped; if not, it is taken: **late** if it
//!   had been counted lost already (lost for good is lost less late), **reordered** if
//!   it was still missing within the allowance;
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
    /// Bit `i` is set when number `next - 1 - i`, missing, was counted lost already.
    settled: u64,
    /// How many of the numbers below `next` (at most [`WINDOW`]) belong to this
    /// numbering: those before its first frame were never expected.
    span: u32,
    /// When the oldest missing number not yet counted lost went missing.
    missing_since: Option<Instant>,
    /// When a frame of it last arrived.
    heard: Instant,
}

impl Position {
    /// A numbering whose first frame is `sequence`, at `now`.
    fn start(sequence: u64, now: Instant) -> Position {
        Position {
            next: sequence.wrapping_add(1),
            seen: 1,
            settled: 0,
            span: 1,
            missing_since: None,
            heard: now,
        }
    }

    /// The numbers in the window that are missing and not yet counted lost.
    fn missing(&self) -> u64 {
        let valid = if self.span >= 64 {
            u64::MAX
        } else {
            (1u64 << self.span) - 1
        };
        valid & !self.seen & !self.settled
    }

    /// Counts every missing number as lost; returns how many.
    fn settle(&mut self) -> u64 {
        let missing = self.missing();
        self.settled |= missing;
        self.missing_since = None;
        u64::from(missing.count_ones())
    }
}

/// (publisher, level index) → where it stands.
type Table = HashMap<(u64, u16), Position, FxBuildHasher>;

/// How long a missing frame may still arrive, reordered, before it is counted lost (at
/// the next [`SequenceTracker::settle`]).
pub const REORDER_ALLOWANCE: Duration = Duration::from_secs(1);

/// What a frame is, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// New: take it; `lost` frames before it are counted lost now (they fell out of
    /// the window, or a new numbering ended the old one).
    New {
        /// Frames counted lost now.
        lost: u64,
    },
    /// Arrived after later ones, within the allowance: take it; it was never counted.
    Reordered,
    /// Arrived after it was counted lost: take it (lost for good is lost less late).
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
    /// Frames counted lost: missing past the window or the allowance (saturating).
    pub lost: u64,
    /// Of those, frames that arrived after all, late.
    pub late: u64,
    /// Frames that arrived out of order within the allowance, never counted lost.
    pub reordered: u64,
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
            reordered: 0,
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

    /// Notes a frame: whether to take it, and how many frames are counted lost now.
    pub fn observe(&mut self, publisher: u64, level: u16, sequence: u64, now: Instant) -> Observed {
        let key = (publisher, level);
        let known = match self.current.get(&key) {
            Some(position) => Some(*position),
            None => self.previous.remove(&key),
        };
        let (observed, position) = match known {
            None => (Observed::New { lost: 0 }, Position::start(sequence, now)),
            Some(p) => {
                let ahead = sequence.wrapping_sub(p.next);
                let behind = p.next.wrapping_sub(1).wrapping_sub(sequence);
                if ahead <= MAX_SEQUENCE_GAP {
                    let lost = fell_out(&p, ahead);
                    (Observed::New { lost }, advance(p, ahead, now))
                } else if sequence != 0 && behind < WINDOW {
                    let bit = 1u64 << behind;
                    let observed = if p.seen & bit != 0 {
                        Observed::Duplicate
                    } else if p.settled & bit != 0 {
                        Observed::Late
                    } else {
                        Observed::Reordered
                    };
                    let mut position = Position {
                        seen: p.seen | bit,
                        settled: p.settled & !bit,
                        heard: now,
                        ..p
                    };
                    if position.missing() == 0 {
                        position.missing_since = None;
                    }
                    (observed, position)
                } else {
                    // A new numbering: what the old one still missed will not come.
                    self.resets += 1;
                    let mut old = p;
                    let lost = old.settle();
                    (Observed::New { lost }, Position::start(sequence, now))
                }
            }
        };
        match observed {
            Observed::New { lost } => self.lost = self.lost.saturating_add(lost),
            Observed::Reordered => self.reordered += 1,
            Observed::Late => self.late += 1,
            Observed::Duplicate => self.duplicates += 1,
        }
        match self.current.get_mut(&key) {
            Some(entry) => *entry = position,
            None => {
                if self.current.len() >= self.capacity / 2 {
                    let evicted = std::mem::take(&mut self.current);
                    let forgotten = std::mem::replace(&mut self.previous, evicted);
                    self.forget(forgotten.into_values());
                }
                self.current.insert(key, position);
            }
        }
        observed
    }

    /// Counts as lost every number missing for longer than `allowance` at `now` (every
    /// number missing, with an allowance of zero: at shutdown). The worker calls it at
    /// each flush with [`REORDER_ALLOWANCE`], so a loss is counted within a window or
    /// two of the gap.
    pub fn settle(&mut self, now: Instant, allowance: Duration) {
        let mut lost = 0u64;
        for table in [&mut self.current, &mut self.previous] {
            for position in table.values_mut() {
                let due = position
                    .missing_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= allowance);
                if due || (allowance.is_zero() && position.missing() != 0) {
                    lost += position.settle();
                }
            }
        }
        self.lost = self.lost.saturating_add(lost);
    }

    /// Counts what forgotten pairs still missed as lost.
    fn forget(&mut self, positions: impl Iterator<Item = Position>) {
        let lost: u64 = positions.map(|mut p| p.settle()).sum();
        self.lost = self.lost.saturating_add(lost);
    }

    /// Forgets publishers silent for longer than `idle`.
    /// What they still missed is counted lost.
    pub fn expire(&mut self, now: Instant, idle: Duration) {
        let stale = |p: &Position| now.saturating_duration_since(p.heard) > idle;
        let mut forgotten = Vec::new();
        for table in [&mut self.current, &mut self.previous] {
            table.retain(|_, p| {
                if stale(p) {
                    forgotten.push(*p);
                    false
                } else {
                    true
                }
            });
        }
        self.forget(forgotten.into_iter());
        for table in [&mut self.current, &mut self.previous] {
            if table.len() < table.capacity() / 4 {
                table.shrink_to_fit();
            }
        }
    }
}

/// `p` moved on to the frame `ahead` numbers past its expected one.
fn advance(p: Position, ahead: u64, now: Instant) -> Position {
    let shift = ahead.saturating_add(1);
    let shl = |bits: u64| if shift >= 64 { 0 } else { bits << shift };
    let mut position = Position {
        next: p.next.wrapping_add(shift),
        seen: shl(p.seen) | 1,
        settled: shl(p.settled),
        span: (u64::from(p.span) + shift).min(WINDOW) as u32,
        missing_since: p.missing_since,
        heard: now,
    };
    if position.missing() == 0 {
        position.missing_since = None;
    } else if position.missing_since.is_none() {
        position.missing_since = Some(now);
    }
    position
}

/// How many numbers `p` still missed fall out of the window when it moves `ahead`
/// numbers past its expected one, gap numbers that never enter it included.
fn fell_out(p: &Position, ahead: u64) -> u64 {
    let shift = ahead.saturating_add(1);
    let missing = p.missing();
    let out = if shift >= 64 {
        missing
    } else {
        missing & !(u64::MAX >> shift)
    };
    // The frame itself takes the lowest bit; the `ahead` numbers before it fill the
    // next ones, and those past the window's top are out at once.
    u64::from(out.count_ones()) + ahead.saturating_sub(WINDOW - 1)
}

#[cfg(test)]
mod tests;
