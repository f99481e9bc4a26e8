//! Holding back a (name, source) pair Librato keeps refusing — for a while, never for
//! good.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zibrato_common::later;

/// The most pairs remembered. Past it, a new refusal is not remembered (the pair is
/// just refused again next window, which costs a request, not memory).
pub const MAX_HELD_PAIRS: usize = 10_000;

/// A refusal is "repeated" when the same pair was refused within this long.
const REPEAT_WITHIN: Duration = Duration::from_secs(3_600);

#[derive(Debug, Clone, Copy)]
struct Record {
    last_refused: Instant,
    held_until: Option<Instant>,
}

/// Pairs refused more than once, held back for a limited time.
#[derive(Debug)]
pub(crate) struct Holds {
    hold: Duration,
    pairs: HashMap<(String, String), Record>,
}

impl Holds {
    /// Holds a pair refused twice within an hour for `hold` (0 never holds).
    pub fn new(hold: Duration) -> Holds {
        Holds {
            hold,
            pairs: HashMap::new(),
        }
    }

    /// Whether `key` is held back at `now`.
    pub fn is_held(&self, key: &(String, String), now: Instant) -> bool {
        self.pairs
            .get(key)
            .and_then(|r| r.held_until)
            .is_some_and(|until| now < until)
    }

    /// Records a refusal of `key`; returns whether the pair is now held (the same pair
    /// was refused within the hour before).
    pub fn refused(&mut self, key: (String, String), now: Instant) -> bool {
        if self.hold.is_zero() {
            return false;
        }
        if let Some(record) = self.pairs.get_mut(&key) {
            let repeated = now.saturating_duration_since(record.last_refused) <= REPEAT_WITHIN;
            record.last_refused = now;
            record.held_until = repeated.then(|| later(now, self.hold));
            return repeated;
        }
        if self.pairs.len() >= MAX_HELD_PAIRS {
            self.forget_old(now);
        }
        if self.pairs.len() < MAX_HELD_PAIRS {
            self.pairs.insert(
                key,
                Record {
                    last_refused: now,
                    held_until: None,
                },
            );
        }
        false
    }

    /// How many pairs are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    fn forget_old(&mut self, now: Instant) {
        self.pairs.retain(|_, r| {
            now.saturating_duration_since(r.last_refused) <= REPEAT_WITHIN
                || r.held_until.is_some_and(|until| now < until)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> (String, String) {
        (name.to_string(), "web".to_string())
    }

    #[test]
    fn held_only_after_a_repeat_and_only_for_a_while() {
        let mut holds = Holds::new(Duration::from_secs(600));
        let t = Instant::now();
        assert!(!holds.refused(key("big"), t));
        assert!(!holds.is_held(&key("big"), t));
        assert!(holds.refused(key("big"), t + Duration::from_secs(60)));
        assert!(holds.is_held(&key("big"), t + Duration::from_secs(61)));
        assert!(!holds.is_held(&key("other"), t + Duration::from_secs(61)));
        assert!(!holds.is_held(&key("big"), t + Duration::from_secs(661)));
        // A refusal long after the last one is a first refusal again.
        assert!(!holds.refused(key("big"), t + Duration::from_secs(9_000)));
    }

    #[test]
    fn bounded_whatever_is_refused() {
        let mut holds = Holds::new(Duration::from_secs(600));
        let t = Instant::now();
        for i in 0..MAX_HELD_PAIRS + 50 {
            holds.refused(key(&i.to_string()), t);
        }
        assert_eq!(holds.len(), MAX_HELD_PAIRS);
        // Once the old ones are past remembering, new ones take their place.
        holds.refused(key("new"), t + Duration::from_secs(4_000));
        assert_eq!(holds.len(), 1);
        assert!(!Holds::new(Duration::ZERO).refused(key("x"), t));
    }
}
