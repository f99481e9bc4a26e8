//! The broker and its loop: frames in from publishers, devices and linked brokers;
//! out to workers and linked brokers; what each side wants the other way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;
use zibrato_common::{RateLimiter, Shutdown, SocketMonitor, Telemetry, later};

use crate::config::Config;
use crate::grace::Grace;
use crate::ingress::{self, Counters, Sources};
use crate::outbox::{Outbox, Tally};
use crate::relay::{Event, Peer, Sessions, Upstream, upstream};
use crate::subscriptions::Subscriptions;
use crate::topics::Demand;
use crate::{BrokerError, BrokerStats, DropReason, Stopped, accept};

/// At most this many messages are read from one socket before the loop looks at the
/// others, the monitors and the clock again, so a flood cannot starve them.
pub(crate) const BATCH: usize = 4096;

/// How long a poll may wait, so a stop signal and the clock are seen promptly.
const TICK: Duration = Duration::from_millis(100);

/// Where a frame came from: it goes everywhere but back there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This host's publishers, devices, or the broker itself (self-metrics).
    Local,
    /// The `--upstream` broker.
    Upstream,
    /// A broker linked to the relay port, by its session id.
    Relay(u64),
}

/// Where a frame goes, and whose wants change what publishers are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// This broker's workers.
    Workers,
    /// The `--upstream` broker.
    Upstream,
    /// A broker linked to the relay port.
    Relay(u64),
}

/// This broker's workers: who subscribes to what, and what is held for them.
pub(crate) struct Workers {
    pub socket: zmq::Socket,
    pub subscriptions: Subscriptions,
    pub outbox: Outbox<zmq::Message>,
    pub max_held: usize,
}

/// A bound broker, ready to [`run`](Broker::run).
pub struct Broker {
    _context: zmq::Context,
    pub(crate) publishers: zmq::Socket,
    pub(crate) workers: Workers,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) relays: Sessions,
    pub(crate) demand: Demand,
    pub(crate) publisher_monitor: SocketMonitor,
    pub(crate) worker_monitor: SocketMonitor,
    /// `--max-frame-bytes`.
    max_frame: usize,
    /// `--max-replay-bytes`.
    pub(crate) max_replay: usize,
    /// `--shutdown-timeout`.
    pub(crate) shutdown_timeout: Duration,
    /// Where device frames (`--udp`, `--stream`) arrive from the ingress threads.
    devices: Option<zmq::Socket>,
    /// The ingress threads' framing drops, folded into `stats` when reported.
    pub(crate) ingress: Arc<Counters>,
    /// How much of those was folded in already: (oversized, bad framing).
    pub(crate) ingress_folded: (u64, u64),
    pub(crate) stats: BrokerStats,
    pub(crate) telemetry: Telemetry,
    stats_interval: Duration,
    /// The order frames arrive in, so the oldest is dropped first at a bound.
    pub(crate) arrivals: u64,
    limiters: Vec<RateLimiter>,
    pub(crate) refusal_log: RateLimiter,
    pub(crate) full_log: RateLimiter,
}

/// What a poll found readable.
#[derive(Debug, Default)]
struct Ready {
    publishers: bool,
    workers: bool,
    relays: bool,
    upstream: bool,
    upstream_monitor: bool,
    publisher_monitor: bool,
    worker_monitor: bool,
    devices: bool,
}

