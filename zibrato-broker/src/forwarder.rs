//! The forwarding loop: XSUB in, validate, XPUB out; subscriptions the other way.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use zibrato_common::{RateLimiter, Shutdown, SocketMonitor, Telemetry, later};
use zmq::SocketEvent;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Config;
use crate::hold::{Held, Hold};
use crate::ingress::{self, Counters, Sources};
use crate::subscriptions::{Subscriptions, Verdict};
use crate::{BrokerError, BrokerStats, DropReason, accept};
use zibrato_wire::limits::MAX_FRAME_LEN;

/// At most this many frames are read before the loop looks at subscriptions,
/// monitors and the clock again, so a flood cannot starve them.
const BATCH: usize = 4096;

/// The largest message a worker may send: a subscription (one byte, then a topic).
const MAX_SUBSCRIPTION_BYTES: i64 = 1024;

/// At shutdown, after withdrawing the subscriptions, forwarding stops once this long
/// passes without a frame…
const DRAIN_QUIET: Duration = Duration::from_secs(1);
/// …or after this long in all.
const DRAIN_MAX: Duration = Duration::from_secs(3);

/// How long a poll may wait, so a shutdown signal is seen promptly.
const TICK: Duration = Duration::from_millis(100);

/// A bound broker, ready to [`run`](Broker::run).
pub struct Broker {
    _context: zmq::Context,
    frontend: zmq::Socket,
    backend: zmq::Socket,
    upstream: Option<zmq::Socket>,
    frontend_monitor: SocketMonitor,
    backend_monitor: SocketMonitor,
    /// `--max-frame-bytes`.
    max_frame: usize,
    /// Where device frames (`--udp`, `--stream`) arrive from the ingress threads.
    devices: Option<zmq::Socket>,
    /// The ingress threads' framing drops, folded into `stats` when reported.
    ingress: Arc<Counters>,
    /// How much of those was folded in already: (oversized, bad framing).
    ingress_folded: (u64, u64),
    stats: BrokerStats,
    telemetry: Telemetry,
    stats_interval: Duration,
    limiters: Vec<RateLimiter>,
    /// What this broker's workers subscribe to, and what the upstream broker's do: kept
    /// apart, so each passes on its own first subscription and last withdrawal of a
    /// topic, and the XSUB socket counts them together (a topic both want stays
    /// wanted when one side leaves).
    subscriptions: [Subscriptions; 2],
    /// Frames held for each destination while its subscribers are away.
    holds: [Hold; 2],
    refusal_log: RateLimiter,
    hold_log: RateLimiter,
}

