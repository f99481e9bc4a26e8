//! What one end of a relay link knows of the other: the frames it keeps for it, the
//! topics it wants, and how far it has taken the other's frames.

use std::time::Instant;

use zibrato_wire::relay::Ack;

use super::{Event, Shared};
use crate::outbox::{Entry, Offered, Outbox};
use crate::topics::TopicSet;

/// What became of a frame received on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// New; `gap` frames numbered before it were never sent (the sender dropped them).
    New { gap: u64 },
    /// Taken before: a resend after a reconnect.
    Duplicate,
}

/// One end's view of the other.
pub(crate) struct Peer {
    /// The frames kept for the peer until it acknowledges them.
    pub outbox: Outbox<Shared>,
    /// The topics the peer wants from this broker.
    pub wants: TopicSet,
    /// The peer's sending session and the number of its next frame this end expects.
    inbound: Option<Ack>,
    /// Whether frames were taken since the last acknowledgement was sent.
    ack_owed: bool,
}

impl Peer {
    pub(crate) fn new(outbox: Outbox<Shared>) -> Peer {
        Peer {
            outbox,
            wants: TopicSet::default(),
            inbound: None,
            ack_owed: false,
        }
    }

    /// Notes the frame `sequence` of the peer's `session`. The first frame of a session
    /// this end has not heard of starts it, whatever its number (this end restarted,
    /// or forgot the session); after that, a number below the expected one is a
    /// duplicate and one above it a gap.
    pub(crate) fn receive(&mut self, session: u64, sequence: u64) -> Received {
        let received = match self.inbound {
            Some(Ack { session: s, next }) if s == session => {
                if sequence < next {
                    // Sent again because an acknowledgement went missing: say it again.
                    self.ack_owed = true;
                    return Received::Duplicate;
                }
                Received::New {
                    gap: sequence - next,
                }
            }
            _ => Received::New { gap: 0 },
        };
        self.inbound = Some(Ack {
            session,
            next: sequence.saturating_add(1),
        });
        self.ack_owed = true;
        received
    }

    /// How far this end has taken the peer's frames, if it has taken any.
    pub(crate) fn inbound(&self) -> Option<Ack> {
        self.inbound
    }

    /// The acknowledgement owed since the last one, if any; it is then no longer owed.
    pub(crate) fn take_ack(&mut self) -> Option<Ack> {
        if !std::mem::take(&mut self.ack_owed) {
            return None;
        }
        self.inbound
    }

    /// Offers a frame to the peer: queued if it wants the level, held within the grace
    /// (see [`Outbox::offer`]), or given back as unwanted.
    pub(crate) fn offer(&mut self, entry: Entry<Shared>, hold: bool) -> Option<Entry<Shared>> {
        let wanted = self.wants.wants(entry.topic());
        match self.outbox.offer(entry, wanted, || hold.then(Instant::now)) {
            Offered::Wanted(entry) => {
                self.outbox.queue(entry);
                None
            }
            Offered::Held => None,
            Offered::Unwanted(entry) => Some(entry),
        }
    }

    /// The peer wants `topic` now (`wanted`) or no longer: records it, releases or
    /// holds its frames, and says so in `events` if it changed, unless the peer already
    /// wants `max` topics (then it is refused).
    pub(crate) fn set_want(
        &mut self,
        topic: &[u8],
        wanted: bool,
        max: usize,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        let changed = if wanted {
            if !self.wants.contains(topic) && self.wants.len() >= max {
                events.push(Event::Refused(format!(
                    "wants more than --max-subscriptions ({max}) topics; {} not taken",
                    super::topic_text(topic)
                )));
                return;
            }
            let added = self.wants.insert(topic);
            self.outbox.want(topic);
            added
        } else {
            let removed = self.wants.remove(topic);
            if removed {
                self.outbox.unwant(topic, now);
            }
            removed
        };
        if changed {
            events.push(Event::Wants {
                topic: Box::from(topic),
                wanted,
            });
        }
    }

    /// Replaces everything the peer wants with `topics` (a hello or welcome).
    pub(crate) fn replace_wants<'a>(
        &mut self,
        topics: impl Iterator<Item = &'a [u8]> + Clone,
        max: usize,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        let gone: Vec<Box<[u8]>> = self
            .wants
            .iter()
            .filter(|old| !topics.clone().any(|new| new == *old))
            .map(Box::from)
            .collect();
        for topic in gone {
            self.set_want(&topic, false, max, now, events);
        }
        for topic in topics {
            self.set_want(topic, true, max, now, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::grace::Grace;

    fn peer() -> Peer {
        Peer::new(Outbox::new(Grace::new(
            Duration::from_secs(30),
            8,
            Instant::now(),
        )))
    }

    #[test]
    fn resent_frames_are_duplicates_and_skipped_ones_a_gap() {
        let mut p = peer();
        assert_eq!(
            p.receive(7, 10),
            Received::New { gap: 0 },
            "a session starts anywhere"
        );
        assert_eq!(p.receive(7, 11), Received::New { gap: 0 });
        assert_eq!(
            p.take_ack(),
            Some(Ack {
                session: 7,
                next: 12
            })
        );
        assert_eq!(p.take_ack(), None, "owed once");
        assert_eq!(p.receive(7, 11), Received::Duplicate);
        assert_eq!(p.receive(7, 3), Received::Duplicate);
        assert_eq!(
            p.take_ack(),
            Some(Ack {
                session: 7,
                next: 12
            }),
            "a duplicate means the sender missed an acknowledgement"
        );
        assert_eq!(p.receive(7, 15), Received::New { gap: 3 });
        assert_eq!(p.receive(8, 0), Received::New { gap: 0 }, "a new session");
        assert_eq!(
            p.inbound(),
            Some(Ack {
                session: 8,
                next: 1
            })
        );
    }

    #[test]
    fn wants_are_bounded_and_replaced_as_a_whole() {
        let mut p = peer();
        let mut events = Vec::new();
        let now = Instant::now();
        let first: [&[u8]; 2] = [b"a\0", b"b\0"];
        p.replace_wants(first.iter().copied(), 2, now, &mut events);
        assert_eq!(events.len(), 2);
        events.clear();
        p.set_want(b"c\0", true, 2, now, &mut events);
        assert!(matches!(events[..], [Event::Refused(_)]), "{events:?}");
        events.clear();
        let second: [&[u8]; 2] = [b"b\0", b"c\0"];
        p.replace_wants(second.iter().copied(), 2, now, &mut events);
        let changes: Vec<(String, bool)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Wants { topic, wanted } => {
                    Some((String::from_utf8_lossy(topic).into_owned(), *wanted))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            [("a\0".to_string(), false), ("c\0".to_string(), true)]
        );
        assert!(p.wants.wants(b"c\0") && !p.wants.wants(b"a\0"));
    }
}
