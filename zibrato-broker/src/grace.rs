//! When a level with no subscriber at a destination is still kept for it: for the
//! grace after its last subscriber left (a worker or a broker restarting), and every
//! level for the grace after the broker started (it cannot know which levels had
//! subscribers before).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why a frame nobody wants now is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Its level had a subscriber here less than the grace ago.
    Lost,
    /// The broker started less than the grace ago and the level has had no subscriber
    /// here since: nobody may ever want it, so dropping it later is no loss.
    StartUp,
}

/// The grace of one destination's levels.
pub(crate) struct Grace {
    grace: Duration,
    started: Instant,
    /// Topics whose last subscriber went away, and when: at most `max_topics`, since a
    /// subscriber that churns through new topics would otherwise add one per
    /// withdrawal for as long as the grace lasts.
    lost_at: HashMap<Box<[u8]>, Instant>,
    max_topics: usize,
}

impl Grace {
    pub(crate) fn new(grace: Duration, max_topics: usize, started: Instant) -> Grace {
        Grace {
            grace,
            started,
            lost_at: HashMap::new(),
            max_topics,
        }
    }

    /// Why a frame of `topic` with no subscriber is kept at `now`, if it is.
    pub(crate) fn keep(&self, topic: &[u8], now: Instant) -> Option<Keep> {
        let within = |since: Instant| now.saturating_duration_since(since) < self.grace;
        if self.lost_at.get(topic).is_some_and(|&lost| within(lost)) {
            Some(Keep::Lost)
        } else if within(self.started) {
            Some(Keep::StartUp)
        } else {
            None
        }
    }

    /// The last subscriber of `topic` went away: keep its level for the grace, unless
    /// `max_topics` levels are kept already. Returns whether it is kept.
    pub(crate) fn lost(&mut self, topic: &[u8], now: Instant) -> bool {
        if self.lost_at.len() >= self.max_topics {
            self.forget_expired(now);
            if self.lost_at.len() >= self.max_topics {
                return false;
            }
        }
        self.lost_at.insert(Box::from(topic), now);
        true
    }

    /// A subscriber of `topic` came.
    pub(crate) fn found(&mut self, topic: &[u8]) {
        self.lost_at.remove(topic);
    }

    /// Forgets levels whose grace has run out.
    pub(crate) fn forget_expired(&mut self, now: Instant) {
        let grace = self.grace;
        self.lost_at
            .retain(|_, lost| now.saturating_duration_since(*lost) < grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_kept_for_the_grace_and_the_reason_is_told() {
        let start = Instant::now();
        let mut grace = Grace::new(Duration::from_secs(10), 2, start);
        assert_eq!(grace.keep(b"a\0", start), Some(Keep::StartUp));
        let later = start + Duration::from_secs(11);
        assert_eq!(grace.keep(b"a\0", later), None, "start-up is over");
        assert!(grace.lost(b"a\0", later));
        assert_eq!(grace.keep(b"a\0", later), Some(Keep::Lost));
        grace.found(b"a\0");
        assert_eq!(grace.keep(b"a\0", later), None);
        // At most `max_topics` levels kept; room again once a grace passes.
        assert!(grace.lost(b"b\0", later) && grace.lost(b"c\0", later));
        assert!(!grace.lost(b"d\0", later));
        assert_eq!(grace.keep(b"d\0", later), None);
        assert!(grace.lost(b"d\0", later + Duration::from_secs(10)));
    }
}
