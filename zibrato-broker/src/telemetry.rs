//! The broker's own counters, and their names as self-metrics.

use crate::DropReason;

/// Running totals since the broker started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Messages received from publishers, valid or not.
    pub frames_in: u64,
    /// Measurements in the valid frames received.
    pub measurements_in: u64,
    /// Frames forwarded to workers (and upstream).
    pub frames_out: u64,
    /// Measurements in the frames forwarded.
    pub measurements_out: u64,
    /// Frames dropped, per [`DropReason::index`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Frames ZeroMQ refused to queue for sending.
    pub send_failures: u64,
    /// Frames sent to the upstream broker (`--upstream`).
    pub upstream_frames_out: u64,
    /// Frames no subscriber wanted, of a level not held (never subscribed, or without
    /// subscribers for longer than `--grace`): discarded, never counted as forwarded.
    pub discarded: u64,
    /// Measurements in them.
    pub discarded_measurements: u64,
    /// Frames held for absent subscribers that were dropped to stay within
    /// `--max-held-bytes`.
    pub dropped_hold_full: u64,
    /// Frames held now for absent subscribers.
    pub held: u64,
    /// Frames still held when the broker stopped, dropped.
    pub dropped_at_shutdown: u64,
    /// Measurements in them.
    pub dropped_measurements_at_shutdown: u64,
    /// Subscription changes received from workers.
    pub subscription_changes: u64,
    /// Subscriptions refused: malformed, or past `--max-subscriptions`.
    pub subscriptions_refused: u64,
    /// Topics subscribed now (passed on to publishers).
    pub subscriptions: u64,
    /// Publisher connections accepted.
    pub publisher_connections: u64,
    /// Publisher connections closed, including those ZeroMQ closed for sending a
    /// message over `--max-frame-bytes`.
    pub publisher_disconnections: u64,
    /// Workers connected now.
    pub workers_connected: u64,
}

impl BrokerStats {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// The totals under their self-metric names (counters, published as increases).
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut counters = vec![
            ("zibrato.broker.frames_in", self.frames_in),
            ("zibrato.broker.measurements_in", self.measurements_in),
            ("zibrato.broker.frames_out", self.frames_out),
            ("zibrato.broker.measurements_out", self.measurements_out),
            ("zibrato.broker.send_failures", self.send_failures),
            (
                "zibrato.broker.upstream_frames_out",
                self.upstream_frames_out,
            ),
            ("zibrato.broker.discarded", self.discarded),
            (
                "zibrato.broker.discarded_measurements",
                self.discarded_measurements,
            ),
            ("zibrato.broker.dropped.hold_full", self.dropped_hold_full),
            (
                "zibrato.broker.subscription_changes",
                self.subscription_changes,
            ),
            (
                "zibrato.broker.subscriptions_refused",
                self.subscriptions_refused,
            ),
            (
                "zibrato.broker.publisher_connections",
                self.publisher_connections,
            ),
            (
                "zibrato.broker.publisher_disconnections",
                self.publisher_disconnections,
            ),
        ];
        for reason in DropReason::ALL {
            counters.push((dropped_name(reason), self.dropped(reason)));
        }
        counters
    }

    /// The readings under their self-metric names (gauges).
    pub fn gauges(&self) -> Vec<(&'static str, f64)> {
        vec![
            (
                "zibrato.broker.workers_connected",
                self.workers_connected as f64,
            ),
            ("zibrato.broker.subscriptions", self.subscriptions as f64),
            ("zibrato.broker.held", self.held as f64),
        ]
    }
}

fn dropped_name(reason: DropReason) -> &'static str {
    match reason {
        DropReason::NotZibrato => "zibrato.broker.dropped.not_zibrato",
        DropReason::UnknownVersion => "zibrato.broker.dropped.unknown_version",
        DropReason::Malformed => "zibrato.broker.dropped.malformed",
        DropReason::Multipart => "zibrato.broker.dropped.multipart",
        DropReason::Oversized => "zibrato.broker.dropped.oversized",
        DropReason::BadFraming => "zibrato.broker.dropped.bad_framing",
    }
}
