//! Count, time and gauge your code for nanoseconds per call; a background thread
//! batches the measurements into compact frames and publishes them to a Zibrato
//! broker over ZeroMQ.
//!
//! # What is measured
//!
//! * A **counter** counts occurrences. Workers sum them per flush window.
//! * A **gauge** is a reading (a queue depth, a temperature). Workers keep count, sum,
//!   min, max, sum of squares and the last reading of each window.
//! * A **timer** is a duration from a monotonic clock, in nanoseconds. Workers keep the
//!   gauge summary plus percentiles.
//!
//! Every measurement has a **level** (`info`, `debug`, `crit`, … any label of 1–32
//! bytes of `A-Z a-z 0-9 _ - .`), a **name** and optionally a **source** (workers read a
//! missing source as `not_specified`). Workers subscribe to exact levels; a level no
//! worker subscribes to is dropped inside your process and costs no network. A level
//! whose workers went away (a restart) is held, within the backlog, for
//! [`Builder::level_grace`] (30 s) and sent when one returns.
//!
//! # Features
//!
//! * `zmq` (default): publishing to a broker over ZeroMQ (links libzmq). Without it,
//!   the guards, closures, macros, [`Zibrato::noop`], [`Zibrato::spy`] and the `metrics`
//!   recorder work, no ZeroMQ type is in the API, and [`Builder::build`] of a broker
//!   client returns [`Error::NoTransport`]: for a library that only instruments itself.
//! * `metrics`: `MetricsRecorder`, a
//!   `metrics::Recorder`.
//!
//! # Recording
//!
//! ```
//! use std::time::Duration;
//! use zibrato_client::Zibrato;
//!
//! # let (z, _spy) = Zibrato::spy();
//! // let z = Zibrato::new()?;  // the broker at 127.0.0.1:5550
//! z.count("info", "requests");                 // +1
//! z.count_by("info", "bytes.out", 1_500);      // +1500
//! z.gauge("info", "queue.depth", 17.0);
//! z.time("info", "render", Duration::from_micros(850));
//!
//! // Guards record when they go out of scope, like the original context managers.
//! {
//!     let _t = z.time_me("info", "db.query");
//!     let _c = z.count_me("info", "db.calls");
//!     // … the block being timed …
//! }
//!
//! // Closures, like the original decorators: the result passes through.
//! let n = z.timed("info", "parse", || 6 * 7);
//! assert_eq!(n, 42);
//!
//! // A source for a group of measurements.
//! let db = z.with_source("db-1");
//! db.count("info", "connections");
//! # Ok::<(), zibrato_client::Error>(())
//! ```
//!
//! # Kept handles for the hottest loops
//!
//! Registering a series once skips the name lookup on every call:
//!
//! ```
//! # let (z, _spy) = zibrato_client::Zibrato::spy();
//! let hits = z.register_counter("info", "cache.hits")?;
//! let latency = z.register_timer("info", "cache.latency")?;
//! hits.increment(1);
//! latency.record_ns(420);
//! # Ok::<(), zibrato_client::Error>(())
//! ```
//!
//! # Attribute macros
//!
//! With the `zibrato` crate (which re-exports this one), `#[zibrato::time_me(level =
//! "info", name = "db.query")]` and `#[zibrato::count_me(…)]` instrument a function or
//! method, sync or `async`. They record through the global client installed with
//! [`install`]; with none installed they record nothing and count what they missed in
//! [`unrecorded_without_client`].
//!
//! # What happens on errors and panics
//!
//! Guards, closures and macros record on every return, including an early `return` or
//! `?` that returns an error: the call happened and took that long. They record nothing
//! when the scope is left by a panic (the original recorded nothing when a function
//! raised). A counter or gauge of 0 is sent as 0.
//!
//! Record calls never fail and never panic. What they cannot record is counted in
//! [`Zibrato::stats`]: an invalid level or name, a NaN gauge or a series beyond the limit
//! is `rejected`; a measurement that finds its thread's buffer full is
//! `dropped_buffer_full`. The `try_*` twins ([`Zibrato::try_count_by`],
//! [`Zibrato::try_gauge`], [`Zibrato::try_time`]) return the reason as an [`Error`].
//!
//! # The publisher
//!
//! Each recording thread writes into its own bounded buffer (no lock, no allocation
//! once a series is known). A background thread drains the buffers, groups
//! measurements per level into frames of the [wire format](zibrato_wire), and sends a
//! frame when it is full or has waited [`Builder::linger`] (10 ms by default), on
//! [`Zibrato::flush`], and when the last handle is dropped (waiting at most
//! [`Builder::close_timeout`]).
//!
//! ZeroMQ's usual pitfalls are handled rather than inherited:
//!
//! * **Slow joiner.** Frames wait in the client's backlog until the connection is up
//!   and the broker's subscriptions have arrived ([`Builder::connect_grace`]); none are
//!   lost to the first moments of a connection.
//! * **Broker away.** Frames wait in a backlog bounded by [`Builder::max_backlog_bytes`];
//!   what does not fit is dropped by the [`OverflowPolicy`] and counted. Reconnection
//!   is automatic; heartbeats notice a broker that vanished without a word.
//! * **High-water marks.** ZeroMQ's queue is sized from the memory bound, and the
//!   socket reports a full queue instead of dropping silently, so every drop is
//!   counted. Once the broker is back, the counts reach workers as self-metrics on the
//!   level `zibrato` (`zibrato.client.dropped.buffer_full`, …).
//!
//! # Testing your instrumentation
//!
//! [`Zibrato::spy`] returns a client whose frames are decoded into a [`Spy`] instead of
//! sent, and [`Zibrato::noop`] one whose frames go nowhere.
//!
//! # From the original Python library
//!
//! | Python (2013) | Rust |
//! |---|---|
//! | `z = Zibrato(host='127.0.0.1', port=5550)` | `let z = Zibrato::builder().host("127.0.0.1").port(5550).build()?;` or `Zibrato::new()?` |
//! | `Zibrato(context=ctx)` | `Zibrato::builder().context(ctx).build()?` |
//! | `@z.count_me('info', 'calls')` | `#[zibrato::count_me(level = "info", name = "calls")]` |
//! | `@z.count_me('info', 'calls', value=5, source='web')` | `#[zibrato::count_me(level = "info", name = "calls", value = 5, source = "web")]` |
//! | `with z.Count_me('info', 'calls'):` | `let _g = z.count_me("info", "calls");` |
//! | `@z.time_me('info', 'db')` | `#[zibrato::time_me(level = "info", name = "db")]` |
//! | `with z.Time_me('info', 'db'):` | `let _g = z.time_me("info", "db");` |
//! | `z.gauge('info', 'depth', 17)` | `z.gauge("info", "depth", 17.0);` |
//! | `source='web'` on any call | `z.with_source("web").count(…)` |
//! | (decorating a function to get its result) | `z.counted("info", "calls", \|\| f())`, `z.timed("info", "db", \|\| f())` |

mod builder;
mod client;
mod error;
#[cfg(feature = "metrics")]
pub mod facade;
mod global;
mod guard;
mod handle;
mod link;
mod local;
mod publisher;
mod registry;
mod shared;
mod spy;
mod stats;
#[cfg(feature = "zmq")]
mod zmq_link;

pub use builder::{Builder, OverflowPolicy};
pub use client::Zibrato;
pub use error::Error;
#[cfg(feature = "metrics")]
pub use facade::{MetricsRecorder, MetricsRecorderBuilder};
pub use global::{global, install, unrecorded_without_client};
pub use guard::{CountGuard, TimeGuard};
pub use handle::{Counter, Gauge, Timer};
pub use spy::{Recorded, Spy};
pub use stats::ClientStats;
pub use zibrato_macros::{count_me, time_me};
pub use zibrato_wire::{Kind, Value};

#[doc(hidden)]
pub mod __private {
    //! Used by the code the attribute macros generate; not a public API.
    pub use crate::global::{Callsite, CallsiteGuard};
}
