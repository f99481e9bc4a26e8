//! The backlog: sealed frames the broker has not taken yet, or that are held for a
//! level's absent subscribers, bounded in bytes, with the overflow policy deciding
//! what goes when it is full.

use std::collections::VecDeque;

use crate::OverflowPolicy;

/// A frame ready to send.
pub(super) struct Outgoing {
    /// The level's index, or `None` for the client's own self-metrics.
    pub(super) level: Option<usize>,
    pub(super) bytes: Vec<u8>,
    pub(super) measurements: u64,
    /// Self-metrics: never dropped by the overflow policy, since their counters are
    /// increases since the previous report and a lost frame would lose them for good.
    pub(super) essential: bool,
}

/// Frames in the order they are to be sent, with their total size.
pub(super) struct Backlog {
    frames: VecDeque<Outgoing>,
    bytes: usize,
    measurements: u64,
    max_bytes: usize,
}

impl Backlog {
    /// An empty backlog holding up to `max_bytes` of frames (besides essential ones,
    /// and the one frame an empty backlog always takes).
    pub(super) fn new(max_bytes: usize) -> Backlog {
        Backlog {
            frames: VecDeque::new(),
            bytes: 0,
            measurements: 0,
            max_bytes,
        }
    }

    /// Adds `frame` at the back under `policy`; returns how many measurements were
    /// dropped to keep within the bound: the new frame's (drop newest), old frames'
    /// (drop oldest, never an essential one), or none (block: the publisher stops
    /// taking from the rings instead, see [`is_full`](Self::is_full)).
    pub(super) fn push(&mut self, frame: Outgoing, policy: OverflowPolicy) -> u64 {
        let limit = self.max_bytes;
        let over = |bytes: usize| bytes + frame.bytes.len() > limit;
        let mut dropped = 0;
        match policy {
            _ if frame.essential => {}
            OverflowPolicy::DropNewest if over(self.bytes) && !self.frames.is_empty() => {
                return frame.measurements;
            }
            OverflowPolicy::DropOldest => {
                while over(self.bytes) {
                    let Some(index) = self.frames.iter().position(|f| !f.essential) else {
                        break;
                    };
                    let Some(old) = self.frames.remove(index) else {
                        break;
                    };
                    self.forget(&old);
                    dropped += old.measurements;
                }
            }
            _ => {}
        }
        self.remember(&frame);
        self.frames.push_back(frame);
        dropped
    }

    /// Takes the frame at the front.
    pub(super) fn pop_front(&mut self) -> Option<Outgoing> {
        let frame = self.frames.pop_front()?;
        self.forget(&frame);
        Some(frame)
    }

    /// Puts a frame back at the front (one that could not be sent, or was held).
    pub(super) fn push_front(&mut self, frame: Outgoing) {
        self.remember(&frame);
        self.frames.push_front(frame);
    }

    /// Whether the bound is reached (the block policy stops taking measurements).
    pub(super) fn is_full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    /// Whether no frame waits.
    pub(super) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// How many frames wait.
    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Their size in bytes.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The measurements in them.
    pub(super) fn measurements(&self) -> u64 {
        self.measurements
    }

    fn remember(&mut self, frame: &Outgoing) {
        self.bytes += frame.bytes.len();
        self.measurements += frame.measurements;
    }

    fn forget(&mut self, frame: &Outgoing) {
        self.bytes -= frame.bytes.len();
        self.measurements -= frame.measurements;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(tag: u8, size: usize, essential: bool) -> Outgoing {
        Outgoing {
            level: Some(usize::from(tag)),
            bytes: vec![tag; size],
            measurements: size as u64,
            essential,
        }
    }

    fn tags(backlog: &mut Backlog) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(f) = backlog.pop_front() {
            out.push(f.bytes[0]);
        }
        out
    }

    #[test]
    fn drop_newest_keeps_what_was_there_and_counts_the_new_frame() {
        let mut backlog = Backlog::new(100);
        assert_eq!(
            backlog.push(frame(1, 60, false), OverflowPolicy::DropNewest),
            0
        );
        assert_eq!(
            backlog.push(frame(2, 60, false), OverflowPolicy::DropNewest),
            60
        );
        assert_eq!(
            (backlog.len(), backlog.bytes(), backlog.measurements()),
            (1, 60, 60)
        );
        assert_eq!(tags(&mut backlog), [1]);
    }

    #[test]
    fn an_empty_backlog_takes_one_frame_larger_than_its_bound() {
        let mut backlog = Backlog::new(10);
        assert_eq!(
            backlog.push(frame(1, 60, false), OverflowPolicy::DropNewest),
            0
        );
        assert!(backlog.is_full());
    }

    #[test]
    fn drop_oldest_makes_room_but_never_drops_an_essential_frame() {
        let mut backlog = Backlog::new(100);
        backlog.push(frame(1, 40, true), OverflowPolicy::DropOldest);
        backlog.push(frame(2, 40, false), OverflowPolicy::DropOldest);
        assert_eq!(
            backlog.push(frame(3, 40, false), OverflowPolicy::DropOldest),
            40
        );
        assert_eq!(backlog.bytes(), 80);
        // Only essential frames left to drop: the new one goes in over the bound.
        let mut essential_only = Backlog::new(50);
        essential_only.push(frame(1, 40, true), OverflowPolicy::DropOldest);
        assert_eq!(
            essential_only.push(frame(2, 40, false), OverflowPolicy::DropOldest),
            0
        );
        assert_eq!(tags(&mut backlog), [1, 3]);
        assert_eq!(tags(&mut essential_only), [1, 2]);
    }

    #[test]
    fn an_essential_frame_is_never_refused() {
        let mut backlog = Backlog::new(10);
        backlog.push(frame(1, 60, false), OverflowPolicy::DropNewest);
        assert_eq!(
            backlog.push(frame(2, 60, true), OverflowPolicy::DropNewest),
            0
        );
        assert_eq!(tags(&mut backlog), [1, 2]);
    }

    #[test]
    fn block_takes_every_frame_and_says_when_it_is_full() {
        let mut backlog = Backlog::new(100);
        let block = OverflowPolicy::Block(Duration::from_secs(1));
        assert_eq!(backlog.push(frame(1, 60, false), block), 0);
        assert!(!backlog.is_full());
        assert_eq!(backlog.push(frame(2, 60, false), block), 0);
        assert!(backlog.is_full());
    }

    #[test]
    fn a_frame_put_back_keeps_its_place_and_the_totals() {
        let mut backlog = Backlog::new(1000);
        backlog.push(frame(1, 10, false), OverflowPolicy::DropNewest);
        backlog.push(frame(2, 20, false), OverflowPolicy::DropNewest);
        let first = backlog.pop_front().unwrap();
        assert_eq!((backlog.bytes(), backlog.measurements()), (20, 20));
        backlog.push_front(first);
        assert_eq!((backlog.bytes(), backlog.measurements()), (30, 30));
        assert_eq!(tags(&mut backlog), [1, 2]);
        assert!(backlog.is_empty());
    }
}
