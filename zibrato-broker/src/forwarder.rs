//! The broker and its loop: frames in from publishers, devices and linked brokers;
//! out to workers and linked brokers; what each side wants the other way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::warn;
use zibrato_common::{RateLimiter, Reload, Shutdown, SocketMonitor, Telemetry, later};

use crate::BrokerOptions;
use crate::grace::Grace;
use crate::ingress::{self, Counters, Sources};
use crate::intake::Inlet;
use crate::keys::Keys;
use crate::outbox::Outbox;
use crate::relay::{Peer, Sessions, Upstream, upstream};
use crate::security::Port;
use crate::subscriptions::Subscriptions;
use crate::topics::Demand;
use crate::zap::Zap;
use crate::{BrokerError, BrokerStats, DropReason, Stopped};

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
    pub(crate) context: zmq::Context,
    /// How it was started (the worker port is bound again from it on a revocation).
    pub(crate) config: BrokerOptions,
    /// Its keys, when its ports are CURVE servers.
    pub(crate) keys: Option<Keys>,
    /// The ZAP handler, with keys.
    pub(crate) zap: Option<Zap>,
    /// SIGHUP, when the broker runs as a daemon.
    reload: Option<Reload>,
    pub(crate) publishers: zmq::Socket,
    pub(crate) workers: Workers,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) relays: Sessions,
    pub(crate) demand: Demand,
    pub(crate) publisher_monitor: SocketMonitor,
    pub(crate) worker_monitor: SocketMonitor,
    pub(crate) relay_monitor: SocketMonitor,
    /// `--max-frame-bytes`.
    pub(crate) max_frame: usize,
    /// `--max-replay-bytes`.
    pub(crate) max_replay: usize,
    /// `--shutdown-timeout`.
    pub(crate) shutdown_timeout: Duration,
    /// Where device frames (`--udp`, `--stream`) arrive from the ingress threads.
    pub(crate) devices: Option<zmq::Socket>,
    /// The ingress threads' framing drops, folded into `stats` when reported.
    pub(crate) ingress: Arc<Counters>,
    /// How much of those was folded in already: (oversized, bad framing).
    pub(crate) ingress_folded: (u64, u64),
    /// What the statsd ingress counted.
    pub(crate) statsd: Arc<crate::statsd::Counters>,
    /// Tells the statsd ingress to hand over its open frames and end.
    pub(crate) statsd_stop: Arc<AtomicBool>,
    pub(crate) stats: BrokerStats,
    pub(crate) telemetry: Telemetry,
    stats_interval: Duration,
    /// The order frames arrive in, so the oldest is dropped first at a bound.
    pub(crate) arrivals: u64,
    pub(crate) limiters: Vec<RateLimiter>,
    pub(crate) refusal_log: RateLimiter,
    pub(crate) full_log: RateLimiter,
    pub(crate) handshake_log: RateLimiter,
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
    relay_monitor: bool,
    devices: bool,
}

