//! What a broker keeps for one destination: frames held for a level whose subscribers
//! are away (within the grace), frames waiting to be sent, and, on an acknowledged
//! link, frames sent and not yet acknowledged. One queue for all three, so the hold
//! for restarts and the replay buffer of a link are one mechanism.

use std::collections::VecDeque;
use std::ops::Deref;
use std::time::Instant;

use crate::grace::{Grace, Keep};

/// What a kept frame costs beyond its bytes (the queue entry, its topic length and
/// counts), counted against the byte bounds so many small frames cannot exceed them.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// A frame on its way to a destination.
#[derive(Debug)]
pub(crate) struct Entry<F> {
    pub frame: F,
    /// Its topic is its first `topic_len` bytes.
    pub topic_len: usize,
    pub measurements: u64,
    /// When it arrived, in the broker's arrival order: the oldest entry is dropped
    /// first when a bound is reached.
    pub arrival: u64,
}

impl<F: Deref<Target = [u8]>> Entry<F> {
    pub(crate) fn topic(&self) -> &[u8] {
        &self.frame[..self.topic_len.min(self.frame.len())]
    }

    fn cost(&self) -> usize {
        self.frame.len() + ENTRY_OVERHEAD
    }
}

/// Frames and the measurements in them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Frames.
    pub frames: u64,
    /// Measurements in them.
    pub measurements: u64,
}

impl Tally {
    /// One frame of `measurements`.
    pub(crate) fn one(measurements: u64) -> Tally {
        Tally {
            frames: 1,
            measurements,
        }
    }

    /// Adds `other` to this tally.
    pub(crate) fn add(&mut self, other: Tally) {
        self.frames += other.frames;
        self.measurements += other.measurements;
    }
}

/// What became of a frame offered to a destination.
#[derive(Debug)]
pub(crate) enum Offered<F> {
    /// A subscriber wants it: send it (or queue it, on a link).
    Wanted(Entry<F>),
    /// Nobody wants it now, but its level is within its grace: kept here.
    Held,
    /// Nobody wants it and its level is not held: given back, to be counted.
    Unwanted(Entry<F>),
}

/// What was dropped from an outbox for good, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Held since start-up for a level no subscriber came for: nobody wanted them.
    pub unwanted: Tally,
    /// Held for a level whose subscribers did not return within the grace, or waiting
    /// for (or sent on) a link and not acknowledged.
    pub lost: Tally,
}

/// One destination's frames.
pub(crate) struct Outbox<F> {
    grace: Grace,
    /// Frames of levels nobody wants now, within the grace, oldest first.
    held: VecDeque<(Entry<F>, Keep)>,
    /// Frames wanted and not sent yet (a link that is down or full), oldest first.
    ready: VecDeque<Entry<F>>,
    /// Frames given a sequence number, sent or about to be, not acknowledged yet.
    unacked: VecDeque<(u64, Entry<F>)>,
    /// How many of `unacked` went out on the current connection; the rest are sent
    /// (again) before anything from `ready`.
    sent: usize,
    next_sequence: u64,
    bytes: usize,
}

impl<F: Deref<Target = [u8]>> Outbox<F> {
    pub(crate) fn new(grace: Grace) -> Outbox<F> {
        Outbox {
            grace,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            unacked: VecDeque::new(),
            sent: 0,
            next_sequence: 0,
            bytes: 0,
        }
    }

    /// Offers a frame that a subscriber wants (`wanted`) or not: given back when
    /// wanted or unwanted, kept when its level is within its grace at the time `now`
    /// gives (never kept when it gives `None`: a frame nobody should wait for). `now`
    /// is called only for a frame nobody wants, off the path of the others.
    pub(crate) fn offer(
        &mut self,
        entry: Entry<F>,
        wanted: bool,
        now: impl FnOnce() -> Option<Instant>,
    ) -> Offered<F> {
        if wanted {
            return Offered::Wanted(entry);
        }
        match now().and_then(|now| self.grace.keep(entry.topic(), now)) {
            Some(keep) => {
                self.bytes += entry.cost();
                self.held.push_back((entry, keep));
                Offered::Held
            }
            None => Offered::Unwanted(entry),
        }
    }

    /// Queues a wanted frame to be sent.
    pub(crate) fn queue(&mut self, entry: Entry<F>) {
        self.bytes += entry.cost();
        self.ready.push_back(entry);
    }

    /// A subscriber of `topic` (empty: every level) came: its held frames are ready
    /// to be sent, in the order they came.
    pub(crate) fn want(&mut self, topic: &[u8]) {
        self.grace.found(topic);
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (entry, keep) in self.held.drain(..) {
            if topic.is_empty() || entry.topic() == topic {
                self.ready.push_back(entry);
            } else {
                kept.push_back((entry, keep));
            }
        }
        self.held = kept;
    }

    /// The last subscriber of `topic` went away: its frames are held for the grace
    /// from now on. Returns whether the level is held (see [`Grace::lost`]).
    pub(crate) fn unwant(&mut self, topic: &[u8], now: Instant) -> bool {
        self.grace.lost(topic, now)
    }