impl Broker {
    /// Binds the publisher (XSUB) and worker (XPUB) ports and connects upstream.
    ///
    /// # Errors
    ///
    /// [`BrokerError::PortInUse`] and the other variants, naming what failed.
    pub fn bind(config: &Config) -> Result<Self, BrokerError> {
        let context = zmq::Context::new();
        let ipv6 = config.host.is_ipv6();

        let frontend = context
            .socket(zmq::XSUB)
            .map_err(BrokerError::zmq("create the XSUB socket"))?;
        // ZeroMQ itself refuses only what cannot be a frame at all (over the format's
        // 1 MiB), by dropping the sender's connection; a frame over --max-frame-bytes
        // but within the format is received, then dropped, counted and logged.
        frontend
            .set_maxmsgsize(MAX_FRAME_LEN as i64)
            .map_err(BrokerError::zmq("set the maximum message size"))?;
        frontend
            .set_rcvhwm(config.publisher_hwm.get() as i32)
            .map_err(BrokerError::zmq("set the publisher high-water mark"))?;
        prepare(&frontend, ipv6)?;
        bind(&frontend, config, config.port, "publisher")?;

        let backend = context
            .socket(zmq::XPUB)
            .map_err(BrokerError::zmq("create the XPUB socket"))?;
        backend
            .set_sndhwm(config.worker_hwm.get() as i32)
            .map_err(BrokerError::zmq("set the worker high-water mark"))?;
        // What workers send are subscriptions: a byte and a topic of at most 33 bytes.
        // ZeroMQ drops the connection of a peer that sends more.
        backend
            .set_maxmsgsize(MAX_SUBSCRIPTION_BYTES)
            .map_err(BrokerError::zmq("set the largest subscription"))?;
        prepare(&backend, ipv6)?;
        bind(&backend, config, config.worker_port(), "worker")?;

        let upstream = match &config.upstream {
            Some(endpoint) => {
                let socket = context
                    .socket(zmq::XPUB)
                    .map_err(BrokerError::zmq("create the upstream socket"))?;
                socket
                    .set_sndhwm(config.worker_hwm.get() as i32)
                    .map_err(BrokerError::zmq("set the upstream high-water mark"))?;
                prepare(&socket, false)?;
                socket
                    .connect(endpoint)
                    .map_err(|source| BrokerError::Upstream {
                        endpoint: endpoint.clone(),
                        source,
                    })?;
                Some(socket)
            }
            None => None,
        };

        let ingress = Arc::new(Counters::default());
        let devices = if config.udp.is_some() || config.stream.is_some() {
            let pull = context
                .socket(zmq::PULL)
                .map_err(BrokerError::zmq("create the device ingress socket"))?;
            pull.set_rcvhwm(config.publisher_hwm.get() as i32)
                .map_err(BrokerError::zmq("set the device ingress queue"))?;
            pull.bind(ingress::ENDPOINT)
                .map_err(BrokerError::zmq("bind the device ingress"))?;
            let sources = Sources {
                udp: config.udp,
                stream: config.stream.clone(),
                max_frame: config.max_frame_bytes.get() as usize,
            };
            ingress::start(&context, &sources, &ingress)?;
            Some(pull)
        } else {
            None
        };

        let frontend_monitor = monitor(&context, &frontend, "broker-frontend")?;
        let backend_monitor = monitor(&context, &backend, "broker-backend")?;
        let source = config
            .source
            .clone()
            .unwrap_or_else(|| zibrato_common::host_name("zibrato-broker"));
        Ok(Broker {
            _context: context,
            frontend,
            backend,
            upstream,
            frontend_monitor,
            backend_monitor,
            max_frame: config.max_frame_bytes.get() as usize,
            devices,
            ingress,
            ingress_folded: (0, 0),
            stats: BrokerStats::default(),
            telemetry: Telemetry::new(&source),
            stats_interval: config.stats_interval,
            limiters: DropReason::ALL
                .iter()
                .map(|_| RateLimiter::new(Duration::from_secs(10)))
                .collect(),
            subscriptions: [
                Subscriptions::new(config.max_subscriptions.get() as usize),
                Subscriptions::new(config.max_subscriptions.get() as usize),
            ],
            holds: [(); 2].map(|()| {
                Hold::new(
                    config.grace,
                    config.max_held_bytes.get() as usize,
                    config.max_subscriptions.get() as usize,
                    Instant::now(),
                )
            }),
            refusal_log: RateLimiter::new(Duration::from_secs(10)),
            hold_log: RateLimiter::new(Duration::from_secs(10)),
        })
    }

    /// The totals so far.
    pub fn stats(&self) -> &BrokerStats {
        &self.stats
    }

