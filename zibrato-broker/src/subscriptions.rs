//! Which of the workers' subscriptions the broker takes.

use zibrato_wire::relay::is_topic;

use crate::topics::TopicSet;

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
    topics: TopicSet,
    max: usize,
}

impl Subscriptions {
    /// Passes on at most `max` topics at once.
    pub(crate) fn new(max: usize) -> Self {
        Subscriptions {
            topics: TopicSet::default(),
            max,
        }
    }

    /// Decides on one subscription message (`1` or `0`, then the topic).
    pub(crate) fn judge(&mut self, message: &[u8]) -> Verdict {
        let Some((&kind, topic)) = message.split_first() else {
            return Verdict::Malformed;
        };
        match kind {
            1 if !is_topic(topic) => Verdict::Malformed,
            1 if self.topics.contains(topic) => Verdict::Ignore,
            1 if self.topics.len() >= self.max => Verdict::Full,
            1 => {
                self.topics.insert(topic);
                Verdict::Forward
            }
            0 if self.topics.remove(topic) => Verdict::Forward,
            0 => Verdict::Ignore,
            _ => Verdict::Malformed,
        }
    }

    /// Forgets `topic`, as if its last subscriber withdrew (the worker port was closed).
    pub(crate) fn forget(&mut self, topic: &[u8]) {
        self.topics.remove(topic);
    }

    /// The topics subscribed now.
    pub(crate) fn topics(&self) -> &TopicSet {
        &self.topics
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
        assert_eq!(s.topics().len(), 2);
    }
}
