//! Sets of wanted topics, and how many destinations want each topic.

use std::collections::{HashMap, HashSet};

/// The topics one destination wants: level topics (`info\0`) and perhaps the empty
/// topic, which wants every level.
#[derive(Debug, Default)]
pub(crate) struct TopicSet {
    topics: HashSet<Box<[u8]>>,
    /// Whether the empty topic (everything) is among them.
    everything: bool,
}

impl TopicSet {
    /// Whether a frame of this topic is wanted.
    #[inline]
    pub(crate) fn wants(&self, topic: &[u8]) -> bool {
        self.everything || self.topics.contains(topic)
    }

    /// Whether this very topic is in the set (not merely covered by the empty one).
    pub(crate) fn contains(&self, topic: &[u8]) -> bool {
        self.topics.contains(topic)
    }

    /// Adds `topic`; true if it was not there.
    pub(crate) fn insert(&mut self, topic: &[u8]) -> bool {
        self.everything |= topic.is_empty();
        self.topics.insert(Box::from(topic))
    }

    /// Removes `topic`; true if it was there.
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        if topic.is_empty() {
            self.everything = false;
        }
        self.topics.remove(topic)
    }

    /// The topics.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.topics.iter().map(|t| &t[..])
    }

    /// How many topics.
    pub(crate) fn len(&self) -> usize {
        self.topics.len()
    }
}

/// How many destinations want each topic: what a source is told to send is every
/// topic some destination other than itself wants.
#[derive(Debug, Default)]
pub(crate) struct Demand {
    count: HashMap<Box<[u8]>, u32>,
}

impl Demand {
    /// One more destination wants `topic`; returns how many did before.
    pub(crate) fn add(&mut self, topic: &[u8]) -> u32 {
        let count = self.count.entry(Box::from(topic)).or_insert(0);
        *count += 1;
        *count - 1
    }

    /// One destination fewer wants `topic`; returns how many did before.
    pub(crate) fn remove(&mut self, topic: &[u8]) -> u32 {
        match self.count.get_mut(topic) {
            Some(count) if *count > 1 => {
                *count -= 1;
                *count + 1
            }
            Some(_) => {
                self.count.remove(topic);
                1
            }
            None => 0,
        }
    }

    /// The topics a destination that itself wants `own` should be told: those some
    /// other destination wants.
    pub(crate) fn others_want<'a>(&'a self, own: &'a TopicSet) -> impl Iterator<Item = &'a [u8]> {
        self.count
            .iter()
            .filter(move |(topic, count)| **count > u32::from(own.contains(topic)))
            .map(|(topic, _)| &topic[..])
    }

    /// How many topics are wanted by anyone.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.count.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_topic_wants_everything() {
        let mut set = TopicSet::default();
        assert!(set.insert(b"info\0"));
        assert!(!set.insert(b"info\0"));
        assert!(set.wants(b"info\0") && !set.wants(b"crit\0"));
        set.insert(b"");
        assert!(set.wants(b"crit\0") && !set.contains(b"crit\0"));
        assert!(set.remove(b""));
        assert!(!set.wants(b"crit\0"));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn each_destination_is_told_what_the_others_want() {
        let mut demand = Demand::default();
        let mut upstream = TopicSet::default();
        assert_eq!(demand.add(b"info\0"), 0, "the workers want info");
        upstream.insert(b"info\0");
        assert_eq!(demand.add(b"info\0"), 1, "and so does the upstream");
        upstream.insert(b"crit\0");
        assert_eq!(demand.add(b"crit\0"), 0, "crit: only the upstream");
        let mut told: Vec<&[u8]> = demand.others_want(&upstream).collect();
        told.sort();
        assert_eq!(told, [b"info\0"], "not what it wants alone");
        let nobody = TopicSet::default();
        assert_eq!(
            demand.others_want(&nobody).count(),
            2,
            "publishers hear all"
        );
        assert_eq!(demand.remove(b"crit\0"), 1);
        assert_eq!(demand.remove(b"crit\0"), 0, "never below zero");
        assert_eq!(demand.len(), 1);
    }
}
