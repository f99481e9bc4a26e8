//! What can stop the broker from starting or running.

/// A failure that ends the broker with a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A setting the command line would have refused.
    #[error("{setting}: {reason}")]
    Options {
        /// The setting (a field of `BrokerOptions`).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process holds the port.
    #[error("port {port} is in use on {host} ({role} port)")]
    PortInUse {
        /// The address.
        host: String,
        /// The port.
        port: u16,
        /// `publisher` or `worker`.
        role: &'static str,
    },
    /// The address cannot be bound for another reason.
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The ZeroMQ endpoint.
        endpoint: String,
        /// ZeroMQ's error.
        source: zmq::Error,
    },
    /// The upstream broker's endpoint is refused by ZeroMQ.
    #[error("cannot connect to upstream {endpoint}: {source}")]
    Upstream {
        /// The endpoint given with `--upstream`.
        endpoint: String,
        /// ZeroMQ's error.
        source: zmq::Error,
    },
    /// A device ingress (`--udp`, `--stream`) cannot start.
    #[error("cannot {what}: {reason}")]
    Ingress {
        /// What the broker was doing.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A port other hosts can reach, or a link to another host, without keys and
    /// without `--insecure`.
    #[error(
        "refusing to {what} without keys: anyone who reaches it could publish any level and read every one, and measurements would cross the network in plain text. Give --curve-secret-file and --curve-allow (make keys with `zibrato-broker keygen NAME`), with --upstream-key for an upstream, or say --insecure"
    )]
    Insecure {
        /// What was asked.
        what: String,
    },
    /// A key file is missing, exposed or malformed, or libzmq has no CURVE.
    #[error("{0}")]
    Keys(zibrato_common::curve::KeyError),
    /// Any other ZeroMQ failure.
    #[error("zeromq failed to {action}: {source}")]
    Zmq {
        /// What the broker was doing.
        action: &'static str,
        /// ZeroMQ's error.
        source: zmq::Error,
    },
}

impl BrokerError {
    /// Wraps a ZeroMQ error with what the broker was doing.
    pub fn zmq(action: &'static str) -> impl FnOnce(zmq::Error) -> Self {
        move |source| BrokerError::Zmq { action, source }
    }
}