    /// A frame ready to send, taken out (destinations that are never acknowledged).
    pub(crate) fn pop_ready(&mut self) -> Option<Entry<F>> {
        let entry = self.ready.pop_front()?;
        self.bytes -= entry.cost();
        Some(entry)
    }

    /// The next frame to send on an acknowledged link, with its sequence number: a
    /// frame not acknowledged that the current connection has not carried yet, else
    /// the oldest ready one (numbered now). It stays until acknowledged; call
    /// [`sent`](Self::sent) once the socket took it.
    pub(crate) fn next_to_send(&mut self) -> Option<(u64, &Entry<F>)> {
        if self.sent == self.unacked.len() {
            let entry = self.ready.pop_front()?;
            let sequence = self.next_sequence;
            self.next_sequence = self.next_sequence.wrapping_add(1);
            self.unacked.push_back((sequence, entry));
        }
        self.unacked.get(self.sent).map(|(s, e)| (*s, e))
    }

    /// The frame [`next_to_send`](Self::next_to_send) gave went out.
    pub(crate) fn sent(&mut self) {
        self.sent = (self.sent + 1).min(self.unacked.len());
    }

    /// The receiver has every frame numbered below `next`: they are done.
    pub(crate) fn ack(&mut self, next: u64) -> Tally {
        let mut done = Tally::default();
        while let Some((sequence, _)) = self.unacked.front() {
            if *sequence >= next {
                break;
            }
            if let Some((_, entry)) = self.unacked.pop_front() {
                self.bytes -= entry.cost();
                done.add(Tally::one(entry.measurements));
                self.sent = self.sent.saturating_sub(1);
            }
        }
        done
    }

    /// A new connection: what the receiver acknowledged (if it said) is done, and
    /// every other frame not acknowledged is sent again, first.
    pub(crate) fn rewind(&mut self, acknowledged: Option<u64>) -> Tally {
        let done = acknowledged.map_or_else(Tally::default, |next| self.ack(next));
        self.sent = 0;
        done
    }

    /// Drops the oldest frame, wherever it waits (to stay within a bound), with why it
    /// was held when it was (`None`: it was wanted).
    pub(crate) fn pop_oldest(&mut self) -> Option<(Entry<F>, Option<Keep>)> {
        let held = self.held.front().map(|(e, _)| e.arrival);
        let ready = self.ready.front().map(|e| e.arrival);
        let unacked = self.unacked.front().map(|(_, e)| e.arrival);
        let oldest = [held, ready, unacked]
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|a| (a, i)))
            .min()?;
        let (entry, keep) = match oldest.1 {
            0 => self.held.pop_front().map(|(e, k)| (e, Some(k))),
            1 => self.ready.pop_front().map(|e| (e, None)),
            _ => {
                self.sent = self.sent.saturating_sub(1);
                self.unacked.pop_front().map(|(_, e)| (e, None))
            }
        }?;
        self.bytes -= entry.cost();
        Some((entry, keep))
    }

    /// Drops held frames whose level's grace has run out.
    pub(crate) fn expire(&mut self, now: Instant) -> Dropped {
        self.grace.forget_expired(now);
        let mut dropped = Dropped::default();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (entry, keep) in self.held.drain(..) {
            if self.grace.keep(entry.topic(), now).is_some() {
                kept.push_back((entry, keep));
                continue;
            }
            self.bytes -= entry.cost();
            match keep {
                Keep::StartUp => dropped.unwanted.add(Tally::one(entry.measurements)),
                Keep::Lost => dropped.lost.add(Tally::one(entry.measurements)),
            }
        }
        self.held = kept;
        dropped
    }

    /// Empties the outbox (the broker is stopping): what was held since start-up for
    /// nobody, and what a subscriber or a link was waiting for.
    pub(crate) fn clear(&mut self) -> Dropped {
        let mut dropped = Dropped::default();
        for (entry, keep) in self.held.drain(..) {
            match keep {
                Keep::StartUp => dropped.unwanted.add(Tally::one(entry.measurements)),
                Keep::Lost => dropped.lost.add(Tally::one(entry.measurements)),
            }
        }
        let waiting = self
            .ready
            .drain(..)
            .chain(self.unacked.drain(..).map(|(_, e)| e));
        for entry in waiting {
            dropped.lost.add(Tally::one(entry.measurements));
        }
        self.sent = 0;
        self.bytes = 0;
        dropped
    }

    /// Everything kept: held, ready and not acknowledged.
    pub(crate) fn pending(&self) -> Tally {
        let mut tally = Tally::default();
        let held = self.held.iter().map(|(e, _)| e);
        let rest = self.ready.iter().chain(self.unacked.iter().map(|(_, e)| e));
        for entry in held.chain(rest) {
            tally.add(Tally::one(entry.measurements));
        }
        tally
    }

    /// Whether a frame waits to be sent (again) on the current connection.
    pub(crate) fn has_unsent(&self) -> bool {
        self.sent < self.unacked.len() || !self.ready.is_empty()
    }

    /// Whether frames were sent and not acknowledged yet.
    pub(crate) fn has_unacked(&self) -> bool {
        !self.unacked.is_empty()
    }

    /// Whether nothing is kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty() && self.ready.is_empty() && self.unacked.is_empty()
    }

    /// Bytes kept, [`ENTRY_OVERHEAD`] per frame included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests;
