//! What every Zibrato process shares, written once: publisher identities,
//! rate-limited warnings and self-metrics encoded as ordinary Zibrato frames, used by
//! the client library and the daemons alike; and, for the daemons (the broker and the
//! workers), logging, shutdown on signals and exit on a panic, so that they log, stop
//! and report about themselves the same way:
//!
//! ```no_run
//! use zibrato_common::{Shutdown, init_logging};
//!
//! init_logging("info").expect("a valid log filter");
//! let shutdown = Shutdown::install().expect("signal handlers");
//! while !shutdown.is_requested() {
//!     // poll sockets with a short timeout, do the work
//! #   break;
//! }
//! ```

//!
//! # Features
//!
//! * `daemon` (default): [`init_logging`], [`Shutdown`], [`exit_on_panic`] and the
//!   [`exit`] statuses. Without it the crate has
//!   no dependency but the wire format, for libraries that only publish self-metrics.

#[cfg(feature = "zmq")]
pub mod curve;
mod drain;
#[cfg(feature = "daemon")]
pub mod exit;
mod identity;
#[cfg(feature = "daemon")]
mod logging;
#[cfg(feature = "zmq")]
mod monitor;
#[cfg(feature = "daemon")]
mod panic;
mod ratelimit;
#[cfg(feature = "daemon")]
mod reload;
#[cfg(feature = "daemon")]
mod shutdown;
mod telemetry;
mod time;
mod values;

pub use drain::Drain;
pub use identity::{now_us, random_publisher_id};
#[cfg(feature = "daemon")]
pub use logging::{LoggingError, embed_logging, init_logging};
#[cfg(feature = "zmq")]
pub use monitor::SocketMonitor;
#[cfg(feature = "daemon")]
pub use panic::exit_on_panic;
pub use ratelimit::RateLimiter;
#[cfg(feature = "daemon")]
pub use reload::Reload;
#[cfg(feature = "daemon")]
pub use shutdown::Shutdown;
pub use telemetry::{SELF_METRICS_LEVEL, Telemetry};
pub use time::later;
#[cfg(feature = "daemon")]
pub use values::host_name;
pub use values::{SecondsError, is_loopback_host, parse_seconds};