impl Broker {
    /// Binds the publisher (XSUB), worker (XPUB) and relay (ROUTER) ports and starts
    /// linking to the upstream broker.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Options`] for a setting the command line would refuse,
    /// [`BrokerError::PortInUse`] and the other variants, naming what failed.
    pub fn bind(config: &BrokerOptions) -> Result<Self, BrokerError> {
        config.validate()?;
        let context = zmq::Context::new();
        let keys = Keys::load(config)?;
        // The ZAP handler answers before the first CURVE peer can connect.
        let zap = match keys.as_ref().and_then(|k| k.ports.as_ref()) {
            Some(ports) => Some(crate::zap::start(&context, ports.allowed.clone())?),
            None => None,
        };
        let pair = keys.as_ref().and_then(Keys::serving);
        let publishers = crate::sockets::publishers(&context, config, pair)?;
        let worker_socket = crate::sockets::workers(&context, config, pair)?;
        let relay_socket = crate::sockets::relays(&context, config, pair)?;
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
                    keys: keys
                        .as_ref()
                        .and_then(|k| k.upstream.map(|server| (k.pair.clone(), server))),
                },
                Peer::new(Outbox::new(grace())),
            )?),
            None => None,
        };
        let ingress = Arc::new(Counters::default());
        let statsd = Arc::new(crate::statsd::Counters::default());
        let statsd_stop = Arc::new(AtomicBool::new(false));
        let inlets = config.udp.is_some() || config.stream.is_some() || config.statsd.is_some();
        let devices = if inlets {
            let pull = context
                .socket(zmq::PULL)
                .map_err(BrokerError::zmq("create the ingress socket"))?;
            pull.set_rcvhwm(config.publisher_hwm.get() as i32)
                .map_err(BrokerError::zmq("set the ingress queue"))?;
            pull.bind(ingress::ENDPOINT)
                .map_err(BrokerError::zmq("bind the ingress"))?;
            let sources = Sources {
                udp: config.udp,
                stream: config.stream.clone(),
                max_frame: config.max_frame_bytes.get() as usize,
            };
            ingress::start(&context, &sources, &ingress)?;
            if let Some(listen) = &config.statsd {
                let settings = crate::statsd::Settings {
                    listen: listen.clone(),
                    level: config.statsd_level.clone(),
                    levels: config.statsd_levels.clone(),
                    source: config.statsd_source.clone(),
                    max_keys: config.statsd_max_keys.get() as usize,
                    receive_buffer: config.statsd_receive_buffer.get() as usize,
                    max_frame: config.max_frame_bytes.get() as usize,
                };
                let push = ingress::push_socket(&context)?;
                crate::statsd::start(settings, push, statsd.clone(), statsd_stop.clone())?;
            }
            Some(pull)
        } else {
            None
        };
        let publisher_monitor = crate::sockets::monitor(&context, &publishers, "broker-frontend")?;
        let worker_monitor = crate::sockets::monitor(&context, &worker_socket, "broker-backend")?;
        let relay_monitor = crate::sockets::monitor(&context, &relay_socket, "broker-relays")?;
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
            relay_monitor,
            max_frame: config.max_frame_bytes.get() as usize,
            max_replay: usize::try_from(config.max_replay_bytes.get()).unwrap_or(usize::MAX),
            shutdown_timeout: config.shutdown_timeout,
            devices,
            ingress,
            ingress_folded: (0, 0),
            statsd,
            statsd_stop,
            stats: BrokerStats::default(),
            telemetry: Telemetry::new(&source),
            stats_interval: config.stats_interval,
            arrivals: 0,
            limiters: DropReason::ALL.iter().map(|_| log()).collect(),
            refusal_log: log(),
            full_log: log(),
            handshake_log: log(),
            context,
            config: config.clone(),
            keys,
            zap,
            reload: None,
        })
    }

    /// Rereads the allowed keys when `reload` is raised (SIGHUP, in the daemon).
    pub fn reload_on(&mut self, reload: Reload) {
        self.reload = Some(reload);
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
                self.tick(now)?;
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
            self.relays
                .read(&self.demand, self.keys.as_ref(), now, &mut events)?;
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
            self.read_monitor(Port::Publishers)?;
        }
        if ready.worker_monitor {
            self.read_monitor(Port::Workers)?;
        }
        if ready.relay_monitor {
            self.read_monitor(Port::Relays)?;
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

    /// What runs every [`TICK`]: graces, forgotten links, hellos not answered, a
    /// reload asked for.
    fn tick(&mut self, now: Instant) -> Result<(), BrokerError> {
        if self
            .zap
            .as_ref()
            .is_some_and(|z| z.failed.load(Ordering::Relaxed))
        {
            return Err(BrokerError::Ingress {
                what: "authenticate CURVE peers".into(),
                reason: "the ZAP handler failed (see above)".into(),
            });
        }
        if self.reload.as_ref().is_some_and(Reload::take) {
            self.reload_keys()?;
        }
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
        Ok(())
    }

    /// Which sockets are readable.
    fn poll(&self, timeout: Duration) -> Result<Ready, BrokerError> {
        let mut items = vec![
            self.publishers.as_poll_item(zmq::POLLIN),
            self.workers.socket.as_poll_item(zmq::POLLIN),
            self.relays.socket().as_poll_item(zmq::POLLIN),
            self.publisher_monitor.socket().as_poll_item(zmq::POLLIN),
            self.worker_monitor.socket().as_poll_item(zmq::POLLIN),
            self.relay_monitor.socket().as_poll_item(zmq::POLLIN),
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
            relay_monitor: readable(5),
            upstream: linked && readable(6),
            upstream_monitor: linked && readable(7),
            devices: devices_at.is_some_and(readable),
        })
    }
}
