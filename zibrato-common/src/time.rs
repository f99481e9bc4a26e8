//! Deadlines from durations a user gave, which may be too long for the clock.

use std::time::{Duration, Instant};

/// `base + by`, or a day after `base` when the sum does not fit an `Instant` (a
/// `Duration::MAX` timeout or a flag of centuries means "not for a long while", never
/// a panic), or `base` itself on a clock that cannot go a day further.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let now = Instant::now();
/// assert_eq!(zibrato_common::later(now, Duration::from_secs(5)), now + Duration::from_secs(5));
/// assert!(zibrato_common::later(now, Duration::MAX) > now);
/// ```
pub fn later(base: Instant, by: Duration) -> Instant {
    base.checked_add(by)
        .or_else(|| base.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(base)
}
