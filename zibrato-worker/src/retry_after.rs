//! The `Retry-After` header of an HTTP service, read defensively.

use std::time::{Duration, SystemTime};

use crate::delivery::MAX_RETRY_AFTER;

/// How long an HTTP `Retry-After` value asks to wait: delay-seconds (`120`) or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), measured from `now`.
///
/// Whatever a service sends, the answer is sane: at most [`MAX_RETRY_AFTER`] (a huge
/// number is cut to it), zero for a date in the past, and `None` for anything that is
/// neither (the worker then uses its own backoff).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use zibrato_worker::{MAX_RETRY_AFTER, retry_after};
///
/// let now = SystemTime::now();
/// assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
/// assert_eq!(retry_after("99999999999999999999999", now), Some(MAX_RETRY_AFTER));
/// assert_eq!(retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(retry_after("soon", now), None);
/// ```
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: delay-seconds, however many digits.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_values_are_sane() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(90)));
        let far = httpdate::fmt_http_date(now + Duration::from_secs(86_400 * 365));
        assert_eq!(retry_after(&far, now), Some(MAX_RETRY_AFTER));
        for bad in [
            "",
            "-1",
            "1.5",
            "0x10",
            "∞",
            "Mon, 99 Foo 2024 99:99:99 GMT",
        ] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&u64::MAX.to_string(), now),
            Some(MAX_RETRY_AFTER)
        );
    }
}
