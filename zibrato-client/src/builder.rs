//! Configuring and building a client.

#[cfg(feature = "zmq")]
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::Inner;
use crate::link::Link;
#[cfg(feature = "zmq")]
use crate::link::{LinkOptions, ZmqLink};
use crate::publisher::{Publisher, Settings};
use crate::registry::Registry;
use crate::shared::Shared;
use crate::{Error, Spy, Zibrato};

/// What to do when a buffer is full.
///
/// Two buffers can fill: the recording thread's own buffer (when the publisher thread
/// cannot keep up with the rate of recording) and the publisher's backlog of frames
/// (when the broker is away or slower than the application). Every measurement a policy
/// drops is counted in [`ClientStats`](crate::ClientStats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop what does not fit: the new measurement, or the newest frame. Recording
    /// never waits. The default.
    #[default]
    DropNewest,
    /// Keep the newest frames: the backlog drops its oldest frames to make room. A full
    /// per-thread buffer still drops the new measurement, since only the publisher may
    /// take from a thread's buffer.
    DropOldest,
    /// Wait up to this long for room: a full thread buffer makes the recording call
    /// wait, and a full backlog stops the publisher taking from thread buffers (so
    /// recording calls wait in turn). What still does not fit is dropped.
    /// `Duration::MAX` waits as long as it takes.
    Block(Duration),
}

#[derive(Debug, Clone)]
enum SinkKind {
    Zmq,
    Noop,
    Spy(Spy),
}

/// Configures a [`Zibrato`] client. Every setting has a default that suits a service
/// on the same host as its broker.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use zibrato_client::{OverflowPolicy, Zibrato};
///
/// let z = Zibrato::builder()
///     .host("127.0.0.1")
///     .port(5550)
///     .source("web-1")
///     .linger(Duration::from_millis(5))
///     .max_backlog_bytes(16 << 20)
///     .overflow(OverflowPolicy::DropOldest)
///     .build()?;
/// # Ok::<(), zibrato_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    host: String,
    port: u16,
    #[cfg(feature = "zmq")]
    context: Option<zmq::Context>,
    /// The secret certificate's path and the broker's public key, for CURVE.
    #[cfg(feature = "zmq")]
    curve: Option<(std::path::PathBuf, String)>,
    source: Option<String>,
    linger: Duration,
    max_frame_bytes: usize,
    max_backlog_bytes: usize,
    thread_buffer: usize,
    overflow: OverflowPolicy,
    close_timeout: Duration,
    max_series: usize,
    connect_grace: Duration,
    level_grace: Duration,
    stats_interval: Duration,
    sink: SinkKind,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("source", &self.source)
            .field("linger", &self.linger)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_backlog_bytes", &self.max_backlog_bytes)
            .field("thread_buffer", &self.thread_buffer)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            host: "127.0.0.1".into(),
            port: 5550,
            #[cfg(feature = "zmq")]
            context: None,
            #[cfg(feature = "zmq")]
            curve: None,
            source: None,
            linger: Duration::from_millis(10),
            max_frame_bytes: 64 * 1024,
            max_backlog_bytes: 8 << 20,
            thread_buffer: 8192,
            overflow: OverflowPolicy::DropNewest,
            close_timeout: Duration::from_secs(1),
            max_series: 100_000,
            connect_grace: Duration::from_millis(250),
            level_grace: Duration::from_secs(30),
            stats_interval: Duration::from_secs(10),
            sink: SinkKind::Zmq,
        }
    }
}

