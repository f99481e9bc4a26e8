//! Values daemons read from their command line and their host.

use std::time::Duration;

/// Why a text is not a number of seconds ([`parse_seconds`]). Each variant holds the
/// text as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecondsError {
    /// Not a decimal number.
    #[error("{0:?} is not a number of seconds")]
    NotANumber(String),
    /// Zero, negative or NaN.
    #[error("{0} seconds: must be more than 0")]
    NotPositive(String),
    /// More seconds than a `Duration` holds.
    #[error("{0} seconds is too long")]
    TooLong(String),
    /// Positive, but it rounds to less than a microsecond.
    #[error("{0} seconds is shorter than a microsecond")]
    BelowMicrosecond(String),
}

/// Parses positive seconds, fractions allowed (`0.5`), for flags such as `--flush`.
///
/// # Errors
///
/// A [`SecondsError`] naming the text when it is not a positive number of seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zibrato_common::{SecondsError, parse_seconds};
///
/// assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_seconds("0"), Err(SecondsError::NotPositive("0".into())));
/// assert!(parse_seconds("soon").is_err());
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, SecondsError> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| SecondsError::NotANumber(text.to_string()))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(SecondsError::NotPositive(text.to_string()));
    }
    let duration = Duration::try_from_secs_f64(seconds)
        .map_err(|_| SecondsError::TooLong(text.to_string()))?;
    // Found by fuzzing: a tiny positive number rounds to a zero Duration, which would
    // make a timer spin.
    if duration < Duration::from_micros(1) {
        return Err(SecondsError::BelowMicrosecond(text.to_string()));
    }
    Ok(duration)
}

/// This host's name, if it is a valid measurement source, else `fallback`: the default
/// source of a daemon's self-metrics.
#[cfg(feature = "daemon")]
pub fn host_name(fallback: &str) -> String {
    gethostname::gethostname()
        .into_string()
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| zibrato_wire::validate_name(h).is_ok())
        .unwrap_or_else(|| fallback.to_string())
}

/// Whether `host` (an address, or a name) is this host's loopback: `localhost`, or an
/// address in 127.0.0.0/8 or `::1`. Any other name is taken as another host.
///
/// # Examples
///
/// ```
/// assert!(zibrato_common::is_loopback_host("127.0.0.1"));
/// assert!(zibrato_common::is_loopback_host("::1"));
/// assert!(zibrato_common::is_loopback_host("localhost"));
/// assert!(!zibrato_common::is_loopback_host("10.0.0.5"));
/// assert!(!zibrato_common::is_loopback_host("central.example.com"));
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_rounds_to_nothing_is_refused() {
        // The input the cli_values fuzzer found.
        let tiny = format!(".{}1", "0".repeat(53));
        assert!(
            parse_seconds(&tiny)
                .unwrap_err()
                .to_string()
                .contains("shorter than a microsecond")
        );
        assert_eq!(parse_seconds("0.000001"), Ok(Duration::from_micros(1)));
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("1e300").is_err());
    }
}
