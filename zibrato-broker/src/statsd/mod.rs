//! The statsd ingress (`--statsd`): statsd and DogStatsD lines over UDP or a Unix
//! datagram socket, on a thread of its own, turned into measurements in frames of the
//! ingress's own (a publisher id, per-level sequence numbers) and handed to the
//! forwarding loop, which validates and forwards them like any publisher's. It converts
//! and checks; it never aggregates (only a gauge's current value and a sampled
//! counter's fraction are kept, per name, bounded).
//!
//! The line parser is public for the fuzz target; see [`parse`].

mod drops;
mod framer;
mod keys;
mod line;

pub use line::{Line, MAX_LINE, MAX_SAMPLES, Refusal, Sample, Type, parse, sanitize};

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};
use zibrato_common::RateLimiter;
use zibrato_wire::Value;

use crate::BrokerError;
use drops::KernelDrops;
use framer::Framer;
use keys::Keys;

/// How long a measurement may wait in an open frame, and the socket for a datagram.
const LINGER: Duration = Duration::from_millis(10);

/// Where statsd lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// UDP, `HOST:PORT`.
    Udp(SocketAddr),
    /// A Unix datagram socket, `unix:///path` (as DogStatsD clients use).
    Unix(PathBuf),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{text:?}: a Unix socket is unix:///absolute/path"));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        text.parse()
            .map(Listen::Udp)
            .map_err(|_| format!("{text:?} is neither HOST:PORT (UDP) nor unix:///path"))
    }
}

/// How the ingress works.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub listen: Listen,
    /// The level of every line, unless a `level` tag picks one of `levels`.
    pub level: String,
    /// The levels a `level` tag may pick.
    pub levels: Vec<String>,
    /// The source of lines without a `source` or `host` tag.
    pub source: Option<String>,
    /// Most names remembered (gauges' current values, counters' fractions).
    pub max_keys: usize,
    /// The UDP socket's kernel receive buffer asked for, bytes.
    pub receive_buffer: usize,
    /// `--max-frame-bytes`.
    pub max_frame: usize,
}

/// What the ingress counted, read by the forwarding loop for the totals.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub datagrams: AtomicU64,
    pub lines: AtomicU64,
    pub measurements: AtomicU64,
    pub refused: [AtomicU64; Refusal::ALL.len()],
    pub keys_forgotten: AtomicU64,
    pub dropped: AtomicU64,
    pub kernel_dropped: AtomicU64,
}

/// The ingress's socket.
enum Socket {
    Udp(std::net::UdpSocket),
    Unix(UnixDatagram),
}

impl Socket {
    fn bind(listen: &Listen, receive_buffer: usize) -> Result<Socket, BrokerError> {
        let failed = |e: std::io::Error| BrokerError::Ingress {
            what: format!("listen for statsd on {listen:?}"),
            reason: e.to_string(),
        };
        let socket = match listen {
            Listen::Udp(addr) => {
                let socket = socket2::Socket::new(
                    socket2::Domain::for_address(*addr),
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )
                .map_err(failed)?;
                // A larger buffer rides out bursts; what the kernel still drops the
                // clients never learn of (they send and forget): `KernelDrops` counts it.
                let _ = socket.set_recv_buffer_size(receive_buffer);
                // Linux reports twice what it grants (the other half is its overhead)
                // and grants at most net.core.rmem_max.
                let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
                info!(
                    asked = receive_buffer,
                    granted, "statsd receive buffer (the kernel grants at most net.core.rmem_max)"
                );
                socket.bind(&(*addr).into()).map_err(failed)?;
                Socket::Udp(socket.into())
            }
            Listen::Unix(path) => {
                // A socket file left by an earlier run would refuse the bind.
                use std::os::unix::fs::FileTypeExt;
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    let _ = std::fs::remove_file(path);
                }
                Socket::Unix(UnixDatagram::bind(path).map_err(failed)?)
            }
        };
        match &socket {
            Socket::Udp(s) => s.set_read_timeout(Some(LINGER)),
            Socket::Unix(s) => s.set_read_timeout(Some(LINGER)),
        }
        .map_err(failed)?;
        Ok(socket)
    }

    /// Where the kernel's drops at this socket can be read.
    fn kernel_drops(&self) -> Option<KernelDrops> {
        match self {
            Socket::Udp(s) => Some(KernelDrops::of(s)),
            Socket::Unix(_) => None,
        }
    }

    fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Udp(s) => s.recv(buf),
            Socket::Unix(s) => s.recv(buf),
        }
    }
}

