//! Errors a caller of the client can see.

use std::time::Duration;

/// What went wrong, with the facts to find the culprit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker's host name does not resolve to an address.
    #[error("cannot resolve host {host:?}: {reason}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why resolution failed.
        reason: String,
    },
    /// ZeroMQ refuses the endpoint built from the host and port.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// ZeroMQ's error, in words.
        reason: String,
    },
    /// A level that is not 1–32 bytes of `A-Z a-z 0-9 _ - .`.
    #[error("invalid level {level:?}: {source}")]
    InvalidLevel {
        /// The level as given.
        level: String,
        /// What is wrong with it.
        source: zibrato_wire::Error,
    },
    /// A name or source that is empty, longer than 255 bytes or holds a control
    /// character.
    #[error("invalid name or source {name:?}: {source}")]
    InvalidName {
        /// The name or source as given.
        name: String,
        /// What is wrong with it.
        source: zibrato_wire::Error,
    },
    /// A gauge that is NaN or infinite.
    #[error("gauge {name:?} is not finite")]
    NonFiniteValue {
        /// The gauge's name.
        name: String,
    },
    /// The client already tracks its limit of distinct series.
    #[error(
        "the client already tracks {limit} series; raise Builder::max_series or use fewer names"
    )]
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// This thread's buffer is full: the publisher cannot keep up, and the overflow
    /// policy dropped the measurement.
    #[error("the recording buffer is full; the measurement was dropped")]
    BufferFull,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// ZeroMQ failed while setting up the publisher.
    #[error("zeromq failed to {action}: {reason}")]
    Zmq {
        /// What the client was doing.
        action: &'static str,
        /// ZeroMQ's error, in words.
        reason: String,
    },
    /// A client that sends to a broker was asked of a build without the `zmq` feature;
    /// [`Zibrato::noop`](crate::Zibrato::noop) and [`Zibrato::spy`](crate::Zibrato::spy)
    /// work without it.
    #[error(
        "this build has no ZeroMQ (the `zmq` feature of zibrato-client is off): a client can only be a no-op or a spy"
    )]
    NoTransport,
    /// The CURVE keys given to [`Builder::curve`](crate::Builder::curve) cannot be
    /// used: a file missing, readable by others or malformed, or a libzmq without
    /// CURVE.
    #[cfg(feature = "zmq")]
    #[error("CURVE keys: {0}")]
    Keys(zibrato_common::curve::KeyError),
    /// The publisher thread could not be started.
    #[error("cannot start the publisher thread: {0}")]
    Spawn(std::io::Error),
    /// A flush did not complete in time: these frames are still waiting (for the
    /// broker to come back, or for the socket to take them).
    #[error(
        "flush timed out after {timeout:?} with {frames} frames ({measurements} measurements) still queued"
    )]
    FlushTimeout {
        /// The timeout given.
        timeout: Duration,
        /// Frames still queued.
        frames: usize,
        /// Measurements in them.
        measurements: u64,
    },
    /// [`install`](crate::install) was called when a global client was already
    /// installed.
    #[error("a global Zibrato client is already installed")]
    AlreadyInstalled,
    /// `MetricsRecorder::install` was called when a `metrics` recorder was already
    /// installed (by Zibrato or another crate).
    #[error("a metrics recorder is already installed")]
    RecorderInstalled,
}