impl Builder {
    /// The broker's host: an address or a name that resolves (default `127.0.0.1`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The broker's publisher port (default 5550).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Connects with CURVE (encrypted, and authenticated both ways) to a broker that
    /// has keys: `secret_file` is this program's secret certificate (from
    /// `zibrato-broker keygen`, readable by its owner only; its public certificate goes
    /// to the broker's `--curve-allow`), `server_key` the broker's public key, as its 40
    /// Z85 characters or its public certificate's path. Read by
    /// [`build`](Self::build), which fails with [`Error::Keys`] when they cannot be used.
    /// A broker on this host needs none: run one with `--upstream` to cross hosts.
    #[cfg(feature = "zmq")]
    pub fn curve(
        mut self,
        secret_file: impl Into<std::path::PathBuf>,
        server_key: impl Into<String>,
    ) -> Self {
        self.curve = Some((secret_file.into(), server_key.into()));
        self
    }

    /// An existing ZeroMQ context to create the socket in (the original's `context=`).
    /// Only with the `zmq` feature.
    #[cfg(feature = "zmq")]
    pub fn context(mut self, context: zmq::Context) -> Self {
        self.context = Some(context);
        self
    }

    /// The source of measurements recorded without one (default: none, which workers
    /// read as `not_specified`). Also the source of the client's self-metrics.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// How long a frame may wait for more measurements before it is sent (default
    /// 10 ms). Shorter means fresher data and more, smaller frames.
    ///
    /// Every duration the client takes may be as long as `Duration::MAX`, which means
    /// "no deadline": nothing overflows and nothing panics.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Largest frame to send, in bytes (default 65 536; 4 096 to 1 048 576). Keep it at
    /// or below the broker's `--max-frame-bytes`.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// Most bytes of frames held while the broker is away or slow (default 8 MiB). It
    /// also sizes ZeroMQ's queue: `max_backlog_bytes / max_frame_bytes` frames.
    pub fn max_backlog_bytes(mut self, bytes: usize) -> Self {
        self.max_backlog_bytes = bytes;
        self
    }

    /// Measurements each recording thread may buffer (default 8 192, 16 bytes each).
    pub fn thread_buffer(mut self, measurements: usize) -> Self {
        self.thread_buffer = measurements;
        self
    }