/// Binds the socket (so a taken port fails the start) and starts the thread, which
/// hands frames to `push` until `stop`, then seals and hands what is open.
pub(crate) fn start(
    settings: Settings,
    push: zmq::Socket,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> Result<(), BrokerError> {
    let socket = Socket::bind(&settings.listen, settings.receive_buffer)?;
    info!(listen = ?settings.listen, level = %settings.level, "receiving statsd lines");
    let run = move || Ingress::new(settings, counters).run(&socket, &push, &stop);
    std::thread::Builder::new()
        .name("zibrato-statsd".into())
        .spawn(run)
        .map(drop)
        .map_err(|e| BrokerError::Ingress {
            what: "start the statsd thread".into(),
            reason: e.to_string(),
        })
}

/// The ingress thread's state.
struct Ingress {
    levels: Vec<String>,
    source: Option<String>,
    keys: Keys,
    framer: Framer,
    counters: Arc<Counters>,
    samples: Vec<Sample>,
    refusal_log: RateLimiter,
}

impl Ingress {
    fn new(settings: Settings, counters: Arc<Counters>) -> Ingress {
        let mut levels = vec![settings.level];
        for level in settings.levels {
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        Ingress {
            framer: Framer::new(&levels, settings.max_frame, LINGER),
            levels,
            source: settings.source,
            keys: Keys::new(settings.max_keys),
            counters,
            samples: Vec::new(),
            refusal_log: RateLimiter::new(Duration::from_secs(10)),
        }
    }

    fn run(mut self, socket: &Socket, push: &zmq::Socket, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65_536];
        let mut frames = Vec::new();
        let mut errors = RateLimiter::new(Duration::from_secs(10));
        let kernel_drops = socket.kernel_drops();
        let mut drops_read = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                if let Some(dropped) = kernel_drops.as_ref().and_then(KernelDrops::read) {
                    self.counters
                        .kernel_dropped
                        .store(dropped, Ordering::Relaxed);
                }
                self.framer.seal_all(&mut frames);
                self.hand_over(push, &mut frames);
                return;
            }
            match socket.recv(&mut buf) {
                Ok(len) => {
                    self.counters.datagrams.fetch_add(1, Ordering::Relaxed);
                    self.datagram(&buf[..len], &mut frames);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    if let Some(suppressed) = errors.check() {
                        warn!(error = %e, suppressed, "receiving statsd lines failed");
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            let now = Instant::now();
            self.framer.seal_due(now, &mut frames);
            if now >= drops_read {
                // A read of /proc costs microseconds: once a second is enough.
                drops_read = now + Duration::from_secs(1);
                if let Some(dropped) = kernel_drops.as_ref().and_then(KernelDrops::read) {
                    self.counters
                        .kernel_dropped
                        .store(dropped, Ordering::Relaxed);
                }
            }
            if !self.hand_over(push, &mut frames) {
                return;
            }
        }
    }

    /// Hands sealed frames to the forwarding loop; `false` once the broker is ending.
    fn hand_over(&mut self, push: &zmq::Socket, frames: &mut Vec<Vec<u8>>) -> bool {
        self.counters
            .keys_forgotten
            .store(self.keys.forgotten, Ordering::Relaxed);
        self.counters
            .dropped
            .store(self.framer.dropped, Ordering::Relaxed);
        frames
            .drain(..)
            .all(|frame| crate::ingress::pass(push, &frame))
    }

    fn datagram(&mut self, bytes: &[u8], frames: &mut Vec<Vec<u8>>) {
        // statsd is ASCII; a byte that is not UTF-8 is replaced, then sanitised away.
        let text = String::from_utf8_lossy(bytes);
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            self.counters.lines.fetch_add(1, Ordering::Relaxed);
            self.line(line, frames);
        }
    }

    fn line(&mut self, text: &str, frames: &mut Vec<Vec<u8>>) {
        let mut samples = std::mem::take(&mut self.samples);
        match parse(text, &self.levels[1..], &mut samples) {
            Ok(line) => {
                let level = line
                    .level
                    .and_then(|l| self.levels.iter().position(|x| x == l))
                    .unwrap_or(0);
                let source = line.source.as_deref().or(self.source.as_deref());
                let state = self.keys.get(level, &line.name, source);
                for sample in &samples {
                    let value = match sample.kind {
                        Type::Counter => Value::Counter(state.count(sample.value, sample.rate)),
                        Type::Gauge { relative } => {
                            Value::Gauge(state.gauge(sample.value, relative))
                        }
                        // Milliseconds to nanoseconds, saturating.
                        Type::Timer => Value::Timer((sample.value * 1e6).round() as u64),
                    };
                    self.framer.push(level, state, value, frames);
                }
                self.counters
                    .measurements
                    .fetch_add(samples.len() as u64, Ordering::Relaxed);
            }
            Err(refusal) => {
                self.counters.refused[refusal.index()].fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.refusal_log.check() {
                    let example: String = text.chars().take(120).collect();
                    warn!(reason = refusal.as_str(), example = %example, suppressed, "refused a statsd line");
                }
            }
        }
        self.samples = samples;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_udp_or_unix() {
        assert_eq!(
            "127.0.0.1:8125".parse(),
            Ok(Listen::Udp("127.0.0.1:8125".parse().unwrap()))
        );
        assert_eq!(
            "unix:///run/dsd.sock".parse(),
            Ok(Listen::Unix("/run/dsd.sock".into()))
        );
        assert!("unix://relative".parse::<Listen>().is_err());
        assert!("localhost".parse::<Listen>().is_err());
    }
}
