//! Frames held for a level whose subscribers are away (a worker or a broker
//! restarting), sent when one returns.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What to do with a frame nobody subscribes to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// Kept, to be sent when a subscriber returns.
    Kept,
    /// Kept, after the oldest held frames were dropped to make room (how many).
    KeptDroppingOldest(u64),
    /// Not kept: nobody subscribed to its level within the grace.
    Discarded,
}

/// The frames held for one destination (this broker's workers, or the upstream
/// broker), at most `max_bytes` of them.
///
/// A level is held for `grace` after its last subscriber went away, and every level
/// for `grace` after the broker started (it cannot know which levels had subscribers
/// before). A frame of a level that is not held is discarded.
pub(crate) struct Hold {
    /// (topic, frame, measurements in it)
    frames: VecDeque<(Box<[u8]>, zmq::Message, u64)>,
    bytes: usize,
    max_bytes: usize,
    grace: Duration,
    started: Instant,
    /// Topics whose last subscriber went away, and when: at most `max_topics`, since a
    /// subscriber that churns through new topics would otherwise add one per
    /// withdrawal for as long as the grace lasts.
    lost_at: HashMap<Box<[u8]>, Instant>,
    max_topics: usize,
}

impl Hold {
    pub(crate) fn new(
        grace: Duration,
        max_bytes: usize,
        max_topics: usize,
        started: Instant,
    ) -> Hold {
        Hold {
            frames: VecDeque::new(),
            bytes: 0,
            max_bytes,
            grace,
            started,
            lost_at: HashMap::new(),
            max_topics,
        }
    }

    fn in_grace(&self, topic: &[u8], now: Instant) -> bool {
        now.saturating_duration_since(self.started) < self.grace
            || self
                .lost_at
                .get(topic)
                .is_some_and(|lost| now.saturating_duration_since(*lost) < self.grace)
    }

    /// Holds `frame`, whose topic is its first `topic_len` bytes, if its level is in
    /// its grace.
    pub(crate) fn offer(
        &mut self,
        topic_len: usize,
        frame: zmq::Message,
        measurements: u64,
        now: Instant,
    ) -> Held {
        let topic = &frame[..topic_len.min(frame.len())];
        if !self.in_grace(topic, now) || frame.len() > self.max_bytes {
            return Held::Discarded;
        }
        let topic = Box::from(topic);
        let mut dropped = 0;
        while self.bytes + frame.len() > self.max_bytes {
            match self.frames.pop_front() {
                Some((_, old, _)) => {
                    self.bytes -= old.len();
                    dropped += 1;
                }
                None => break,
            }
        }
        self.bytes += frame.len();
        self.frames.push_back((topic, frame, measurements));
        if dropped == 0 {
            Held::Kept
        } else {
            Held::KeptDroppingOldest(dropped)
        }
    }

    /// The last subscriber of `topic` went away: hold its level for the grace, unless
    /// `max_topics` levels are held already (then its frames are discarded, counted).
    /// Returns whether it is held.
    pub(crate) fn lost(&mut self, topic: &[u8], now: Instant) -> bool {
        if self.lost_at.len() >= self.max_topics {
            let grace = self.grace;
            self.lost_at
                .retain(|_, lost| now.saturating_duration_since(*lost) < grace);
            if self.lost_at.len() >= self.max_topics {
                return false;
            }
        }
        self.lost_at.insert(Box::from(topic), now);
        true
    }

    /// A subscriber of `topic` (empty: everything) came: takes its held frames, oldest
    /// first.
    pub(crate) fn release(&mut self, topic: &[u8]) -> Vec<(zmq::Message, u64)> {
        self.lost_at.remove(topic);
        let mut out = Vec::new();
        let mut kept = VecDeque::with_capacity(self.frames.len());
        for (held, frame, measurements) in self.frames.drain(..) {
            if topic.is_empty() || *held == *topic {
                self.bytes -= frame.len();
                out.push((frame, measurements));
            } else {
                kept.push_back((held, frame, measurements));
            }
        }
        self.frames = kept;
        out
    }

    /// Drops the frames of levels whose grace has run out; returns how many frames, and
    /// measurements in them.
    pub(crate) fn expire(&mut self, now: Instant) -> (u64, u64) {
        let grace = self.grace;
        self.lost_at
            .retain(|_, lost| now.saturating_duration_since(*lost) < grace);
        let before = self.frames.len();
        let mut measurements = 0;
        let mut frames = std::mem::take(&mut self.frames);
        frames.retain(|(topic, frame, n)| {
            let keep = self.in_grace(topic, now);
            if !keep {
                self.bytes -= frame.len();
                measurements += n;
            }
            keep
        });
        self.frames = frames;
        ((before - self.frames.len()) as u64, measurements)
    }

    /// Frames held now.
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Measurements in the frames held now.
    pub(crate) fn measurements(&self) -> u64 {
        self.frames.iter().map(|(_, _, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_held_for_the_grace_then_discarded() {
        let start = Instant::now();
        let mut hold = Hold::new(Duration::from_secs(10), 100, 2, start);
        let msg = |topic: &[u8], n: usize| {
            let mut bytes = topic.to_vec();
            bytes.resize(n, 0);
            zmq::Message::from(&bytes[..])
        };
        // Start-up: every level is held.
        assert_eq!(hold.offer(2, msg(b"a\0", 10), 1, start), Held::Kept);
        let later = start + Duration::from_secs(11);
        assert_eq!(hold.offer(2, msg(b"b\0", 10), 1, later), Held::Discarded);
        hold.lost(b"b\0", later);
        assert_eq!(hold.offer(2, msg(b"b\0", 10), 1, later), Held::Kept);
        assert_eq!(hold.expire(later), (1, 1), "a's start-up grace is over");
        assert_eq!(hold.release(b"b\0").len(), 1);
        // Bounded: the oldest go first.
        hold.lost(b"c\0", later);
        for _ in 0..10 {
            hold.offer(2, msg(b"c\0", 10), 1, later);
        }
        assert_eq!(
            hold.offer(2, msg(b"c\0", 10), 1, later),
            Held::KeptDroppingOldest(1)
        );
        assert_eq!(hold.len(), 10);
        assert_eq!(hold.expire(later + Duration::from_secs(11)), (10, 10));
        assert_eq!(hold.len(), 0);
        // A subscriber churning through topics holds at most `max_topics` levels.
        let now = later + Duration::from_secs(30);
        assert!(hold.lost(b"d\0", now) && hold.lost(b"e\0", now));
        assert!(!hold.lost(b"f\0", now), "a third level is not held");
        assert_eq!(hold.offer(2, msg(b"f\0", 10), 1, now), Held::Discarded);
        assert!(
            hold.lost(b"f\0", now + Duration::from_secs(11)),
            "room once the grace passed"
        );
    }
}
