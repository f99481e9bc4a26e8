//! The Librato worker: subscribes to levels at a Zibrato broker, aggregates each flush
//! window, and posts it to Librato's source-based `POST /v1/metrics` API.
//!
//! * Counters are posted as gauges whose `value` is the window's sum (as the original
//!   library did); gauges as `count`/`sum`/`min`/`max`/`sum_squares` summaries; timers
//!   as the same summary in seconds plus one gauge per percentile (`<name>.p50`, …).
//! * Names and sources are rewritten to Librato's alphabet (`A-Za-z0-9.:-_`, 255
//!   characters; a percentile's `.p99` suffix is kept whole), with one warning per name
//!   changed. A series published without a source is posted without one; the reserved
//!   source `all` is posted as `all_`.
//! * One key, one entry: Librato's names are case-insensitive, so entries are keyed by
//!   the case-folded name and source; counters of one key (from two levels, or two
//!   spellings) are added, summaries of one kind combined, and anything else keeps the
//!   first (counters before gauges before timers, then by name) and drops the other with a warning naming both.
//! * Requests hold at most `--batch-size` entries (300) and 1 MB. HTTP basic auth, a
//!   `zibrato/<version>` User-Agent.
//! * Refusals are read from the status and Librato's error body: a `measure_time`
//!   refusal drops that window (counted); any other 400 is split until the refused
//!   measurements stand alone, and each is dropped from that window only (counted); a
//!   (name, source) pair refused twice within an hour is held back for
//!   `--refusal-hold` (10 minutes), never for good. A 403 that speaks of a limit is
//!   retried like a 429; 401 and other 403s stop the worker. Connection errors,
//!   timeouts, 408, 429 (honouring `Retry-After`) and 5xx are retried with backoff;
//!   windows older than `--max-age` are dropped and counted rather than sent to be
//!   refused. Other 4xx are logged with Librato's answer and dropped.
//!
//! The binary's `--help` lists every flag; the README explains the credentials.
//!
//! # Example: what a counter becomes
//!
//! ```
//! use zibrato_librato::{Sanitizer, entries};
//! use zibrato_worker::{Kind, SeriesSummary, Summary};
//!
//! let series = SeriesSummary::new(
//!     "info",
//!     Kind::Counter,
//!     "api requests",
//!     "web-1",
//!     Summary::Counter { sum: 42 },
//! );
//! let json = entries(&series, &mut Sanitizer::default())[0].to_json(1_764_158_400);
//! assert_eq!(
//!     json.to_string(),
//!     r#"{"measure_time":1764158400,"name":"api_requests","source":"web-1","value":42}"#
//! );
//! ```

mod answer;
mod backend;
pub mod cli;
mod holds;
mod names;
mod payload;
mod plan;
mod secret;

pub use backend::{ClientError, Librato, MAX_BODY_BYTES, Settings};
pub use holds::MAX_HELD_PAIRS;
pub use names::{MAX_LEN, RESERVED_SOURCE, RESERVED_SOURCE_REWRITE, Sanitizer};
pub use payload::{Entry, Measure, body, entries, percentile_suffix};
pub use secret::Secret;
