//! What the broker says about itself: connection counts, the readings of what waits,
//! and its self-metric frames.

use std::sync::atomic::Ordering;

use tracing::{debug, warn};
use zmq::SocketEvent;

use crate::forwarder::{Broker, Origin};
use crate::outbox::Tally;
use crate::relay::Upstream;
use crate::security::Port;
use crate::{BrokerError, DropReason};

impl Broker {
    /// Counts a port's connections and the handshakes that failed there.
    pub(crate) fn read_monitor(&mut self, port: Port) -> Result<(), BrokerError> {
        let monitor = match port {
            Port::Publishers => &self.publisher_monitor,
            Port::Workers => &self.worker_monitor,
            Port::Relays => &self.relay_monitor,
        };
        while let Some(event) = monitor
            .next_event()
            .map_err(BrokerError::zmq("read a socket event"))?
        {
            let s = &mut self.stats;
            match (port, event) {
                (Port::Publishers, SocketEvent::ACCEPTED) => s.publisher_connections += 1,
                (Port::Publishers, SocketEvent::DISCONNECTED) => s.publisher_disconnections += 1,
                (Port::Workers, SocketEvent::ACCEPTED) => s.workers_connected += 1,
                (Port::Workers, SocketEvent::DISCONNECTED) => {
                    s.workers_connected = s.workers_connected.saturating_sub(1)
                }
                (
                    _,
                    SocketEvent::HANDSHAKE_FAILED_PROTOCOL
                    | SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
                ) => {
                    s.handshake_failed[port as usize] += 1;
                    if let Some(suppressed) = self.handshake_log.check() {
                        // ZeroMQ reports a failed handshake with the port, not the peer's
                        // address (a refused key is logged with it, by the ZAP handler).
                        warn!(
                            port = port.name(),
                            suppressed,
                            total = s.handshake_failed[port as usize],
                            "a peer failed the handshake: no key, a wrong key for this broker, or not a Zibrato peer"
                        );
                    }
                }
                _ => {}
            }
            debug!(?port, ?event, "connection event");
        }
        Ok(())
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

    /// Brings the readings (what waits, what is linked) up to date.
    pub(crate) fn refresh_stats(&mut self) {
        self.count_ingress();
        self.stats.workers.pending = self.workers.outbox.pending();
        self.stats.upstream.pending = self
            .upstream
            .as_ref()
            .map_or_else(Tally::default, |u| u.peer.outbox.pending());
        let mut pending = Tally::default();
        for (_, s) in self.relays.iter() {
            pending.add(s.peer.outbox.pending());
        }
        self.stats.relays.pending = pending;
        self.stats.relays_linked = self.relays.len() as u64;
        self.stats.relays_connected = self.relays.connected() as u64;
        self.stats.upstream_up = u64::from(self.upstream.as_ref().is_some_and(Upstream::is_up));
        self.stats.subscriptions = self.workers.subscriptions.topics().len() as u64;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let statsd = &mut self.stats.statsd;
        statsd.datagrams = load(&self.statsd.datagrams);
        statsd.lines = load(&self.statsd.lines);
        statsd.measurements = load(&self.statsd.measurements);
        statsd.keys_forgotten = load(&self.statsd.keys_forgotten);
        statsd.dropped = load(&self.statsd.dropped);
        statsd.kernel_dropped = load(&self.statsd.kernel_dropped);
        for (total, count) in statsd.refused.iter_mut().zip(self.statsd.refused.iter()) {
            *total = load(count);
        }
        if let Some(zap) = &self.zap {
            for (total, count) in self.stats.curve_refused.iter_mut().zip(zap.refused.iter()) {
                *total = count.load(Ordering::Relaxed);
            }
        }
    }

    /// Publishes the self-metrics, as a frame of this broker's own; `hold`: kept for
    /// absent subscribers like any frame (not the last one, at a stop).
    pub(crate) fn publish_stats(&mut self, hold: bool) {
        self.refresh_stats();
        let counters = self.stats.counters();
        let gauges = self.stats.gauges();
        let counters: Vec<(&str, u64)> = counters.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let gauges: Vec<(&str, f64)> = gauges.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        match self.telemetry.encode(&counters, &gauges) {
            Ok(frame) => {
                self.stats.own_frames += 1;
                let measurements = (counters.len() + gauges.len()) as u64;
                let topic_len = frame.iter().position(|&b| b == 0).map_or(0, |p| p + 1);
                self.route(
                    Origin::Local,
                    zmq::Message::from(frame),
                    topic_len,
                    measurements,
                    hold,
                );
            }
            Err(error) => warn!(%error, "cannot encode self-metrics"),
        }
    }
}
