//! Frames from devices, which cannot run ZeroMQ: UDP datagrams (`--udp`) and COBS
//! records on a byte stream such as a serial line or a FIFO (`--stream`).
//!
//! Each source runs on a thread of its own that does only the framing (one frame per
//! datagram; COBS records split at `0x00`), drops and counts what is oversized or not
//! COBS, and passes every other record, over an in-process ZeroMQ socket, to the
//! forwarding loop, which validates and forwards it exactly like a publisher's frame.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{error, info, warn};
use zibrato_common::RateLimiter;
use zibrato_wire::stream::{StreamDecoder, StreamError, stream_len};

use crate::BrokerError;

/// Where the ingress threads hand records to the forwarding loop.
pub(crate) const ENDPOINT: &str = "inproc://zibrato-device-ingress";

/// The largest UDP payload (IPv4: 65 535 − 8 − 20), and so the largest datagram frame.
pub const MAX_DATAGRAM: usize = 65_507;

/// The longest record read from a stream: a frame of [`MAX_DATAGRAM`] bytes, COBS-encoded.
/// A longer one (or a stream that never delimits) is discarded up to its delimiter and
/// counted as oversized; the reader never holds more.
pub const MAX_STREAM_RECORD: usize = stream_len(MAX_DATAGRAM);

/// Records queued between an ingress thread and the forwarding loop; past it the
/// thread waits (and the kernel drops datagrams, which the workers count as lost
/// frames from the sequence numbers).
const QUEUE: i32 = 10_000;

/// Framing drops, counted by the ingress threads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub oversized: AtomicU64,
    pub bad_framing: AtomicU64,
}

/// What to listen on.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    pub udp: Option<SocketAddr>,
    pub stream: Option<PathBuf>,
    pub max_frame: usize,
}

/// Binds the UDP socket (so a taken port fails the start) and starts the threads.
pub(crate) fn start(
    context: &zmq::Context,
    sources: &Sources,
    counters: &Arc<Counters>,
) -> Result<(), BrokerError> {
    if let Some(addr) = sources.udp {
        let socket = UdpSocket::bind(addr).map_err(|e| BrokerError::Ingress {
            what: format!("bind UDP {addr}"),
            reason: e.to_string(),
        })?;
        let push = push_socket(context)?;
        let (counters, max) = (Arc::clone(counters), sources.max_frame);
        spawn("zibrato-udp", move || udp(&socket, &push, max, &counters))?;
        info!(%addr, "receiving device frames as UDP datagrams");
    }
    if let Some(path) = &sources.stream {
        let push = push_socket(context)?;
        let (counters, max, path) = (Arc::clone(counters), sources.max_frame, path.clone());
        info!(path = %path.display(), "receiving device frames as COBS records");
        spawn("zibrato-stream", move || {
            stream(&path, &push, max, &counters)
        })?;
    }
    Ok(())
}

pub(crate) fn push_socket(context: &zmq::Context) -> Result<zmq::Socket, BrokerError> {
    let push = context
        .socket(zmq::PUSH)
        .map_err(BrokerError::zmq("create the device ingress socket"))?;
    push.set_sndhwm(QUEUE)
        .map_err(BrokerError::zmq("set the device ingress queue"))?;
    push.set_linger(0)
        .map_err(BrokerError::zmq("set the device ingress linger"))?;
    push.connect(ENDPOINT)
        .map_err(BrokerError::zmq("connect the device ingress"))?;
    Ok(push)
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), BrokerError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map(drop)
        .map_err(|e| BrokerError::Ingress {
            what: format!("start the {name} thread"),
            reason: e.to_string(),
        })
}

/// Hands one record to the forwarding loop. `false` when the broker is shutting down
/// (its ZeroMQ context is ending), and the thread ends with it. Any other failure
/// would leave devices unheard while the broker looks healthy, so it ends the process
/// with a failure exit, as a panic in any broker thread does.
pub(crate) fn pass(push: &zmq::Socket, record: &[u8]) -> bool {
    loop {
        match push.send(record, 0) {
            Ok(()) => return true,
            Err(zmq::Error::EINTR) => {}
            Err(zmq::Error::ETERM) => return false,
            Err(e) => {
                error!(error = %e, "device ingress cannot hand frames to the forwarding loop; exiting");
                std::process::exit(1);
            }
        }
    }
}

fn udp(socket: &UdpSocket, push: &zmq::Socket, max: usize, counters: &Counters) {
    // One byte more than a UDP payload can be, so nothing is ever cut short unseen.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut errors = RateLimiter::new(Duration::from_secs(10));
    loop {
        match socket.recv(&mut buf) {
            Ok(len) if len > max => {
                counters.oversized.fetch_add(1, Ordering::Relaxed);
            }
            Ok(len) => {
                if !pass(push, &buf[..len]) {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                if let Some(suppressed) = errors.check() {
                    warn!(error = %e, suppressed, "receiving a UDP datagram failed");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn stream(path: &PathBuf, push: &zmq::Socket, max: usize, counters: &Counters) {
    let mut decoder = Box::new(StreamDecoder::<MAX_STREAM_RECORD>::new());
    let mut chunk = vec![0u8; 64 * 1024];
    let mut errors = RateLimiter::new(Duration::from_secs(10));
    loop {
        // Opening a FIFO waits for a writer; at its end of file (the writer closed),
        // the path is opened again for the next one. A tty is read as it is
        // configured (set it raw with `stty` first).
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                if let Some(suppressed) = errors.check() {
                    warn!(path = %path.display(), error = %e, suppressed, "cannot open the device stream; retrying every second");
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        loop {
            let len = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(len) => len,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(suppressed) = errors.check() {
                        warn!(path = %path.display(), error = %e, suppressed, "reading the device stream failed; opening it again");
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            };
            for &byte in &chunk[..len] {
                match decoder.push(byte) {
                    None => {}
                    Some(Ok(record)) if record.len() > max => {
                        counters.oversized.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Ok(record)) if !pass(push, record) => return,
                    Some(Ok(_)) => {}
                    Some(Err(StreamError::Oversized)) => {
                        counters.oversized.fetch_add(1, Ordering::Relaxed);
                    }
                    // Any error a newer decoder may add is a framing error too.
                    Some(Err(_)) => {
                        counters.bad_framing.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
