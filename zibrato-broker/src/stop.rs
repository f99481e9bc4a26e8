//! Stopping: take in what is already on its way, deliver what linked brokers have not
//! acknowledged, within `--shutdown-timeout`, then count what is left.

use std::time::{Duration, Instant};

use tracing::{info, warn};
use zibrato_common::{Drain, later};

use crate::BrokerError;
use crate::forwarder::Broker;
use crate::outbox::Tally;

/// How a stop ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// Frames a destination was waiting for and did not get: held for workers that
    /// left within the grace, or not acknowledged by a linked broker within
    /// `--shutdown-timeout`. Counted in each destination's `dropped_at_shutdown`.
    pub undelivered: Tally,
}

impl Broker {
    /// Withdraws the subscriptions from publishers (they hold their levels for their
    /// grace) and takes in what was already on its way, until a second passes without
    /// a frame (3 s at most); then sends linked brokers what they have not
    /// acknowledged, until they have it all or `--shutdown-timeout` passes; then drops
    /// and counts what is left, and publishes a last self-metric frame.
    ///
    /// # Errors
    ///
    /// A ZeroMQ failure.
    pub fn stop(&mut self) -> Result<Stopped, BrokerError> {
        self.withdraw_from_publishers()?;
        // The statsd ingress hands over its open frames; the drain takes them in.
        self.statsd_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let deadline = later(started, self.shutdown_timeout);
        let mut drain = Drain::start(started);
        while !drain.is_over(Instant::now()) {
            let before = self.stats.frames_in;
            self.step(Duration::from_millis(20))?;
            if self.stats.frames_in != before {
                drain.took_frame(Instant::now());
            }
        }
        // The last self-metric frame goes with the rest, to whoever wants it now (no one
        // waits for it); the totals logged at exit have what happens after it.
        self.publish_stats(false);
        while self.links_waiting() && Instant::now() < deadline {
            self.step(Duration::from_millis(20))?;
        }
        Ok(self.count_left())
    }

    /// Whether a linked broker has frames it wants that it has not acknowledged.
    fn links_waiting(&self) -> bool {
        let upstream = self
            .upstream
            .as_ref()
            .is_some_and(|u| u.peer.outbox.has_unsent() || u.peer.outbox.has_unacked());
        upstream
            || self
                .relays
                .iter()
                .any(|(_, s)| s.peer.outbox.has_unsent() || s.peer.outbox.has_unacked())
    }

    /// Empties every outbox: what nobody wanted is unwanted; what a destination was
    /// waiting for is dropped at shutdown, logged.
    fn count_left(&mut self) -> Stopped {
        let mut undelivered = Tally::default();
        let workers = self.workers.outbox.clear();
        self.stats.workers.unwanted.add(workers.unwanted);
        self.stats.workers.dropped_at_shutdown.add(workers.lost);
        undelivered.add(workers.lost);
        if workers.lost.frames > 0 {
            warn!(
                frames = workers.lost.frames,
                measurements = workers.lost.measurements,
                "stopping with frames held for workers that left and did not return; they are dropped"
            );
        }
        if let Some(upstream) = &mut self.upstream {
            let left = upstream.peer.outbox.clear();
            self.stats.upstream.unwanted.add(left.unwanted);
            self.stats.upstream.dropped_at_shutdown.add(left.lost);
            undelivered.add(left.lost);
            if left.lost.frames > 0 {
                warn!(
                    endpoint = upstream.endpoint(),
                    frames = left.lost.frames,
                    measurements = left.lost.measurements,
                    "stopping with frames the upstream broker has not acknowledged; they are dropped"
                );
            }
        }
        let mut relays = Tally::default();
        for (_, session) in self.relays.iter_mut() {
            let left = session.peer.outbox.clear();
            self.stats.relays.unwanted.add(left.unwanted);
            self.stats.relays.dropped_at_shutdown.add(left.lost);
            relays.add(left.lost);
        }
        undelivered.add(relays);
        if relays.frames > 0 {
            warn!(
                frames = relays.frames,
                measurements = relays.measurements,
                "stopping with frames linked brokers have not acknowledged; they are dropped"
            );
        }
        self.refresh_stats();
        Stopped { undelivered }
    }

    /// Logs the totals; called once at shutdown.
    pub fn log_summary(&mut self) {
        self.refresh_stats();
        let totals = self
            .stats
            .totals()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        info!("broker totals {totals}");
    }
}
