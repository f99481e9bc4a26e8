//! The broker's own counters, and their names in its totals and self-metrics.

use crate::DropReason;
use crate::outbox::Tally;

/// The ports, as the counters per port name them.
const PORTS: [&str; 3] = crate::zap::DOMAINS;

/// What became of the frames offered to one destination. For each destination,
///
/// `offered = delivered + unwanted + expired + dropped_full + dropped_at_shutdown +
/// dropped_gone + send_failures + pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Valid frames routed towards the destination (every valid frame goes to every
    /// destination but the one it came from).
    pub offered: Tally,
    /// To this broker's workers: handed to ZeroMQ (the worker port is not
    /// acknowledged; workers count what they miss from sequence numbers). To a linked
    /// broker: acknowledged by it.
    pub delivered: Tally,
    /// Nobody there wanted them, now or within the grace (levels never subscribed
    /// there; frames held since start-up for a level no subscriber came for): no loss.
    pub unwanted: Tally,
    /// Held for a level whose subscribers left and did not return within `--grace`.
    pub expired: Tally,
    /// Dropped, oldest first, to stay within `--max-held-bytes` (workers) or
    /// `--max-replay-bytes` (links).
    pub dropped_full: Tally,
    /// Still waiting when the broker stopped, after `--shutdown-timeout`.
    pub dropped_at_shutdown: Tally,
    /// Kept for a linked broker that was forgotten after `--relay-expiry`.
    pub dropped_gone: Tally,
    /// Refused by ZeroMQ.
    pub send_failures: Tally,
    /// Waiting now: held for an absent subscriber, or on a link not yet acknowledged.
    pub pending: Tally,
}

impl Outcome {
    /// The figures under their names, frames then measurements.
    fn named(&self) -> [(&'static str, Tally); 9] {
        [
            ("offered", self.offered),
            ("delivered", self.delivered),
            ("unwanted", self.unwanted),
            ("expired", self.expired),
            ("dropped_full", self.dropped_full),
            ("dropped_at_shutdown", self.dropped_at_shutdown),
            ("dropped_gone", self.dropped_gone),
            ("send_failures", self.send_failures),
            ("pending", self.pending),
        ]
    }

    /// What was lost for good at this destination: expired, dropped or refused.
    pub fn lost(&self) -> Tally {
        let mut lost = Tally::default();
        for t in [
            self.expired,
            self.dropped_full,
            self.dropped_at_shutdown,
            self.dropped_gone,
            self.send_failures,
        ] {
            lost.add(t);
        }
        lost
    }
}

impl StatsdStats {
    /// The figures under their names (`refused.unparsable`, …).
    fn named(&self) -> Vec<(String, u64)> {
        let mut named = vec![
            ("datagrams".to_string(), self.datagrams),
            ("lines".to_string(), self.lines),
            ("measurements".to_string(), self.measurements),
            ("keys_forgotten".to_string(), self.keys_forgotten),
            ("dropped".to_string(), self.dropped),
            ("kernel_dropped".to_string(), self.kernel_dropped),
        ];
        for reason in crate::statsd::Refusal::ALL {
            named.push((
                format!("refused.{}", reason.as_str()),
                self.refused[reason.index()],
            ));
        }
        named
    }
}

/// Running totals since the broker started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Messages received from publishers, devices and linked brokers, valid or not.
    pub frames_in: u64,
    /// Valid frames taken in (and the measurements in them).
    pub accepted: Tally,
    /// Frames of the broker's own self-metrics.
    pub own_frames: u64,
    /// Frames dropped on the way in, per [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Of `frames_in`, those received from linked brokers (duplicates included).
    pub relay_frames_in: u64,
    /// Frames a linked broker numbered but never sent (it dropped them: it counts
    /// them itself).
    pub relay_gaps: u64,
    /// Relay messages that broke the protocol, and links refused (`--max-relays`).
    pub relay_refused: u64,
    /// Linked brokers known now, connected or not.
    pub relays_linked: u64,
    /// Of them, connected now.
    pub relays_connected: u64,
    /// Whether the `--upstream` link is up now (1) or not (0).
    pub upstream_up: u64,
    /// This broker's workers.
    pub workers: Outcome,
    /// The `--upstream` broker.
    pub upstream: Outcome,
    /// The brokers linked to this one's relay port, together.
    pub relays: Outcome,
    /// Subscription changes received from workers.
    pub subscription_changes: u64,
    /// Subscriptions refused: malformed, or past `--max-subscriptions`.
    pub subscriptions_refused: u64,
    /// Topics subscribed now by this broker's workers.
    pub subscriptions: u64,
    /// Publisher connections accepted.
    pub publisher_connections: u64,
    /// Publisher connections closed, including those ZeroMQ closed for sending a
    /// message over `--max-frame-bytes`.
    pub publisher_disconnections: u64,
    /// Workers connected now.
    pub workers_connected: u64,
    /// Peers refused by their CURVE key (not in `--curve-allow`), per port:
    /// publishers, workers, relays.
    pub curve_refused: [u64; 3],
    /// Handshakes that failed, per port (a peer without a key or with a wrong one for
    /// this broker, or not speaking ZeroMQ's protocol).
    pub handshake_failed: [u64; 3],
    /// The statsd ingress (`--statsd`).
    pub statsd: StatsdStats,
}