    /// What to do when a buffer is full (default [`OverflowPolicy::DropNewest`]).
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// How long dropping the last handle may wait to deliver what is held (default 1 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Most distinct series (kind, level, name, source) the client tracks (default
    /// 100 000); recordings of further series are rejected and counted.
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max;
        self
    }

    /// How long after connecting the client waits for the broker's subscriptions
    /// before it filters levels nobody wants (default 250 ms). Frames recorded before
    /// and during this time wait in the backlog, so none are lost to ZeroMQ's "slow
    /// joiner" problem.
    pub fn connect_grace(mut self, grace: Duration) -> Self {
        self.connect_grace = grace;
        self
    }

    /// How long a level keeps being batched and held after its last subscriber went
    /// away — a worker restarting, or the broker (default 30 s, long enough for a
    /// supervised restart). Its frames wait in the backlog (within
    /// [`max_backlog_bytes`](Self::max_backlog_bytes)) and are sent when a subscriber
    /// returns; past the grace they are counted as filtered, and a level nobody ever
    /// subscribed to is filtered at once.
    pub fn level_grace(mut self, grace: Duration) -> Self {
        self.level_grace = grace;
        self
    }

    /// How often the client publishes its own counters on the level `zibrato`
    /// (default 10 s).
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.stats_interval = interval;
        self
    }

    /// Builds a client whose frames go nowhere: for programs that want the API without
    /// a pipeline. Every other setting still applies.
    pub fn noop(mut self) -> Self {
        self.sink = SinkKind::Noop;
        self
    }

    /// Builds a client whose frames are decoded into `spy` instead of sent.
    pub fn spy(mut self, spy: Spy) -> Self {
        self.sink = SinkKind::Spy(spy);
        self
    }

    /// Resolves the host, connects (in the background: the broker need not be up) and
    /// starts the publisher thread.
    ///
    /// # Errors
    ///
    /// [`Error::Resolve`] for a host that does not resolve, [`Error::Endpoint`] for an
    /// endpoint ZeroMQ refuses, [`Error::Config`] for an out-of-range setting, and
    /// [`Error::Zmq`] or [`Error::Spawn`] if the socket or thread cannot be made.
    pub fn build(self) -> Result<Zibrato, Error> {
        self.check()?;
        let link = match &self.sink {
            #[cfg(not(feature = "zmq"))]
            SinkKind::Zmq => return Err(Error::NoTransport),
            #[cfg(feature = "zmq")]
            SinkKind::Zmq => {
                let address = resolve(&self.host, self.port)?;
                if !address.ip().is_loopback() {
                    // Said once, when the client is built.
                    tracing::info!(
                        broker = %address,
                        "the broker is on another host: frames to it are not acknowledged, so a link that fails loses what is in flight; run a broker on this host with --upstream for frames that are"
                    );
                }
                let endpoint = match address.ip() {
                    IpAddr::V4(ip) => format!("tcp://{ip}:{}", self.port),
                    IpAddr::V6(ip) => format!("tcp://[{ip}]:{}", self.port),
                };
                let keys = match &self.curve {
                    None => None,
                    Some((secret, server)) => Some((
                        zibrato_common::curve::KeyPair::from_secret_file(secret)
                            .map_err(Error::Keys)?,
                        zibrato_common::curve::PublicKey::parse(server).map_err(Error::Keys)?,
                    )),
                };
                let options = LinkOptions {
                    hwm: (self.max_backlog_bytes / self.max_frame_bytes)
                        .clamp(16, i32::MAX as usize) as i32,
                    grace: self.connect_grace,
                    ipv6: address.is_ipv6(),
                    keys,
                };
                let context = self.context.clone().unwrap_or_default();
                Link::Zmq(ZmqLink::connect(context, &endpoint, &options)?)
            }
            SinkKind::Noop => Link::Noop,
            SinkKind::Spy(spy) => Link::Spy(spy.clone()),
        };
        let id = zibrato_common::random_publisher_id();
        let shared = Arc::new(Shared::new(
            id,
            Registry::new(self.max_series),
            self.thread_buffer,
            self.overflow,
        ));
        let settings = Settings {
            linger: self.linger,
            max_frame_bytes: self.max_frame_bytes,
            max_backlog_bytes: self.max_backlog_bytes,
            close_timeout: self.close_timeout,
            level_grace: self.level_grace,
            stats_interval: self.stats_interval,
            source: self.source.clone(),
        };
        let publisher = Publisher::new(Arc::clone(&shared), link, settings);
        let thread = std::thread::Builder::new()
            .name("zibrato-publisher".into())
            .spawn(move || publisher.run())
            .map_err(Error::Spawn)?;
        let inner = Arc::new(Inner {
            shared,
            thread: Mutex::new(Some(thread)),
        });
        let source = self.source.as_deref().map(Arc::from);
        Ok(Zibrato::from_parts(inner, source))
    }

    fn check(&self) -> Result<(), Error> {
        if !(4096..=zibrato_wire::limits::MAX_FRAME_LEN).contains(&self.max_frame_bytes) {
            return Err(Error::Config(format!(
                "max_frame_bytes {} is outside 4096..=1048576",
                self.max_frame_bytes
            )));
        }
        if self.max_backlog_bytes < self.max_frame_bytes {
            return Err(Error::Config(format!(
                "max_backlog_bytes {} is smaller than one frame ({})",
                self.max_backlog_bytes, self.max_frame_bytes
            )));
        }
        if self.thread_buffer == 0 {
            return Err(Error::Config(
                "thread_buffer must hold at least one measurement".into(),
            ));
        }
        if let Some(source) = &self.source {
            zibrato_wire::validate_name(source).map_err(|e| Error::InvalidName {
                name: source.clone(),
                source: e,
            })?;
        }
        Ok(())
    }
}

#[cfg(feature = "zmq")]
fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::Resolve {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| Error::Resolve {
            host: host.to_string(),
            reason: "no address".into(),
        })
}