    /// Forwards until `shutdown` is requested, then publishes a last self-metric frame.
    ///
    /// # Errors
    ///
    /// A ZeroMQ failure other than an interrupted poll.
    pub fn run(&mut self, shutdown: &Shutdown) -> Result<(), BrokerError> {
        let mut next_stats = later(Instant::now(), self.stats_interval);
        let mut next_expiry = Instant::now() + TICK;
        while !shutdown.is_requested() {
            let timeout = next_stats
                .saturating_duration_since(Instant::now())
                .min(TICK);
            let ready = self.poll(timeout)?;
            if ready[0] {
                self.forward_frames(Inlet::Publishers)?;
            }
            if ready[5] {
                self.forward_frames(Inlet::Devices)?;
            }
            if ready[1] {
                self.forward_subscriptions(Side::Workers)?;
            }
            if ready[2] && self.upstream.is_some() {
                self.forward_subscriptions(Side::Upstream)?;
            }
            if ready[3] {
                self.read_monitor(Side::Publishers)?;
            }
            if ready[4] {
                self.read_monitor(Side::Workers)?;
            }
            if Instant::now() >= next_expiry {
                self.expire_held();
                next_expiry = Instant::now() + TICK;
            }
            if Instant::now() >= next_stats {
                self.publish_stats();
                next_stats = later(Instant::now(), self.stats_interval);
            }
        }
        self.drain()?;
        // What is held for absent subscribers now has nowhere to go: say so, with the
        // numbers.
        let (frames, measurements) = self.holds.iter().fold((0, 0), |(f, m), h| {
            (f + h.len() as u64, m + h.measurements())
        });
        if frames > 0 {
            warn!(
                frames,
                measurements,
                "stopping with frames held for subscribers that did not return; they are dropped"
            );
        }
        self.stats.dropped_at_shutdown = frames;
        self.stats.dropped_measurements_at_shutdown = measurements;
        self.publish_stats();
        Ok(())
    }