impl Broker {
    /// Binds the publisher (XSUB), worker (XPUB) and relay (ROUTER) ports and starts
    /// linking to the upstream broker.
    ///
    /// # Errors
    ///
    /// [`BrokerError::PortInUse`] and the other variants, naming what failed.
    pub fn bind(config: &Config) -> Result<Self, BrokerError> {
        let context = zmq::Context::new();
        let publishers = crate::sockets::publishers(&context, config)?;
        let worker_socket = crate::sockets::workers(&context, config)?;
        let relay_socket = crate::sockets::relays(&context, config)?;
        let now = Instant::now();
        let max_topics = config.max_subscriptions.get() as usize;
        let grace = || Grace::new(config.grace, max_topics, now);
        let upstream = match &config.upstream {
            Some(endpoint) => Some(Upstream::connect(
                &context,
                upstream::Settings {
                    endpoint,
                    name: config.relay_name(),
                    pull: config.subscribe_upstream,
                    max_wants: max_topics,
                    hwm: config.worker_hwm.get() as i32,
                },
                Peer::new(Outbox::new(grace())),
            )?),
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
        let publisher_monitor = crate::sockets::monitor(&context, &publishers, "broker-frontend")?;
        let worker_monitor = crate::sockets::monitor(&context, &worker_socket, "broker-backend")?;
        let source = config
            .source
            .clone()
            .unwrap_or_else(|| zibrato_common::host_name("zibrato-broker"));
        let sessions = crate::relay::sessions::Settings {
            max: config.max_relays.get() as usize,
            max_wants: max_topics,
            expiry: config.relay_expiry,
            grace: config.grace,
        };
        let log = || RateLimiter::new(Duration::from_secs(10));
        Ok(Broker {
            publishers,
            workers: Workers {
                socket: worker_socket,
                subscriptions: Subscriptions::new(max_topics),
                outbox: Outbox::new(grace()),
                max_held: config.max_held_bytes.get() as usize,
            },
            upstream,
            relays: Sessions::new(relay_socket, sessions),
            demand: Demand::default(),
            publisher_monitor,
            worker_monitor,
            max_frame: config.max_frame_bytes.get() as usize,
            max_replay: usize::try_from(config.max_replay_bytes.get()).unwrap_or(usize::MAX),
            shutdown_timeout: config.shutdown_timeout,
            devices,
            ingress,
            ingress_folded: (0, 0),
            stats: BrokerStats::default(),
            telemetry: Telemetry::new(&source),
            stats_interval: config.stats_interval,
            arrivals: 0,
            limiters: DropReason::ALL.iter().map(|_| log()).collect(),
            refusal_log: log(),
            full_log: log(),
            _context: context,
        })
    }

    /// The totals so far.
    pub fn stats(&self) -> &BrokerStats {
        &self.stats
    }

    /// Forwards until `shutdown` is requested, then stops as [`stop`](Self::stop) says.
    ///
    /// # Errors
    ///
    /// A ZeroMQ failure other than an interrupted poll.
    pub fn run(&mut self, shutdown: &Shutdown) -> Result<Stopped, BrokerError> {
        let mut next_stats = later(Instant::now(), self.stats_interval);
        let mut next_tick = Instant::now() + TICK;
        while !shutdown.is_requested() {
            let timeout = next_stats
                .min(next_tick)
                .saturating_duration_since(Instant::now());
            self.step(timeout)?;
            let now = Instant::now();
            if now >= next_tick {
                self.tick(now);
                next_tick = now + TICK;
            }
            if now >= next_stats {
                self.publish_stats(true);
                next_stats = later(now, self.stats_interval);
            }
        }
        self.stop()
    }

    /// Waits up to `timeout` for input, then takes in whatever is readable and sends
    /// what waits on the links.
    pub(crate) fn step(&mut self, timeout: Duration) -> Result<(), BrokerError> {
        let ready = self.poll(timeout.min(TICK))?;
        let now = Instant::now();
        if ready.upstream_monitor {
            if let Some(upstream) = &mut self.upstream {
                upstream.read_monitor(&self.demand, now)?;
            }
        }
        if ready.publishers {
            self.read_frames(Inlet::Publishers)?;
        }
        if ready.devices {
            self.read_frames(Inlet::Devices)?;
        }
        if ready.relays {
            let mut events = Vec::new();
            self.relays.read(&self.demand, now, &mut events)?;
            for (id, event) in events {
                self.handle(Origin::Relay(id), Destination::Relay(id), event);
            }
        }
        if ready.upstream {
            let mut events = Vec::new();
            if let Some(upstream) = &mut self.upstream {
                upstream.read(now, &mut events)?;
            }
            for event in events {
                self.handle(Origin::Upstream, Destination::Upstream, event);
            }
        }
        if ready.workers {
            self.read_subscriptions()?;
        }
        if ready.publisher_monitor {
            self.read_monitor(true)?;
        }
        if ready.worker_monitor {
            self.read_monitor(false)?;
        }
        self.pump(now);
        Ok(())
    }

    /// Sends what waits on the links and the acknowledgements owed.
    pub(crate) fn pump(&mut self, now: Instant) {
        if let Some(upstream) = &mut self.upstream {
            upstream.pump();
            upstream.acknowledge(now);
        }
        self.relays.pump();
        self.relays.acknowledge();
    }

    /// What runs every [`TICK`]: graces, forgotten links, hellos not answered.
    fn tick(&mut self, now: Instant) {
        self.expire(now);
        if let Some(upstream) = &mut self.upstream {
            upstream.tick(&self.demand, now);
        }
        for gone in self.relays.expire(now) {
            warn!(relay = %gone.name, frames = gone.dropped.lost.frames, "forgot a linked broker not heard from for --relay-expiry, with the frames kept for it");
            self.stats.relays.dropped_gone.add(gone.dropped.lost);
            self.stats.relays.unwanted.add(gone.dropped.unwanted);
            for topic in gone.wants {
                self.interest_changed(Destination::Relay(gone.id), &topic, false);
            }
        }
    }

    /// Which sockets are readable.
    fn poll(&self, timeout: Duration) -> Result<Ready, BrokerError> {
        let mut items = vec![
            self.publishers.as_poll_item(zmq::POLLIN),
            self.workers.socket.as_poll_item(zmq::POLLIN),
            self.relays.socket().as_poll_item(zmq::POLLIN),
            self.publisher_monitor.socket().as_poll_item(zmq::POLLIN),
            self.worker_monitor.socket().as_poll_item(zmq::POLLIN),
        ];
        if let Some(upstream) = &self.upstream {
            items.push(upstream.socket().as_poll_item(zmq::POLLIN));
            items.push(upstream.monitor().as_poll_item(zmq::POLLIN));
        }
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
        let readable = |i: usize| items.get(i).is_some_and(|item| item.is_readable());
        let linked = self.upstream.is_some();
        Ok(Ready {
            publishers: readable(0),
            workers: readable(1),
            relays: readable(2),
            publisher_monitor: readable(3),
            worker_monitor: readable(4),
            upstream: linked && readable(5),
            upstream_monitor: linked && readable(6),
            devices: devices_at.is_some_and(readable),
        })
    }

    fn read_frames(&mut self, from: Inlet) -> Result<(), BrokerError> {
        for _ in 0..BATCH {
            let socket = match (from, &self.devices) {
                (Inlet::Devices, Some(devices)) => devices,
                (Inlet::Devices, None) => return Ok(()),
                (Inlet::Publishers, _) => &self.publishers,
            };
            let mut msg = zmq::Message::new();
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
            if msg.get_more() {
                crate::sockets::rest(socket, &msg)?;
                self.stats.frames_in += 1;
                self.drop_frame(DropReason::Multipart, None);
                continue;
            }
            self.take_frame(Origin::Local, msg);
        }
        Ok(())
    }

    /// Validates a frame and routes it, or drops and counts it.
    pub(crate) fn take_frame(&mut self, origin: Origin, msg: zmq::Message) {
        self.stats.frames_in += 1;
        if msg.len() > self.max_frame {
            self.drop_frame(DropReason::Oversized, None);
            return;
        }
        match accept(&msg) {
            Ok(accepted) => {
                let measurements = accepted.measurements as u64;
                self.stats.accepted.add(Tally::one(measurements));
                // A valid frame starts with its topic: the level and a zero byte.
                let topic_len = msg.iter().position(|&b| b == 0).map_or(0, |p| p + 1);
                self.route(origin, msg, topic_len, measurements, true);
            }
            Err(error) => self.drop_frame(DropReason::of(error), Some(error)),
        }
    }

    /// Acts on what a linked broker did.
    fn handle(&mut self, origin: Origin, destination: Destination, event: Event) {
        match event {
            Event::Frame { frame, gap } => {
                self.stats.relay_frames_in += 1;
                self.stats.relay_gaps += gap;
                self.take_frame(origin, frame);
            }
            Event::Duplicate => {
                self.stats.relay_frames_in += 1;
                self.stats.frames_in += 1;
                self.drop_frame(DropReason::Duplicate, None);
            }
            Event::Wants { topic, wanted } => self.interest_changed(destination, &topic, wanted),
            Event::Acked(tally) => self.outcome(destination).delivered.add(tally),
            Event::Refused(why) => {
                self.stats.relay_refused += 1;
                if let Some(suppressed) = self.refusal_log.check() {
                    warn!(
                        suppressed,
                        total = self.stats.relay_refused,
                        "refused on a relay link: {why}"
                    );
                }
            }
        }
    }

    pub(crate) fn drop_frame(&mut self, reason: DropReason, error: Option<zibrato_wire::Error>) {
        self.stats.dropped[reason.index()] += 1;
        if reason == DropReason::Duplicate {
            // Expected after every reconnect: counted, not worth a warning.
            return;
        }
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
}

/// Where frames come in from this host.
#[derive(Debug, Clone, Copy)]
enum Inlet {
    /// Publishers over ZeroMQ.
    Publishers,
    /// Devices over UDP or a stream, through the ingress threads.
    Devices,
}
