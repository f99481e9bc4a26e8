//! The Zibrato broker: publishers connect to its XSUB port, workers to its XPUB port.
//!
//! Every frame is validated with the wire decoder before it is forwarded, so nothing
//! malformed reaches a worker; what is dropped is counted per reason and logged at a
//! bounded rate. Workers' subscriptions are forwarded to the publishers, so a level no
//! worker wants is dropped inside the publishing process, before the network.
//!
//! The binary `zibrato-broker` is the usual way to run it; this library holds its
//! parts so tests, benchmarks and the fuzzers use exactly the code the daemon runs.
//!
//! # Self-metrics
//!
//! Every `--stats-interval` seconds (and once at shutdown) the broker publishes a
//! frame on the level `zibrato` with these series (source: `--source`, by default the
//! host name). Counters carry the increase since the previous frame:
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `zibrato.broker.frames_in` | counter | messages received from publishers |
//! | `zibrato.broker.measurements_in` | counter | measurements in valid frames received |
//! | `zibrato.broker.frames_out` | counter | frames forwarded |
//! | `zibrato.broker.measurements_out` | counter | measurements forwarded |
//! | `zibrato.broker.dropped.not_zibrato` | counter | frames without a topic, with a bad level or magic |
//! | `zibrato.broker.dropped.unknown_version` | counter | frames of another format version |
//! | `zibrato.broker.dropped.malformed` | counter | frames that fail validation |
//! | `zibrato.broker.dropped.multipart` | counter | messages of more than one part |
//! | `zibrato.broker.dropped.oversized` | counter | frames over `--max-frame-bytes` (and device stream records over 64 KiB) |
//! | `zibrato.broker.dropped.bad_framing` | counter | device stream records that are not valid COBS |
//! | `zibrato.broker.send_failures` | counter | frames ZeroMQ would not queue |
//! | `zibrato.broker.subscription_changes` | counter | subscribe/unsubscribe messages from workers |
//! | `zibrato.broker.publisher_connections` | counter | publisher connections accepted |
//! | `zibrato.broker.publisher_disconnections` | counter | publisher connections closed (ZeroMQ also closes those that send a frame over `--max-frame-bytes`) |
//! | `zibrato.broker.workers_connected` | gauge | workers connected now |

mod accept;
pub mod cli;
pub mod config;
mod error;
mod forwarder;
mod grace;
pub mod ingress;
mod interest;
mod outbox;
mod relay;
mod report;
mod route;
mod sockets;
mod stop;
mod subscriptions;
mod telemetry;
mod topics;

pub use accept::{Accepted, DropReason, accept};
pub use config::Config;
pub use error::BrokerError;
pub use forwarder::Broker;
pub use outbox::Tally;
pub use stop::Stopped;
pub use telemetry::{BrokerStats, Outcome};
