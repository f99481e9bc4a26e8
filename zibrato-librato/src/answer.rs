//! What Librato's answer to a request means for the worker.

use std::io::Read as _;
use std::time::SystemTime;

use reqwest::StatusCode;
use reqwest::blocking::Response;
use reqwest::header::RETRY_AFTER;
use serde_json::Value as Json;
use zibrato_worker::DeliveryError;

/// The most of an answer's body read: Librato's are small, and a huge or endless body
/// must not cost memory.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How much of an answer is kept for the log.
const MAX_LOGGED_CHARS: usize = 500;

/// How a request went, when it is not a reason to retry the window later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Every entry was accepted.
    Accepted,
    /// Refused for something in the entries (a name, a value, a source: Librato's error
    /// body names the field); splitting the request finds which.
    Refused(String),
    /// Refused for the window's `measure_time` (too far in the past, after an outage, or
    /// in the future): every entry of the window shares it, so the window is dropped.
    Stale(String),
    /// Refused in a way that no change of the entries can fix (404, 405, 415, …): the
    /// entries are dropped and counted.
    Dropped(String),
}

/// Reads the status, `Retry-After` and at most [`MAX_ANSWER_BYTES`] of the body.
///
/// # Errors
///
/// [`DeliveryError::Retry`] for 429, 5xx and a 403 whose body speaks of a limit (Librato
/// answers a rate-limited account so); [`DeliveryError::Fatal`] for 401 and any other
/// 403.
pub(crate) fn classify(response: Response) -> Result<Answer, DeliveryError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| zibrato_worker::retry_after(v, SystemTime::now()));
    let mut body = Vec::new();
    let _ = response.take(MAX_ANSWER_BYTES).read_to_end(&mut body);
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .take(MAX_LOGGED_CHARS)
        .collect();
    let retry = |reason: String| DeliveryError::retry(reason, retry_after);
    match status {
        s if s.is_success() => Ok(Answer::Accepted),
        StatusCode::FORBIDDEN if speaks_of_a_limit(&text) => {
            Err(retry(format!("rate limited ({status}): {text}")))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(DeliveryError::Fatal {
            reason: format!(
                "Librato refused the credentials ({status}: {text}); check --username and the API token"
            ),
        }),
        StatusCode::TOO_MANY_REQUESTS => Err(retry(format!("rate limited ({status})"))),
        StatusCode::REQUEST_TIMEOUT => Err(retry(format!("Librato answered {status}"))),
        s if s.is_server_error() => Err(retry(format!("Librato answered {status}"))),
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => Ok(if about_measure_time(&body) {
            Answer::Stale(text)
        } else {
            Answer::Refused(text)
        }),
        _ => Ok(Answer::Dropped(format!("{status}: {text}"))),
    }
}

/// Librato's rate-limit refusals say "limit" (`You have hit the API limit for
/// measurements …`); its permission errors do not.
fn speaks_of_a_limit(text: &str) -> bool {
    text.to_ascii_lowercase().contains("limit")
}

/// Whether an error body blames the `measure_time` (and nothing else): Librato answers
/// `{"errors":{"params":{"measure_time":["is too far in the past"]}}}`.
fn about_measure_time(body: &[u8]) -> bool {
    let Ok(json) = serde_json::from_slice::<Json>(body) else {
        return false;
    };
    match json["errors"]["params"].as_object() {
        Some(params) => !params.is_empty() && params.keys().all(|k| k == "measure_time"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_time_errors_are_window_wide_and_others_are_not() {
        assert!(about_measure_time(
            br#"{"errors":{"params":{"measure_time":["is too far in the past"]}},"request_time":1}"#
        ));
        assert!(!about_measure_time(
            br#"{"errors":{"params":{"value":["must be less than 1e126"]}}}"#
        ));
        assert!(!about_measure_time(
            br#"{"errors":{"params":{"measure_time":["x"],"name":["y"]}}}"#
        ));
        assert!(!about_measure_time(b"measure_time, but not JSON"));
    }

    #[test]
    fn a_limit_is_not_a_permission() {
        assert!(speaks_of_a_limit(
            r#"{"errors":{"request":["You have hit the API limit for measurements [measure:raw_rate]."]}}"#
        ));
        assert!(!speaks_of_a_limit(
            r#"{"errors":{"request":["Authorization Required"]}}"#
        ));
    }
}