/// What the statsd ingress took and refused. `lines = taken + Σ refused`, and the
/// measurements of the lines taken go out in the ingress's frames (`accepted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsdStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Lines in them.
    pub lines: u64,
    /// Measurements made of the lines taken.
    pub measurements: u64,
    /// Lines refused, per [`Refusal::index`](crate::statsd::Refusal::index).
    pub refused: [u64; crate::statsd::Refusal::ALL.len()],
    /// Names forgotten to stay within `--statsd-max-keys` (a relative gauge update
    /// then starts from 0 again).
    pub keys_forgotten: u64,
    /// Measurements that could not be framed (none with valid names; never silent).
    pub dropped: u64,
    /// Datagrams the kernel dropped at the UDP socket because its receive buffer was
    /// full (from `/proc/net/udp`; 0 where that is not known, and for a Unix socket,
    /// whose senders wait instead).
    pub kernel_dropped: u64,
}

impl BrokerStats {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Every running total, under its name in the `broker totals` log line
    /// (`workers_delivered`, `workers_delivered_measurements`, `dropped_malformed`, …).
    pub fn totals(&self) -> Vec<(String, u64)> {
        let mut totals = vec![
            ("frames_in".to_string(), self.frames_in),
            ("accepted".to_string(), self.accepted.frames),
            (
                "accepted_measurements".to_string(),
                self.accepted.measurements,
            ),
            ("own_frames".to_string(), self.own_frames),
            ("relay_frames_in".to_string(), self.relay_frames_in),
            ("relay_gaps".to_string(), self.relay_gaps),
            ("relay_refused".to_string(), self.relay_refused),
            (
                "subscription_changes".to_string(),
                self.subscription_changes,
            ),
            (
                "subscriptions_refused".to_string(),
                self.subscriptions_refused,
            ),
            (
                "publisher_connections".to_string(),
                self.publisher_connections,
            ),
            (
                "publisher_disconnections".to_string(),
                self.publisher_disconnections,
            ),
        ];
        for reason in DropReason::ALL {
            totals.push((format!("dropped_{}", reason.as_str()), self.dropped(reason)));
        }
        for (i, port) in PORTS.iter().enumerate() {
            totals.push((format!("curve_refused_{port}"), self.curve_refused[i]));
            totals.push((format!("handshake_failed_{port}"), self.handshake_failed[i]));
        }
        for (name, value) in self.statsd.named() {
            totals.push((format!("statsd_{}", name.replace('.', "_")), value));
        }
        for (destination, outcome) in self.destinations() {
            for (name, tally) in outcome.named() {
                totals.push((format!("{destination}_{name}"), tally.frames));
                totals.push((
                    format!("{destination}_{name}_measurements"),
                    tally.measurements,
                ));
            }
        }
        totals
    }

