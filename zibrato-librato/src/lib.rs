//! The Librato worker: subscribes to levels at a Zibrato broker, aggregates each flush
//! window, and posts it to Librato's source-based `POST /v1/metrics` API.
//!
//! * Counters are posted as gauges whose `value` is the window's sum (as the original
//!   library did); gauges as `count`/`sum`/`min`/`max`/`sum_squares` summaries; timers
//!   as the same summary in seconds plus one gauge per percentile (`<name>.p50`, …).
//! * Names and sources are rewritten to Librato's alphabet (`A-Za-z0-9.:-_`, 255
//!   characters), with one warning per name changed.
//! * Requests hold at most `--batch-size` entries (300) and 1 MB. HTTP basic auth, a
//!   `zibrato/<version>` User-Agent.
//! * A 400 is answered by splitting the request until the refused measurements are
//!   isolated; their names are quarantined (not sent again), warned about and counted,
//!   and the rest is delivered. 401/403 stop the worker. Connection errors, timeouts,
//!   429 (honouring `Retry-After`) and 5xx are retried with backoff from the worker's
//!   bounded queue; windows older than `--max-age` are dropped and counted rather than
//!   sent to be refused. Other 4xx are logged with Librato's answer and dropped.
//!
//! The binary's `--help` lists every flag; the README explains the credentials.
//!
//! # Example: what a counter becomes
//!
//! ```
//! use std::sync::Arc;
//! use zibrato_librato::{Sanitizer, entries};
//! use zibrato_worker::{Kind, SeriesSummary, Summary};
//!
//! let series = SeriesSummary {
//!     level: Arc::from("info"),
//!     kind: Kind::Counter,
//!     name: Arc::from("api requests"),
//!     source: Arc::from("web-1"),
//!     summary: Summary::Counter { sum: 42 },
//! };
//! let json = entries(&series, 1_764_158_400, &mut Sanitizer::default());
//! assert_eq!(
//!     json[0].to_string(),
//!     r#"{"measure_time":1764158400,"name":"api_requests","source":"web-1","value":42}"#
//! );
//! ```

mod backend;
mod names;
mod payload;
mod secret;

pub use backend::{Librato, MAX_BODY_BYTES, Settings};
pub use names::Sanitizer;
pub use payload::{body, entries, percentile_suffix};
pub use secret::Secret;
