//! The peers Zibrato is measured beside, on the same machine and the same events:
//! Etsy statsd fed statsd lines over UDP, and a raw ZeroMQ relay (PUB → `zmq::proxy`
//! → SUB) carrying one message per measurement.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zibrato_testkit::{Statsd, free_ports, rss};

use crate::paced;
use crate::procstat::process_cpu;

/// Loss above which a rate no longer counts as lossless (statsd's 1 %, as measured in
/// the design's figures).
pub const STATSD_LOSS_LIMIT: f64 = 0.01;

/// One rate tried on a peer.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Offered per second.
    pub rate: u64,
    /// Sent.
    pub sent: u64,
    /// Received by the peer.
    pub received: u64,
    /// The peer's CPU time over the step, seconds, where it runs in a process of its
    /// own (statsd; not the in-process relay).
    pub cpu: Option<f64>,
}

impl Step {
    /// The share lost.
    pub fn loss(&self) -> f64 {
        1.0 - self.received as f64 / self.sent.max(1) as f64
    }
}

/// statsd's result: every step and the highest rate within [`STATSD_LOSS_LIMIT`].
#[derive(Debug, Clone)]
pub struct StatsdResult {
    /// The steps, in the order tried.
    pub steps: Vec<Step>,
    /// The highest lossless rate, lines (= metrics) per second.
    pub lossless: u64,
    /// statsd's resident memory at the end, bytes.
    pub rss: u64,
}

/// What [`send_lines`] sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Lines.
    pub lines: u64,
    /// Datagrams.
    pub datagrams: u64,
}

/// Sends `rate` of `lines` (cycled) per second for `seconds` to UDP `port` on
/// 127.0.0.1, `per_datagram` lines in each datagram (the last may hold fewer), as a
/// batching statsd client does: a datagram goes when it is full, sleeping 50 µs while
/// fewer lines than that are due.
pub fn send_lines(port: u16, lines: &[String], rate: u64, seconds: f64, per_datagram: u64) -> Sent {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let total = (rate as f64 * seconds) as u64;
    let start = Instant::now();
    let mut packet = String::new();
    let mut sent = Sent::default();
    let mut index = 0;
    while sent.lines < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        let n = per_datagram.min(total - sent.lines);
        if due < sent.lines + n {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        packet.clear();
        for _ in 0..n {
            packet.push_str(&lines[index % lines.len()]);
            index += 1;
        }
        let _ = socket.send_to(packet.as_bytes(), ("127.0.0.1", port));
        sent.lines += n;
        sent.datagrams += 1;
    }
    sent
}

/// Sends `rate` statsd lines per second for `seconds`, `per_datagram` to a datagram;
/// returns what statsd counted and the CPU it spent.
pub fn statsd_step(
    statsd: &Statsd,
    lines: &[String],
    rate: u64,
    seconds: f64,
    per_datagram: u64,
) -> Step {
    let before = statsd.metrics_received();
    let cpu = process_cpu(statsd.pid());
    let sent = send_lines(statsd.port, lines, rate, seconds, per_datagram).lines;
    // statsd counts what it has parsed; give it time to finish the queue.
    std::thread::sleep(Duration::from_millis(1500));
    Step {
        rate,
        sent,
        received: statsd.metrics_received() - before,
        cpu: Some(process_cpu(statsd.pid()) - cpu),
    }
}

/// Runs the statsd at `stats_js` on free loopback ports and raises the rate of `lines`
/// (each ending in a newline) through `rates` until it loses more than [`STATSD_LOSS_LIMIT`] of the events.
pub fn statsd_lossless(
    stats_js: &Path,
    lines: &[String],
    rates: &[u64],
    seconds: f64,
    per_datagram: u64,
) -> Option<StatsdResult> {
    let port = free_ports();
    let statsd = Statsd::start(&stats_js.to_path_buf(), port, port + 1).ok()?;
    let mut steps = Vec::new();
    let mut lossless = 0;
    for &rate in rates {
        let step = statsd_step(&statsd, lines, rate, seconds, per_datagram);
        steps.push(step);
        if step.loss() > STATSD_LOSS_LIMIT {
            break;
        }
        lossless = rate;
    }
    Some(StatsdResult {
        steps,
        lossless,
        rss: rss(statsd.pid()).0,
    })
}

