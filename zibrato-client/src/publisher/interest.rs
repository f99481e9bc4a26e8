//! Whether anybody wants a level: the broker's subscriptions say so, and a level that
//! loses its last subscriber is held for a grace period (a worker restarting) before
//! its measurements are filtered.

use std::time::{Duration, Instant};

use zibrato_common::later;

/// What becomes of a level's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// A subscriber wants them: send.
    Yes,
    /// The last subscriber went away less than the level grace ago: batch and hold.
    Held,
    /// Nobody wants them (never did, or not for longer than the grace): filter.
    No,
}

/// One level's interest: what becomes of its measurements, and since when it has
/// had no subscriber.
#[derive(Debug, Clone, Copy)]
pub(super) struct Interest {
    want: Want,
    /// When the level lost its last subscriber, while it has none.
    lost_at: Option<Instant>,
}

impl Default for Interest {
    /// Not wanted: a level nobody has subscribed to yet is filtered.
    fn default() -> Self {
        Interest {
            want: Want::No,
            lost_at: None,
        }
    }
}

impl Interest {
    /// What becomes of the level's measurements now.
    pub(super) fn want(&self) -> Want {
        self.want
    }

    /// Takes in whether a subscriber wants the level at `now`: wanted, held while it
    /// lost its last subscriber less than `grace` ago, or not wanted. Returns whether
    /// the level just stopped being sent (held, or its grace ran out), to say so.
    pub(super) fn update(&mut self, wanted: bool, now: Instant, grace: Duration) -> bool {
        let before = self.want;
        self.want = if wanted {
            self.lost_at = None;
            Want::Yes
        } else {
            if before == Want::Yes {
                self.lost_at = Some(now);
            }
            match self.lost_at {
                Some(lost) if now.saturating_duration_since(lost) < grace => Want::Held,
                _ => Want::No,
            }
        };
        self.want != before && before != Want::No && self.want != Want::Yes
    }

    /// When the hold ends, if the level is held.
    pub(super) fn grace_end(&self, grace: Duration) -> Option<Instant> {
        match (self.want, self.lost_at) {
            (Want::Held, Some(lost)) => Some(later(lost, grace)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn a_level_never_wanted_is_filtered_and_not_announced() {
        let mut interest = Interest::default();
        assert!(!interest.update(false, Instant::now(), GRACE));
        assert_eq!(interest.want(), Want::No);
        assert_eq!(interest.grace_end(GRACE), None);
    }

    #[test]
    fn a_level_that_loses_its_subscriber_is_held_for_the_grace_then_filtered() {
        let start = Instant::now();
        let mut interest = Interest::default();
        assert!(!interest.update(true, start, GRACE));
        assert_eq!(interest.want(), Want::Yes);
        let lost = start + Duration::from_secs(1);
        assert!(interest.update(false, lost, GRACE), "held: said");
        assert_eq!(interest.want(), Want::Held);
        assert_eq!(interest.grace_end(GRACE), Some(lost + GRACE));
        // Still within the grace: held, and not said again.
        assert!(!interest.update(false, lost + GRACE / 2, GRACE));
        assert_eq!(interest.want(), Want::Held);
        // The grace counts from the loss, not from the last update.
        assert!(
            interest.update(false, lost + GRACE, GRACE),
            "filtered: said"
        );
        assert_eq!(interest.want(), Want::No);
        assert_eq!(interest.grace_end(GRACE), None);
    }

    #[test]
    fn a_subscriber_back_within_the_grace_ends_the_hold() {
        let start = Instant::now();
        let mut interest = Interest::default();
        interest.update(true, start, GRACE);
        interest.update(false, start, GRACE);
        assert!(!interest.update(true, start + Duration::from_secs(5), GRACE));
        assert_eq!(interest.want(), Want::Yes);
        // A later loss starts a new grace.
        let again = start + Duration::from_secs(100);
        interest.update(false, again, GRACE);
        assert_eq!(interest.grace_end(GRACE), Some(again + GRACE));
    }

    #[test]
    fn with_no_grace_a_lost_level_is_filtered_at_once() {
        let mut interest = Interest::default();
        let now = Instant::now();
        interest.update(true, now, Duration::ZERO);
        assert!(interest.update(false, now, Duration::ZERO));
        assert_eq!(interest.want(), Want::No);
    }
}