    fn destinations(&self) -> [(&'static str, &Outcome); 3] {
        [
            ("workers", &self.workers),
            ("upstream", &self.upstream),
            ("relays", &self.relays),
        ]
    }

    /// The counters under their self-metric names (published as increases):
    /// `zibrato.broker.frames_in`, `zibrato.broker.dropped.malformed`,
    /// `zibrato.broker.workers.delivered`, `zibrato.broker.upstream.dropped_full.measurements`…
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut counters: Vec<(String, u64)> = [
            ("frames_in", self.frames_in),
            ("accepted", self.accepted.frames),
            ("accepted.measurements", self.accepted.measurements),
            ("relay_frames_in", self.relay_frames_in),
            ("relay_gaps", self.relay_gaps),
            ("relay_refused", self.relay_refused),
            ("subscription_changes", self.subscription_changes),
            ("subscriptions_refused", self.subscriptions_refused),
            ("publisher_connections", self.publisher_connections),
            ("publisher_disconnections", self.publisher_disconnections),
        ]
        .into_iter()
        .map(|(n, v)| (format!("zibrato.broker.{n}"), v))
        .collect();
        for reason in DropReason::ALL {
            counters.push((
                format!("zibrato.broker.dropped.{}", reason.as_str()),
                self.dropped(reason),
            ));
        }
        for (name, value) in self.statsd.named() {
            counters.push((format!("zibrato.broker.statsd.{name}"), value));
        }
        for (i, port) in PORTS.iter().enumerate() {
            counters.push((
                format!("zibrato.broker.curve_refused.{port}"),
                self.curve_refused[i],
            ));
            counters.push((
                format!("zibrato.broker.handshake_failed.{port}"),
                self.handshake_failed[i],
            ));
        }
        for (destination, outcome) in self.destinations() {
            for (name, tally) in outcome.named() {
                if name == "pending" {
                    continue;
                }
                let base = format!("zibrato.broker.{destination}.{name}");
                counters.push((format!("{base}.measurements"), tally.measurements));
                counters.push((base, tally.frames));
            }
        }
        counters
    }

    /// The readings under their self-metric names (gauges).
    pub fn gauges(&self) -> Vec<(String, f64)> {
        let mut gauges: Vec<(String, f64)> = [
            ("workers_connected", self.workers_connected),
            ("subscriptions", self.subscriptions),
            ("relays_linked", self.relays_linked),
            ("relays_connected", self.relays_connected),
            ("upstream_up", self.upstream_up),
        ]
        .into_iter()
        .map(|(n, v)| (format!("zibrato.broker.{n}"), v as f64))
        .collect();
        for (destination, outcome) in self.destinations() {
            gauges.push((
                format!("zibrato.broker.{destination}.pending"),
                outcome.pending.frames as f64,
            ));
        }
        gauges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_destination_figure_has_a_total_and_a_self_metric() {
        let mut stats = BrokerStats::default();
        stats.upstream.delivered = Tally {
            frames: 3,
            measurements: 30,
        };
        let totals = stats.totals();
        let find = |name: &str| totals.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(find("upstream_delivered"), Some(3));
        assert_eq!(find("upstream_delivered_measurements"), Some(30));
        assert_eq!(find("dropped_duplicate"), Some(0));
        let counters = stats.counters();
        assert!(counters.contains(&("zibrato.broker.upstream.delivered".into(), 3)));
        let names: std::collections::HashSet<&String> = counters.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), counters.len(), "no name twice");
        for (name, _) in &counters {
            zibrato_wire::validate_name(name).unwrap();
        }
    }
}
