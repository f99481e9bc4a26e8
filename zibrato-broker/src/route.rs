//! Where a valid frame goes: to every destination but the one it came from, sent,
//! queued, held within the grace, or counted as unwanted; and the bounds on what is
//! kept.

use std::sync::Arc;
use std::time::Instant;

use tracing::warn;

use crate::forwarder::{Broker, Destination, Origin};
use crate::grace::Keep;
use crate::outbox::{Entry, Offered, Tally};
use crate::relay::Shared;
use crate::telemetry::Outcome;

impl Broker {
    /// Sends, queues or holds a valid frame for each destination but its origin; with
    /// `hold` false, a destination that does not want it now does not get it (the
    /// last self-metric frame of a broker that is stopping).
    pub(crate) fn route(
        &mut self,
        origin: Origin,
        msg: zmq::Message,
        topic_len: usize,
        measurements: u64,
        hold: bool,
    ) {
        let arrival = self.arrivals;
        self.arrivals += 1;
        let to_upstream = self.upstream.is_some() && origin != Origin::Upstream;
        // A broker with no linked brokers (most of them) pays one length check here.
        let to_relays = self.relays.len() > 0
            && self
                .relays
                .iter()
                .any(|(id, _)| origin != Origin::Relay(id));
        if to_upstream || to_relays {
            // One copy, shared by every link that keeps it until acknowledged.
            let shared: Shared = Arc::from(&msg[..]);
            let entry = || Entry {
                frame: Arc::clone(&shared),
                topic_len,
                measurements,
                arrival,
            };
            if to_upstream {
                if let Some(upstream) = &mut self.upstream {
                    self.stats.upstream.offered.add(Tally::one(measurements));
                    if upstream.peer.offer(entry(), hold).is_some() {
                        self.stats.upstream.unwanted.add(Tally::one(measurements));
                    }
                }
            }
            for (id, session) in self.relays.iter_mut() {
                if origin == Origin::Relay(id) {
                    continue;
                }
                self.stats.relays.offered.add(Tally::one(measurements));
                if session.peer.offer(entry(), hold).is_some() {
                    self.stats.relays.unwanted.add(Tally::one(measurements));
                }
            }
            self.bound_replay();
        }
        self.offer_to_workers(msg, topic_len, measurements, arrival, hold);
    }

    fn offer_to_workers(
        &mut self,
        msg: zmq::Message,
        topic_len: usize,
        measurements: u64,
        arrival: u64,
        hold: bool,
    ) {
        self.stats.workers.offered.add(Tally::one(measurements));
        let entry = Entry {
            frame: msg,
            topic_len,
            measurements,
            arrival,
        };
        let wanted = self.workers.subscriptions.topics().wants(entry.topic());
        match self
            .workers
            .outbox
            .offer(entry, wanted, || hold.then(Instant::now))
        {
            Offered::Wanted(entry) => self.send_to_workers(entry),
            Offered::Held => {
                while self.workers.outbox.bytes() > self.workers.max_held {
                    let Some((old, keep)) = self.workers.outbox.pop_oldest() else {
                        break;
                    };
                    let tally = Tally::one(old.measurements);
                    if keep == Some(Keep::StartUp) {
                        // Held only because the broker had just started: nobody ever
                        // wanted it here.
                        self.stats.workers.unwanted.add(tally);
                        continue;
                    }
                    self.stats.workers.dropped_full.add(tally);
                    self.warn_full("frames held for absent workers passed --max-held-bytes; dropped the oldest");
                }
            }
            Offered::Unwanted(entry) => self
                .stats
                .workers
                .unwanted
                .add(Tally::one(entry.measurements)),
        }
    }

    /// Hands a frame to the worker port. ZeroMQ queues it for every subscribed worker
    /// (up to each one's high-water mark): delivered as far as this broker can know.
    pub(crate) fn send_to_workers(&mut self, entry: Entry<zmq::Message>) {
        let tally = Tally::one(entry.measurements);
        match self.workers.socket.send(entry.frame, zmq::DONTWAIT) {
            Ok(()) => self.stats.workers.delivered.add(tally),
            Err(_) => self.stats.workers.send_failures.add(tally),
        }
    }

    /// Keeps what all links keep within `--max-replay-bytes`: past it, the oldest
    /// frame of the link keeping the most is dropped.
    fn bound_replay(&mut self) {
        loop {
            let upstream = self.upstream.as_ref().map_or(0, |u| u.peer.outbox.bytes());
            let relays: usize = self.relays.iter().map(|(_, s)| s.peer.outbox.bytes()).sum();
            if upstream + relays <= self.max_replay {
                return;
            }
            let largest = self
                .relays
                .iter()
                .map(|(id, s)| (s.peer.outbox.bytes(), id))
                .max();
            let dropped = match (largest, &mut self.upstream) {
                (Some((bytes, id)), _) if bytes > upstream => self
                    .relays
                    .iter_mut()
                    .find(|(i, _)| *i == id)
                    .and_then(|(_, s)| s.peer.outbox.pop_oldest())
                    .map(|(e, keep)| (Destination::Relay(id), e.measurements, keep)),
                (_, Some(up)) => up
                    .peer
                    .outbox
                    .pop_oldest()
                    .map(|(e, keep)| (Destination::Upstream, e.measurements, keep)),
                (_, None) => None,
            };
            let Some((destination, measurements, keep)) = dropped else {
                return;
            };
            let tally = Tally::one(measurements);
            if keep == Some(Keep::StartUp) {
                self.outcome(destination).unwanted.add(tally);
                continue;
            }
            self.outcome(destination).dropped_full.add(tally);
            self.warn_full(
                "frames kept for linked brokers passed --max-replay-bytes; dropped the oldest",
            );
        }
    }

    fn warn_full(&mut self, what: &str) {
        if let Some(suppressed) = self.full_log.check() {
            let full = self.stats.workers.dropped_full.frames
                + self.stats.upstream.dropped_full.frames
                + self.stats.relays.dropped_full.frames;
            warn!(suppressed, dropped_total = full, "{what}");
        }
    }

    /// The figures of a destination (every linked broker counts under `relays`).
    pub(crate) fn outcome(&mut self, destination: Destination) -> &mut Outcome {
        match destination {
            Destination::Workers => &mut self.stats.workers,
            Destination::Upstream => &mut self.stats.upstream,
            Destination::Relay(_) => &mut self.stats.relays,
        }
    }

    /// Drops what was held past its level's grace, everywhere.
    pub(crate) fn expire(&mut self, now: Instant) {
        let dropped = self.workers.outbox.expire(now);
        self.stats.workers.unwanted.add(dropped.unwanted);
        self.stats.workers.expired.add(dropped.lost);
        if let Some(upstream) = &mut self.upstream {
            let dropped = upstream.peer.outbox.expire(now);
            self.stats.upstream.unwanted.add(dropped.unwanted);
            self.stats.upstream.expired.add(dropped.lost);
        }
        for (_, session) in self.relays.iter_mut() {
            let dropped = session.peer.outbox.expire(now);
            self.stats.relays.unwanted.add(dropped.unwanted);
            self.stats.relays.expired.add(dropped.lost);
        }
    }
}
