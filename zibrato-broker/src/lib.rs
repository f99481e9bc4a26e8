//! The Zibrato broker: publishers connect to its XSUB port, workers to its XPUB port.
//!
//! Every frame is validated with the wire decoder before it is forwarded, so nothing
//! malformed reaches a worker; what is dropped is counted per reason and logged at a
//! bounded rate. Workers' subscriptions are forwarded to the publishers, so a level no
//! worker wants is dropped inside the publishing process, before the network. Brokers
//! link to each other over acknowledged relay links (`--upstream`, the relay port):
//! nothing is lost when the link between two hosts fails.
//!
//! The binary `zibrato-broker` is the usual way to run it; this library holds its
//! parts so tests, benchmarks and the fuzzers use exactly the code the daemon runs.
//!
//! # Self-metrics
//!
//! Every `--stats-interval` seconds (and once at shutdown) the broker publishes a
//! frame on the level `zibrato` with these series (source: `--source`, by default the
//! host name). Counters carry the increase since the previous frame; each counter of a
//! destination also has a `.measurements` twin.
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `zibrato.broker.frames_in` | counter | messages received from publishers, devices and linked brokers |
//! | `zibrato.broker.accepted` | counter | valid frames taken in (`.measurements`: the measurements in them) |
//! | `zibrato.broker.dropped.not_zibrato` | counter | frames without a topic, with a bad level or magic |
//! | `zibrato.broker.dropped.unknown_version` | counter | frames of another format version |
//! | `zibrato.broker.dropped.malformed` | counter | frames that fail validation |
//! | `zibrato.broker.dropped.multipart` | counter | messages of more than one part |
//! | `zibrato.broker.dropped.oversized` | counter | frames over `--max-frame-bytes` (and device stream records over 64 KiB) |
//! | `zibrato.broker.dropped.bad_framing` | counter | device stream records that are not valid COBS |
//! | `zibrato.broker.dropped.duplicate` | counter | frames a linked broker sent again that this broker already had |
//! | `zibrato.broker.{workers,upstream,relays}.offered` | counter | valid frames routed towards the destination |
//! | `zibrato.broker.{…}.delivered` | counter | handed to the workers' socket; acknowledged by a linked broker |
//! | `zibrato.broker.{…}.unwanted` | counter | wanted by nobody there, now or within the grace (not a loss) |
//! | `zibrato.broker.{…}.expired` | counter | held for subscribers that did not return within `--grace` |
//! | `zibrato.broker.{…}.dropped_full` | counter | dropped at `--max-held-bytes` / `--max-replay-bytes` |
//! | `zibrato.broker.{…}.dropped_at_shutdown` | counter | still waiting when the broker stopped |
//! | `zibrato.broker.relays.dropped_gone` | counter | kept for a linked broker forgotten after `--relay-expiry` |
//! | `zibrato.broker.{…}.send_failures` | counter | refused by ZeroMQ |
//! | `zibrato.broker.{…}.pending` | gauge | held or waiting for acknowledgement now |
//! | `zibrato.broker.relay_frames_in` | counter | frames received from linked brokers (duplicates included) |
//! | `zibrato.broker.relay_gaps` | counter | frames a linked broker numbered but dropped before sending |
//! | `zibrato.broker.relay_refused` | counter | relay messages that broke the protocol, links refused past `--max-relays` |
//! | `zibrato.broker.subscription_changes` | counter | subscribe/unsubscribe messages from workers |
//! | `zibrato.broker.subscriptions_refused` | counter | subscriptions refused (malformed, or past `--max-subscriptions`) |
//! | `zibrato.broker.publisher_connections` | counter | publisher connections accepted |
//! | `zibrato.broker.publisher_disconnections` | counter | publisher connections closed (ZeroMQ also closes those that send a frame over the format's limit) |
//! | `zibrato.broker.workers_connected` | gauge | workers connected now |
//! | `zibrato.broker.subscriptions` | gauge | topics the workers subscribe to now |
//! | `zibrato.broker.relays_linked`, `.relays_connected` | gauge | brokers linked to this one's relay port, and of them connected now |
//! | `zibrato.broker.upstream_up` | gauge | 1 while the `--upstream` link is up |
//! | `zibrato.broker.curve_refused.{publishers,workers,relays}` | counter | peers refused: their CURVE key is not in `--curve-allow` |
//! | `zibrato.broker.handshake_failed.{…}` | counter | handshakes that failed (no key, a wrong key for this broker) |
//! | `zibrato.broker.dropped.revoked` | counter | frames from connections whose key was revoked (SIGHUP) |
//! | `zibrato.broker.statsd.datagrams`, `.lines`, `.measurements` | counter | what the statsd ingress took |
//! | `zibrato.broker.statsd.refused.{unparsable,bad_name,bad_value,unsupported,too_long}` | counter | statsd lines refused, by reason |
//! | `zibrato.broker.statsd.keys_forgotten` | counter | names forgotten to stay within `--statsd-max-keys` |
//! | `zibrato.broker.statsd.kernel_dropped` | counter | datagrams the kernel dropped at the UDP socket, its receive buffer full |
//!
//! For each destination, `offered = delivered + unwanted + expired + dropped_full +
//! dropped_at_shutdown + dropped_gone + send_failures + pending` ([`Outcome`]).

mod accept;
pub mod cli;
pub mod config;
mod error;
mod forwarder;
mod grace;
pub mod ingress;
mod intake;
mod interest;
mod keys;
mod options;
mod outbox;
mod relay;
mod report;
mod route;
mod security;
mod sockets;
pub mod statsd;
mod stop;
mod subscriptions;
mod telemetry;
mod topics;
mod zap;

pub use accept::{Accepted, DropReason, accept};
pub use config::BrokerArgs;
pub use error::BrokerError;
pub use forwarder::Broker;
pub use options::BrokerOptions;
pub use outbox::Tally;
pub use stop::Stopped;
pub use telemetry::{BrokerStats, Outcome, StatsdStats};
