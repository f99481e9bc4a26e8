//! What the broker says about itself: connection counts, the readings of what waits,
//! and its self-metric frames.

use std::sync::atomic::Ordering;

use tracing::{debug, warn};
use zmq::SocketEvent;

use crate::forwarder::{Broker, Origin};
use crate::outbox::Tally;
use crate::relay::Upstream;
use crate::{BrokerError, DropReason};

impl Broker {
    pub(crate) fn read_monitor(&mut self, publishers: bool) -> Result<(), BrokerError> {
        let monitor = if publishers {
            &self.publisher_monitor
        } else {
            &self.worker_monitor
        };
        while let Some(event) = monitor
            .next_event()
            .map_err(BrokerError::zmq("read a socket event"))?
        {
            let s = &mut self.stats;
            match (publishers, event) {
                (true, SocketEvent::ACCEPTED) => s.publisher_connections += 1,
                (true, SocketEvent::DISCONNECTED) => s.publisher_disconnections += 1,
                (false, SocketEvent::ACCEPTED) => s.workers_connected += 1,
                (false, SocketEvent::DISCONNECTED) => {
                    s.workers_connected = s.workers_connected.saturating_sub(1)
                }
                _ => {}
            }
            debug!(publishers, ?event, "connection event");
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
