//! The Librato backend: batches, posts, isolates refused measurements, retries.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Client;
use reqwest::header::CONTENT_TYPE;
use tracing::{info, warn};
use zibrato_common::RateLimiter;
use zibrato_worker::{Backend, Delivered, DeliveryError, Window};

use crate::Secret;
use crate::answer::{Answer, classify};
use crate::holds::Holds;
use crate::names::Sanitizer;
use crate::payload::body;
use crate::plan::Plan;

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
    /// How long a (name, source) pair refused twice within an hour is held back (not
    /// sent); zero never holds.
    pub refusal_hold: Duration,
    /// Print the JSON instead of posting it.
    pub dry_run: bool,
}

/// The HTTP client could not be built (its TLS set-up failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[source] reqwest::Error);

/// Posts windows to Librato.
pub struct Librato {
    settings: Settings,
    client: Client,
    names: Sanitizer,
    holds: Holds,
    refusal_log: RateLimiter,
    collision_log: RateLimiter,
}

/// What posting some entries (and splitting them on refusal) found.
enum Posted {
    /// These entries (indices into the plan) were refused; the rest accepted.
    Refused(Vec<usize>),
    /// The window's `measure_time` was refused.
    Stale(String),
}

impl Librato {
    /// A backend with these settings.
    ///
    /// # Errors
    ///
    /// [`ClientError`] if the HTTP client cannot be built.
    pub fn new(settings: Settings) -> Result<Librato, ClientError> {
        let client = Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("zibrato/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError)?;
        Ok(Librato {
            holds: Holds::new(settings.refusal_hold),
            settings,
            client,
            names: Sanitizer::default(),
            refusal_log: RateLimiter::new(Duration::from_secs(10)),
            collision_log: RateLimiter::new(Duration::from_secs(10)),
        })
    }

    fn post(
        &self,
        plan: &Plan,
        entries: &[usize],
        measure_time: u64,
    ) -> Result<Answer, DeliveryError> {
        let body = body(entries.iter().map(|&e| &plan.entries[e]), measure_time);
        if self.settings.dry_run {
            println!("{body}");
            return Ok(Answer::Accepted);
        }
        let response = self
            .client
            .post(&self.settings.api_url)
            .basic_auth(&self.settings.username, Some(self.settings.token.expose()))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .map_err(|e| DeliveryError::retry(describe(&e), None))?;
        classify(response)
    }

    /// Posts `entries`; on a refusal that blames the entries, splits them until each
    /// refused one stands alone. A refused entry is dropped from this window only; its
    /// (name, source) pair is held back for `--refusal-hold` if it was refused within
    /// the hour before.
    fn post_isolating(
        &mut self,
        plan: &Plan,
        entries: &[usize],
        measure_time: u64,
    ) -> Result<Posted, DeliveryError> {
        match self.post(plan, entries, measure_time)? {
            Answer::Accepted => Ok(Posted::Refused(Vec::new())),
            Answer::Stale(reason) => Ok(Posted::Stale(reason)),
            Answer::Dropped(reason) => {
                warn!(%reason, entries = entries.len(), "Librato refused a request in a way no retry can fix; its measurements are dropped");
                Ok(Posted::Refused(entries.to_vec()))
            }
            Answer::Refused(reason) if entries.len() == 1 => {
                let entry = &plan.entries[entries[0]];
                let held = self.holds.refused(entry.key(), Instant::now());
                if let Some(suppressed) = self.refusal_log.check() {
                    warn!(
                        name = %entry.name,
                        source = entry.source.as_deref().unwrap_or(""),
                        measure_time,
                        %reason,
                        held_for = ?held.then_some(self.settings.refusal_hold),
                        suppressed,
                        "Librato refused a measurement; dropped from this window"
                    );
                }
                Ok(Posted::Refused(entries.to_vec()))
            }
            Answer::Refused(_) => {
                let (left, right) = entries.split_at(entries.len() / 2);
                let mut refused = match self.post_isolating(plan, left, measure_time)? {
                    Posted::Refused(refused) => refused,
                    stale => return Ok(stale),
                };
                match self.post_isolating(plan, right, measure_time)? {
                    Posted::Refused(more) => refused.extend(more),
                    stale => return Ok(stale),
                }
                Ok(Posted::Refused(refused))
            }
        }
    }

    /// The requests of a plan: whole groups, at most `--batch-size` entries (a group
    /// larger than that alone) and 1 MB each; entries not to send are left out.
    fn requests(
        &self,
        plan: &Plan,
        send: &[bool],
        measure_time: u64,
    ) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut requests = Vec::new();
        let (mut entries, mut groups, mut bytes) = (Vec::new(), Vec::new(), 0);
        for (g, group) in plan.groups.iter().enumerate() {
            let more: Vec<usize> = group.iter().copied().filter(|&e| send[e]).collect();
            let more_bytes: usize = more
                .iter()
                .map(|&e| plan.entries[e].to_json(measure_time).to_string().len() + 1)
                .sum();
            let fits = entries.len() + more.len() <= self.settings.batch_size.max(1)
                && bytes + more_bytes + 16 <= MAX_BODY_BYTES;
            if !groups.is_empty() && !fits {
                requests.push((std::mem::take(&mut entries), std::mem::take(&mut groups)));
                bytes = 0;
            }
            bytes += more_bytes;
            entries.extend(more);
            groups.push(g);
        }
        if !groups.is_empty() {
            requests.push((entries, groups));
        }
        requests
    }
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

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Per series of a window: whether it is finished with, and whether any of its entries
/// was refused or dropped.
struct Progress {
    done: Vec<bool>,
    refused: Vec<bool>,
}

impl Progress {
    /// Removes the finished series from the window; returns their count.
    fn take_done(&self, window: &mut Window) -> Delivered {
        let mut delivered = Delivered::default();
        let mut index = 0;
        window.series.retain(|_| {
            let keep = !self.done[index];
            if !keep {
                if self.refused[index] {
                    delivered.rejected += 1;
                } else {
                    delivered.accepted += 1;
                }
            }
            index += 1;
            keep
        });
        delivered
    }
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
            .basic_auth(&self.settings.username, Some(self.settings.token.expose()))
            .send()
            .map_err(|e| DeliveryError::retry(describe(&e), None))?;
        match classify(response)? {
            Answer::Accepted => Ok(()),
            Answer::Refused(text) | Answer::Stale(text) | Answer::Dropped(text) => Err(
                DeliveryError::retry(format!("credentials check answered {text}"), None),
            ),
        }
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        let measure_time = window.measure_time;
        if now_seconds().saturating_sub(measure_time) > self.settings.max_age.as_secs() {
            warn!(
                measure_time,
                series = window.series.len(),
                max_age = ?self.settings.max_age,
                "window is older than Librato accepts; dropped"
            );
            let mut delivered = Delivered::default();
            delivered.rejected += window.series.len();
            delivered.expired = true;
            window.series.clear();
            return Ok(delivered);
        }
        // A fixed order, so which of two colliding series is kept does not vary:
        // counters first (a count lost costs more than a reading), then gauges, then
        // timers; by name, source and level within a kind.
        window.series.sort_by(|a, b| {
            (a.kind, &a.name, &a.source, &a.level).cmp(&(b.kind, &b.name, &b.source, &b.level))
        });
        let plan = Plan::build(&window.series, &mut self.names, &mut self.collision_log);
        let count = window.series.len();
        let mut progress = Progress {
            done: vec![true; count],
            refused: vec![false; count],
        };
        for owners in &plan.owners {
            for &o in owners {
                progress.done[o] = false;
            }
        }
        for &c in &plan.collided {
            progress.refused[c] = true;
        }
        let now = Instant::now();
        let send: Vec<bool> = plan
            .entries
            .iter()
            .zip(&plan.owners)
            .map(|(entry, owners)| {
                let ok = entry.is_finite() && !self.holds.is_held(&entry.key(), now);
                if !ok {
                    owners.iter().for_each(|&o| progress.refused[o] = true);
                }
                ok
            })
            .collect();
        for (entries, groups) in self.requests(&plan, &send, measure_time) {
            let outcome = if entries.is_empty() {
                Ok(Posted::Refused(Vec::new()))
            } else {
                self.post_isolating(&plan, &entries, measure_time)
            };
            match outcome {
                Err(error) => {
                    return Err(error.with_delivered(progress.take_done(window)));
                }
                Ok(Posted::Stale(reason)) => {
                    let mut delivered = progress.take_done(window);
                    warn!(
                        measure_time,
                        series = window.series.len(),
                        %reason,
                        "Librato refuses this window's measure_time (too far in the past after an outage, or a clock far off); the window is dropped"
                    );
                    delivered.rejected += window.series.len();
                    delivered.expired = true;
                    window.series.clear();
                    return Ok(delivered);
                }
                Ok(Posted::Refused(refused)) => {
                    for e in refused {
                        plan.owners[e]
                            .iter()
                            .for_each(|&o| progress.refused[o] = true);
                    }
                    for g in groups {
                        for &e in &plan.groups[g] {
                            plan.owners[e].iter().for_each(|&o| progress.done[o] = true);
                        }
                    }
                }
            }
        }
        let delivered = progress.take_done(window);
        if delivered.rejected > 0 {
            info!(
                rejected = delivered.rejected,
                "series with a measurement refused or held back this window"
            );
        }
        Ok(delivered)
    }
}