/// The raw relay's figures.
#[derive(Debug, Clone)]
pub struct RelayResult {
    /// As fast as one sender can go: messages per second received.
    pub burst: f64,
    /// The paced steps.
    pub steps: Vec<Step>,
    /// The highest rate with nothing lost.
    pub sustained: u64,
}

/// One run of PUB → `zmq::proxy` (XSUB/XPUB) → SUB on loopback, each side on its own
/// thread, `size`-byte messages; `rate` 0 sends as fast as possible. High-water marks
/// are raised to 100 000 messages per socket (ZeroMQ's default of 1 000 drops most of
/// a burst), as our own sockets are.
fn relay_run(rate: u64, seconds: f64, count: u64, size: usize) -> (Step, Duration) {
    let context = zmq::Context::new();
    let port = free_ports();
    let hwm = 100_000;
    let xsub = context.socket(zmq::XSUB).unwrap();
    let xpub = context.socket(zmq::XPUB).unwrap();
    for s in [&xsub, &xpub] {
        s.set_rcvhwm(hwm).unwrap();
        s.set_sndhwm(hwm).unwrap();
        s.set_linger(0).unwrap();
    }
    xsub.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
    xpub.bind(&format!("tcp://127.0.0.1:{}", port + 1)).unwrap();
    let proxy = std::thread::spawn(move || {
        // Returns when the context is destroyed below.
        let _ = zmq::proxy(&xsub, &xpub);
    });

    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvhwm(hwm).unwrap();
    sub.set_linger(0).unwrap();
    sub.connect(&format!("tcp://127.0.0.1:{}", port + 1))
        .unwrap();
    sub.set_subscribe(b"").unwrap();
    let publisher = context.socket(zmq::PUB).unwrap();
    publisher.set_sndhwm(hwm).unwrap();
    publisher.set_linger(0).unwrap();
    publisher
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    // Slow joiner: wait until a message goes through.
    let hello = vec![0u8; size];
    loop {
        publisher.send(&hello[..], 0).unwrap();
        if sub.poll(zmq::POLLIN, 10).unwrap() > 0 {
            while sub.recv_bytes(zmq::DONTWAIT).is_ok() {}
            break;
        }
    }

    let received = Arc::new(AtomicU64::new(0));
    let last_ns = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let receiver = {
        let (received, done, last_ns) = (
            Arc::clone(&received),
            Arc::clone(&done),
            Arc::clone(&last_ns),
        );
        std::thread::spawn(move || {
            let mut message = zmq::Message::new();
            let mut quiet_since = None::<Instant>;
            loop {
                if sub.poll(zmq::POLLIN, 50).unwrap() > 0 {
                    while sub.recv(&mut message, zmq::DONTWAIT).is_ok() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    last_ns.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    quiet_since = None;
                } else if done.load(Ordering::Relaxed) {
                    let since = *quiet_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(500) {
                        return;
                    }
                }
            }
        })
    };
    let payload = vec![7u8; size];
    let sent = if rate == 0 {
        for _ in 0..count {
            publisher.send(&payload[..], 0).unwrap();
        }
        count
    } else {
        paced(rate as f64, seconds, |due| {
            for _ in 0..due {
                // ZeroMQ's PUB drops silently at its high-water mark: that is the loss.
                let _ = publisher.send(&payload[..], zmq::DONTWAIT);
            }
            due
        })
    };
    done.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    // Until the last message arrived, not until the receiver noticed the quiet.
    let elapsed = Duration::from_nanos(last_ns.load(Ordering::Relaxed));
    drop(publisher);
    let mut context = context;
    let _ = context.destroy();
    let _ = proxy.join();
    (
        Step {
            rate,
            sent,
            received: received.load(Ordering::Relaxed),
            cpu: None,
        },
        elapsed,
    )
}

/// The relay's burst rate (`burst` messages as fast as possible) and its sustained
/// rate: the highest of `rates` it carries for `seconds` without losing a message.
pub fn zmq_relay(burst: u64, rates: &[u64], seconds: f64, size: usize) -> RelayResult {
    let (step, elapsed) = relay_run(0, 0.0, burst, size);
    let burst_rate = step.received as f64 / elapsed.as_secs_f64();
    let mut steps = Vec::new();
    let mut sustained = 0;
    for &rate in rates {
        let (step, _) = relay_run(rate, seconds, 0, size);
        steps.push(step);
        if step.received < step.sent {
            break;
        }
        sustained = rate;
    }
    RelayResult {
        burst: burst_rate,
        steps,
        sustained,
    }
}
