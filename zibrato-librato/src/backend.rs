//! The Librato backend: batches, posts, isolates refused measurements, retries.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::io::Read as _;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value as Json;
use tracing::{info, warn};
use zibrato_worker::{Backend, Delivered, DeliveryError, Window};

use crate::Secret;
use crate::names::Sanitizer;
use crate::payload::{body, entries};

/// Largest request body Librato accepts.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How the backend talks to Librato.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `/v1/metrics` endpoint.
    pub api_url: String,
    /// The account's user (an email address).
    pub username: String,
    /// The API token.
    pub token: Secret,
    /// Most gauge entries per request.
    pub batch_size: usize,
    /// Windows older than this are dropped rather than sent to be refused.
    pub max_age: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Print the JSON instead of posting it.
    pub dry_run: bool,
}

/// Posts windows to Librato.
pub struct Librato {
    settings: Settings,
    client: Client,
    authorization: String,
    names: Sanitizer,
    quarantined: HashSet<String>,
}

/// How one request went.
enum Posted {
    Accepted,
    Refused(String),
    Dropped(String),
}

impl Librato {
    /// A backend with these settings.
    ///
    /// # Errors
    ///
    /// A message if the HTTP client cannot be built.
    pub fn new(settings: Settings) -> Result<Librato, String> {
        let client = Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("zibrato/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let credentials = format!("{}:{}", settings.username, settings.token.expose());
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        Ok(Librato {
            settings,
            client,
            authorization,
            names: Sanitizer::default(),
            quarantined: HashSet::new(),
        })
    }

    fn post(&self, entries: &[Json]) -> Result<Posted, DeliveryError> {
        let body = body(entries);
        if self.settings.dry_run {
            println!("{body}");
            return Ok(Posted::Accepted);
        }
        let response = self
            .client
            .post(&self.settings.api_url)
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .map_err(|e| DeliveryError::Retry {
                reason: describe(&e),
                after: None,
            })?;
        classify(response)
    }

    /// Posts `entries` (the gauge entries of some series); on a 400, splits them to find
    /// the ones Librato refuses. Returns the names refused.
    fn post_isolating(&mut self, entries: &[Json]) -> Result<Vec<String>, DeliveryError> {
        match self.post(entries)? {
            Posted::Accepted => Ok(Vec::new()),
            Posted::Dropped(reason) => {
                warn!(%reason, entries = entries.len(), "Librato refused a request; it is dropped");
                Ok(entries.iter().filter_map(entry_name).collect())
            }
            Posted::Refused(reason) if entries.len() == 1 => {
                let name = entry_name(&entries[0]).unwrap_or_default();
                warn!(%name, %reason, "Librato refuses this measurement; its name is quarantined");
                Ok(vec![name])
            }
            Posted::Refused(_) => {
                let (left, right) = entries.split_at(entries.len() / 2);
                let mut refused = self.post_isolating(left)?;
                refused.extend(self.post_isolating(right)?);
                Ok(refused)
            }
        }
    }
}

fn entry_name(entry: &Json) -> Option<String> {
    entry["name"].as_str().map(str::to_string)
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "request timed out".into()
    } else if error.is_connect() {
        "cannot connect to Librato".into()
    } else {
        // reqwest's message names the URL, never the credentials (they are a header).
        error.to_string()
    }
}

fn classify(response: Response) -> Result<Posted, DeliveryError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| zibrato_worker::retry_after(v, SystemTime::now()));
    // Librato's answers are small; read at most 64 KiB of one (a huge or endless body
    // must not cost memory), keep 500 characters for the log, trust none of it.
    let mut body = Vec::new();
    let _ = std::io::Read::take(response, 64 * 1024).read_to_end(&mut body);
    let text: String = String::from_utf8_lossy(&body).chars().take(500).collect();
    match status {
        s if s.is_success() => Ok(Posted::Accepted),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(DeliveryError::Fatal {
            reason: format!(
                "Librato refused the credentials ({status}); check --username and the API token"
            ),
        }),
        StatusCode::TOO_MANY_REQUESTS => Err(DeliveryError::Retry {
            reason: format!("rate limited ({status})"),
            after: retry_after,
        }),
        StatusCode::BAD_REQUEST => Ok(Posted::Refused(text)),
        s if s.is_server_error() => Err(DeliveryError::Retry {
            reason: format!("Librato answered {status}"),
            after: retry_after,
        }),
        _ => Ok(Posted::Dropped(format!("{status}: {text}"))),
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Backend for Librato {
    fn name(&self) -> &str {
        "librato"
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        if self.settings.dry_run {
            return Ok(());
        }
        let response = self
            .client
            .get(&self.settings.api_url)
            .query(&[("length", "1")])
            .header(AUTHORIZATION, &self.authorization)
            .send()
            .map_err(|e| DeliveryError::Retry {
                reason: describe(&e),
                after: None,
            })?;
        match classify(response)? {
            Posted::Accepted => Ok(()),
            Posted::Refused(text) | Posted::Dropped(text) => Err(DeliveryError::Retry {
                reason: format!("credentials check answered {text}"),
                after: None,
            }),
        }
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        let measure_time = window.measure_time;
        if now_seconds().saturating_sub(measure_time) > self.settings.max_age.as_secs() {
            let rejected = window.series.len();
            warn!(
                measure_time,
                series = rejected,
                "window is older than Librato accepts; dropped"
            );
            window.series.clear();
            return Ok(Delivered {
                accepted: 0,
                rejected,
            });
        }
        let mut delivered = Delivered::default();
        // Quarantined names are not sent again.
        let before = window.series.len();
        let quarantined = &self.quarantined;
        window.series.retain(|s| !quarantined.contains(&*s.name));
        delivered.rejected += before - window.series.len();

        // Group whole series into requests of at most batch_size entries and 1 MB.
        while !window.series.is_empty() {
            let mut groups: Vec<Vec<Json>> = Vec::new();
            let mut count = 0;
            let mut bytes = 0;
            for series in &window.series {
                let more = entries(series, measure_time, &mut self.names);
                let more_bytes: usize = more.iter().map(|e| e.to_string().len() + 1).sum();
                let fits = count + more.len() <= self.settings.batch_size.max(1)
                    && bytes + more_bytes + 16 <= MAX_BODY_BYTES;
                if !groups.is_empty() && !fits {
                    break;
                }
                bytes += more_bytes;
                count += more.len();
                groups.push(more);
            }
            let request: Vec<Json> = groups.iter().flatten().cloned().collect();
            let refused = self.post_isolating(&request)?;
            // What was posted is done, accepted or refused; a retry sends only the rest.
            let sent: Vec<_> = window.series.drain(..groups.len()).collect();
            for (series, group) in sent.iter().zip(&groups) {
                let names: Vec<String> = group.iter().filter_map(entry_name).collect();
                if names.iter().any(|n| refused.contains(n)) {
                    self.quarantined.insert(series.name.to_string());
                    delivered.rejected += 1;
                } else {
                    delivered.accepted += 1;
                }
            }
        }
        if delivered.rejected > 0 {
            info!(
                rejected = delivered.rejected,
                "series refused by Librato this window"
            );
        }
        Ok(delivered)
    }
}
