//! Which workers' subscriptions the broker passes on to publishers.

use std::collections::HashSet;

use zibrato_wire::Level;

/// What became of one subscription message from a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Pass it on to the publishers.
    Forward,
    /// An unsubscription of something never passed on: nothing to do.
    Ignore,
    /// Refused: not a level topic (`level\0`) nor the empty topic.
    Malformed,
    /// Refused: `--max-subscriptions` topics are subscribed already.
    Full,
}

/// The topics passed on to publishers, at most `max` of them.
///
/// Only a level's topic (`info\0`, so publishers and the broker match it exactly) or
/// the empty topic (everything, for a debugging subscriber) is passed on; a prefix
/// such as `inf` would make publishers send levels nobody asked for by name. Each
/// publisher keeps every topic passed on, so the bound is also the bound of every
/// publisher's table.
///
/// ZeroMQ's worker-side socket reports a topic once when its first subscriber comes
/// and once when its last one goes, so the set holds each live topic once.
#[derive(Debug)]
pub(crate) struct Subscriptions {
    topics: HashSet<Box<[u8]>>,
    /// Whether the empty topic (everything) is among them.
    everything: bool,
    max: usize,
}

impl Subscriptions {
    /// Passes on at most `max` topics at once.
    pub(crate) fn new(max: usize) -> Self {
        Subscriptions {
            topics: HashSet::new(),
            everything: false,
            max,
        }
    }

    /// Decides on one subscription message (`1` or `0`, then the topic).
    pub(crate) fn judge(&mut self, message: &[u8]) -> Verdict {
        let Some((&kind, topic)) = message.split_first() else {
            return Verdict::Malformed;
        };
        let well_formed =
            topic.is_empty() || Level::split_topic(topic).is_ok_and(|(_, rest)| rest.is_empty());
        match kind {
            1 if !well_formed => Verdict::Malformed,
            1 if self.topics.contains(topic) => Verdict::Ignore,
            1 if self.topics.len() >= self.max => Verdict::Full,
            1 => {
                self.topics.insert(Box::from(topic));
                self.everything |= topic.is_empty();
                Verdict::Forward
            }
            0 if self.topics.remove(topic) => {
                self.everything &= !topic.is_empty();
                Verdict::Forward
            }
            0 => Verdict::Ignore,
            _ => Verdict::Malformed,
        }
    }

    /// Whether a frame of this topic has a subscriber.
    #[inline]
    pub(crate) fn wants(&self, topic: &[u8]) -> bool {
        self.everything || self.topics.contains(topic)
    }

    /// The topics passed on now.
    pub(crate) fn topics(&self) -> impl Iterator<Item = &[u8]> {
        self.topics.iter().map(|t| &t[..])
    }

    /// How many topics are passed on now.
    pub(crate) fn len(&self) -> usize {
        self.topics.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_levels_and_everything_pass_within_the_bound() {
        let mut s = Subscriptions::new(2);
        assert_eq!(s.judge(b"\x01info\0"), Verdict::Forward);
        assert_eq!(s.judge(b"\x01info\0"), Verdict::Ignore);
        assert_eq!(s.judge(b"\x01inf"), Verdict::Malformed, "a prefix");
        assert_eq!(s.judge(b"\x01in fo\0"), Verdict::Malformed);
        assert_eq!(s.judge(b"\x01info\0x"), Verdict::Malformed);
        assert_eq!(s.judge(b"\x02info\0"), Verdict::Malformed);
        assert_eq!(s.judge(b""), Verdict::Malformed);
        assert_eq!(s.judge(b"\x01"), Verdict::Forward, "everything");
        assert_eq!(s.judge(b"\x01crit\0"), Verdict::Full);
        assert_eq!(s.judge(b"\x00crit\0"), Verdict::Ignore, "never passed on");
        assert_eq!(s.judge(b"\x00info\0"), Verdict::Forward);
        assert_eq!(s.judge(b"\x01crit\0"), Verdict::Forward, "room again");
        assert_eq!(s.len(), 2);
    }
}