    /// Which sockets are readable: publishers, workers, upstream, the publisher and
    /// worker monitors, devices.
    fn poll(&self, timeout: Duration) -> Result<[bool; 6], BrokerError> {
        let mut items = vec![
            self.frontend.as_poll_item(zmq::POLLIN),
            self.backend.as_poll_item(zmq::POLLIN),
            self.frontend_monitor.socket().as_poll_item(zmq::POLLIN),
            self.backend_monitor.socket().as_poll_item(zmq::POLLIN),
        ];
        let upstream_at = self.upstream.as_ref().map(|upstream| {
            items.push(upstream.as_poll_item(zmq::POLLIN));
            items.len() - 1
        });
        let devices_at = self.devices.as_ref().map(|devices| {
            items.push(devices.as_poll_item(zmq::POLLIN));
            items.len() - 1
        });
        match zmq::poll(&mut items, timeout.as_millis() as i64) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(source) => {
                return Err(BrokerError::Zmq {
                    action: "poll",
                    source,
                });
            }
        }
        let readable = |at: Option<usize>| at.is_some_and(|i| items[i].is_readable());
        Ok([
            items[0].is_readable(),
            items[1].is_readable(),
            readable(upstream_at),
            items[2].is_readable(),
            items[3].is_readable(),
            readable(devices_at),
        ])
    }

    fn forward_frames(&mut self, from: Inlet) -> Result<(), BrokerError> {
        for _ in 0..BATCH {
            let mut msg = zmq::Message::new();
            let socket = match (from, &self.devices) {
                (Inlet::Devices, Some(devices)) => devices,
                (Inlet::Devices, None) => return Ok(()),
                (Inlet::Publishers, _) => &self.frontend,
            };
            match socket.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "receive a frame",
                        source,
                    });
                }
            }
            self.stats.frames_in += 1;
            if msg.get_more() {
                self.discard_rest(&mut msg)?;
                self.drop_frame(DropReason::Multipart, None);
                continue;
            }
            if msg.len() > self.max_frame {
                self.drop_frame(DropReason::Oversized, None);
                continue;
            }
            match accept(&msg) {
                Ok(accepted) => {
                    let measurements = accepted.measurements as u64;
                    self.stats.measurements_in += measurements;
                    // A valid frame starts with its topic: the level and a zero byte.
                    let topic_len = msg.iter().position(|&b| b == 0).map_or(0, |p| p + 1);
                    if self.upstream.is_some() {
                        let copy = zmq::Message::from(&msg[..]);
                        self.deliver(Side::Upstream, topic_len, copy, measurements);
                    }
                    self.deliver(Side::Workers, topic_len, msg, measurements);
                }
                Err(error) => self.drop_frame(DropReason::of(error), Some(error)),
            }
        }
        Ok(())
    }

    /// Before stopping: withdraws every subscription from the publishers, so they hold
    /// their levels for their grace instead of sending into a broker about to go, and
    /// forwards what was already on its way, until [`DRAIN_QUIET`] passes without a
    /// frame (at most [`DRAIN_MAX`]).
    fn drain(&mut self) -> Result<(), BrokerError> {
        for subscriptions in &self.subscriptions {
            for topic in subscriptions.topics() {
                let mut withdrawal = Vec::with_capacity(topic.len() + 1);
                withdrawal.push(0u8);
                withdrawal.extend_from_slice(topic);
                self.frontend
                    .send(withdrawal, 0)
                    .map_err(BrokerError::zmq("withdraw a subscription"))?;
            }
        }
        let started = Instant::now();
        let mut quiet_since = Instant::now();
        while started.elapsed() < DRAIN_MAX && quiet_since.elapsed() < DRAIN_QUIET {
            let before = self.stats.frames_in;
            match self.frontend.poll(zmq::POLLIN, 20) {
                Ok(n) if n > 0 => self.forward_frames(Inlet::Publishers)?,
                _ => {}
            }
            if self.stats.frames_in != before {
                quiet_since = Instant::now();
            }
        }
        Ok(())
    }

    /// Sends a frame to one destination if anyone there subscribes to its level; else
    /// holds it for the level's grace, or discards it (counted, never as forwarded).
    fn deliver(&mut self, side: Side, topic_len: usize, msg: zmq::Message, measurements: u64) {
        let i = side.index();
        if self.subscriptions[i].wants(&msg[..topic_len]) {
            self.send_to(side, msg, measurements);
            return;
        }
        match self.holds[i].offer(topic_len, msg, measurements, Instant::now()) {
            Held::Kept => {}
            Held::KeptDroppingOldest(dropped) => {
                self.stats.dropped_hold_full += dropped;
                if let Some(suppressed) = self.hold_log.check() {
                    warn!(
                        suppressed,
                        total = self.stats.dropped_hold_full,
                        "frames held for absent subscribers passed --max-held-bytes; dropped the oldest"
                    );
                }
            }
            Held::Discarded => {
                self.stats.discarded += 1;
                self.stats.discarded_measurements += measurements;
            }
        }
        self.stats.held = self.holds.iter().map(|h| h.len() as u64).sum();
    }

    fn send_to(&mut self, side: Side, msg: zmq::Message, measurements: u64) {
        let socket = match (side, &self.upstream) {
            (Side::Upstream, Some(upstream)) => upstream,
            _ => &self.backend,
        };
        match socket.send(msg, zmq::DONTWAIT) {
            Ok(()) if matches!(side, Side::Upstream) => self.stats.upstream_frames_out += 1,
            Ok(()) => {
                self.stats.frames_out += 1;
                self.stats.measurements_out += measurements;
            }
            Err(_) => self.stats.send_failures += 1,
        }
    }

    /// Sends what was held for `topic` now that it has a subscriber.
    fn release(&mut self, side: Side, topic: &[u8]) {
        let released = self.holds[side.index()].release(topic);
        if !released.is_empty() {
            debug!(
                frames = released.len(),
                topic = %String::from_utf8_lossy(topic).trim_end_matches('\0'),
                "a subscriber returned; sending the frames held for it"
            );
        }
        for (msg, measurements) in released {
            self.send_to(side, msg, measurements);
        }
        self.stats.held = self.holds.iter().map(|h| h.len() as u64).sum();
    }

    /// Discards held frames whose level's grace has run out.
    fn expire_held(&mut self) {
        let now = Instant::now();
        for hold in &mut self.holds {
            let (frames, measurements) = hold.expire(now);
            self.stats.discarded += frames;
            self.stats.discarded_measurements += measurements;
        }
        self.stats.held = self.holds.iter().map(|h| h.len() as u64).sum();
    }

    fn discard_rest(&mut self, msg: &mut zmq::Message) -> Result<(), BrokerError> {
        while msg.get_more() {
            self.frontend
                .recv(msg, 0)
                .map_err(BrokerError::zmq("discard a multipart message"))?;
        }
        Ok(())
    }

    fn drop_frame(&mut self, reason: DropReason, error: Option<zibrato_wire::Error>) {
        self.stats.dropped[reason.index()] += 1;
        if let Some(suppressed) = self.limiters[reason.index()].check() {
            let error = match (error, reason) {
                (Some(error), _) => error.to_string(),
                (None, DropReason::Oversized) => {
                    format!("a frame over --max-frame-bytes ({} bytes)", self.max_frame)
                }
                (None, _) => "multipart message".into(),
            };
            warn!(
                reason = reason.as_str(),
                %error,
                suppressed,
                total = self.stats.dropped(reason),
                "dropped a frame"
            );
        }
    }

    fn read_monitor(&mut self, side: Side) -> Result<(), BrokerError> {
        let monitor = match side {
            Side::Publishers => &self.frontend_monitor,
            Side::Workers | Side::Upstream => &self.backend_monitor,
        };
        while let Some(event) = monitor
            .next_event()
            .map_err(BrokerError::zmq("read a socket event"))?
        {
            match (side, event) {
                (Side::Upstream, _) => {}
                (Side::Publishers, SocketEvent::ACCEPTED) => self.stats.publisher_connections += 1,
                (Side::Publishers, SocketEvent::DISCONNECTED) => {
                    self.stats.publisher_disconnections += 1
                }
                (Side::Workers, SocketEvent::ACCEPTED) => self.stats.workers_connected += 1,
                (Side::Workers, SocketEvent::DISCONNECTED) => {
                    self.stats.workers_connected = self.stats.workers_connected.saturating_sub(1)
                }
                _ => {}
            }
            debug!(?side, ?event, "connection event");
        }
        Ok(())
    }

    /// Passes the subscriptions of workers (or of the upstream broker's workers) on to
    /// the publishers: well-formed ones only, and a bounded number (see
    /// [`Subscriptions`]); the rest are counted and logged at a limited rate.
    fn forward_subscriptions(&mut self, side: Side) -> Result<(), BrokerError> {
        loop {
            let from = match (side, &self.upstream) {
                (Side::Upstream, Some(upstream)) => upstream,
                _ => &self.backend,
            };
            let msg = match from.recv_bytes(zmq::DONTWAIT) {
                Ok(msg) => msg,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "read a subscription",
                        source,
                    });
                }
            };
            self.stats.subscription_changes += 1;
            let side_index = side.index();
            let verdict = self.subscriptions[side_index].judge(&msg);
            let topic = || {
                String::from_utf8_lossy(msg.get(1..).unwrap_or_default())
                    .trim_end_matches('\0')
                    .to_string()
            };
            match verdict {
                Verdict::Forward => {
                    debug!(subscribe = msg[0] == 1, topic = %topic(), "subscription change");
                    let subscribe = msg[0] == 1;
                    let topic = msg[1..].to_vec();
                    self.frontend
                        .send(msg, 0)
                        .map_err(BrokerError::zmq("forward a subscription"))?;
                    if subscribe {
                        self.release(side, &topic);
                    } else if !self.holds[side_index].lost(&topic, Instant::now()) {
                        debug!(topic = %String::from_utf8_lossy(&topic), "not held: --max-subscriptions levels are held already");
                    }
                }
                Verdict::Ignore => {}
                Verdict::Malformed | Verdict::Full => {
                    self.stats.subscriptions_refused += 1;
                    if let Some(suppressed) = self.refusal_log.check() {
                        let why = if verdict == Verdict::Full {
                            "--max-subscriptions topics are subscribed already"
                        } else {
                            "not a level topic (level then a zero byte) nor the empty topic"
                        };
                        warn!(topic = %topic(), suppressed, total = self.stats.subscriptions_refused, "refused a subscription: {why}");
                    }
                }
            }
            self.stats.subscriptions = self.subscriptions.iter().map(|s| s.len() as u64).sum();
        }
    }

    /// Adds the ingress threads' framing drops since the last call to the totals (a
    /// publisher's oversized frames are counted there directly).
    fn count_ingress(&mut self) {
        let now = (
            self.ingress.oversized.load(Ordering::Relaxed),
            self.ingress.bad_framing.load(Ordering::Relaxed),
        );
        let (oversized, bad_framing) = std::mem::replace(&mut self.ingress_folded, now);
        self.stats.dropped[DropReason::Oversized.index()] += now.0 - oversized;
        self.stats.dropped[DropReason::BadFraming.index()] += now.1 - bad_framing;
    }

    fn publish_stats(&mut self) {
        self.count_ingress();
        let frame = match self
            .telemetry
            .encode(&self.stats.counters(), &self.stats.gauges())
        {
            Ok(frame) => frame,
            Err(error) => {
                warn!(%error, "cannot encode self-metrics");
                return;
            }
        };
        if let Some(upstream) = &self.upstream {
            let _ = upstream.send(&frame[..], zmq::DONTWAIT);
        }
        let _ = self.backend.send(frame, zmq::DONTWAIT);
    }

    /// Logs the totals; called once at shutdown.
    pub fn log_summary(&mut self) {
        self.count_ingress();
        let s = &self.stats;
        info!(
            frames_in = s.frames_in,
            frames_out = s.frames_out,
            measurements_in = s.measurements_in,
            measurements_out = s.measurements_out,
            dropped_not_zibrato = s.dropped(DropReason::NotZibrato),
            dropped_unknown_version = s.dropped(DropReason::UnknownVersion),
            dropped_malformed = s.dropped(DropReason::Malformed),
            dropped_multipart = s.dropped(DropReason::Multipart),
            dropped_oversized = s.dropped(DropReason::Oversized),
            dropped_bad_framing = s.dropped(DropReason::BadFraming),
            send_failures = s.send_failures,
            upstream_frames_out = s.upstream_frames_out,
            discarded = s.discarded,
            discarded_measurements = s.discarded_measurements,
            dropped_hold_full = s.dropped_hold_full,
            held = s.held,
            dropped_at_shutdown = s.dropped_at_shutdown,
            dropped_measurements_at_shutdown = s.dropped_measurements_at_shutdown,
            publisher_disconnections = s.publisher_disconnections,
            "broker totals"
        );
    }
}

/// Where frames come in.
#[derive(Debug, Clone, Copy)]
enum Inlet {
    /// Publishers over ZeroMQ.
    Publishers,
    /// Devices over UDP or a stream, through the ingress threads.
    Devices,
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Publishers,
    Workers,
    Upstream,
}

impl Side {
    /// The index of a destination's subscriptions and hold.
    fn index(self) -> usize {
        usize::from(matches!(self, Side::Upstream))
    }
}

/// Socket options every broker socket gets: linger bounded so shutdown never hangs,
/// heartbeats so dead peers are noticed, IPv6 when bound to an IPv6 address.
fn prepare(socket: &zmq::Socket, ipv6: bool) -> Result<(), BrokerError> {
    socket
        .set_linger(1000)
        .map_err(BrokerError::zmq("set linger"))?;
    socket
        .set_heartbeat_ivl(5000)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_heartbeat_timeout(15000)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_ipv6(ipv6)
        .map_err(BrokerError::zmq("enable IPv6"))?;
    Ok(())
}

fn bind(
    socket: &zmq::Socket,
    config: &Config,
    port: u16,
    role: &'static str,
) -> Result<(), BrokerError> {
    let endpoint = crate::config::endpoint(config.host, port);
    socket.bind(&endpoint).map_err(|source| match source {
        zmq::Error::EADDRINUSE => BrokerError::PortInUse {
            host: config.host.to_string(),
            port,
            role,
        },
        source => BrokerError::Bind { endpoint, source },
    })
}

fn monitor(
    context: &zmq::Context,
    socket: &zmq::Socket,
    name: &str,
) -> Result<SocketMonitor, BrokerError> {
    let events = [SocketEvent::ACCEPTED, SocketEvent::DISCONNECTED];
    SocketMonitor::attach(context, socket, name, &events)
        .map_err(|(action, source)| BrokerError::Zmq { action, source })
}
