//! The way out: sealed frames into the bounded backlog, and from it to the link in
//! order, as each level's interest allows; the client's own report among them.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::warn;
use zibrato_common::later;

use super::Publisher;
use super::backlog::Outgoing;
use super::interest::Want;
use crate::shared::add;

impl Publisher {
    /// Puts a sealed frame in the backlog, under the overflow policy.
    pub(super) fn enqueue(&mut self, frame: Outgoing) {
        let dropped = self.backlog.push(frame, self.shared.overflow);
        if dropped > 0 {
            add(&self.shared.publisher.dropped_backlog, dropped);
            self.log_backlog_full();
        }
        self.stalled_until = None;
        self.publish_backlog_size();
    }

    /// Says, at a limited rate, that the backlog (what the broker has not taken, and
    /// what is held for absent subscribers) is full and measurements are dropped.
    fn log_backlog_full(&mut self) {
        if let Some(suppressed) = self.backlog_log.check() {
            warn!(
                max_backlog_bytes = self.settings.max_backlog_bytes,
                dropped_total = self
                    .shared
                    .publisher
                    .dropped_backlog
                    .load(Ordering::Relaxed),
                suppressed,
                "the backlog is full (broker away, or subscribers away within the level grace); dropping measurements"
            );
        }
    }

    fn publish_backlog_size(&self) {
        let counters = &self.shared.publisher;
        counters
            .backlog_frames
            .store(self.backlog.len() as u64, Ordering::Relaxed);
        counters
            .backlog_bytes
            .store(self.backlog.bytes() as u64, Ordering::Relaxed);
        counters
            .backlog_measurements
            .store(self.backlog.measurements(), Ordering::Relaxed);
    }

    /// Hands the link what it takes from the backlog, in order: frames of wanted
    /// levels are sent, of held levels kept, of levels nobody wants filtered.
    pub(super) fn send(&mut self) {
        if !self.link.is_up() || self.backlog.is_empty() {
            return;
        }
        let now = Instant::now();
        if self.stalled_until.is_some_and(|until| now < until) {
            return;
        }
        if self.next_grace_end().is_some_and(|end| now >= end) {
            self.refresh_wanted();
        }
        // Frames of held levels stay, in order, ahead of what is not yet tried.
        let mut held = VecDeque::new();
        let mut full = false;
        while let Some(frame) = self.backlog.pop_front() {
            let want = match frame.level {
                Some(level) => self
                    .states
                    .get(level)
                    .map_or(Want::No, |l| l.interest.want()),
                None => self.self_interest.want(),
            };
            match want {
                Want::Held => {
                    held.push_back(frame);
                    continue;
                }
                Want::No => add(&self.shared.publisher.filtered, frame.measurements),
                Want::Yes => {
                    if self.link.send(&frame.bytes).is_err() {
                        self.backlog.push_front(frame);
                        full = true;
                        break;
                    }
                    let counters = &self.shared.publisher;
                    add(&counters.frames_sent, 1);
                    add(&counters.measurements_sent, frame.measurements);
                    add(&counters.bytes_sent, frame.bytes.len() as u64);
                }
            }
        }
        while let Some(frame) = held.pop_back() {
            self.backlog.push_front(frame);
        }
        if !full && !self.backlog.is_empty() {
            // Everything left is held: nothing to do until a frame comes, the
            // subscriptions change, or a grace runs out.
            self.stalled_until = Some(
                self.next_grace_end()
                    .unwrap_or_else(|| later(now, Duration::from_secs(1))),
            );
        }
        self.publish_backlog_size();
    }

    /// Queues a report of the client's own counters, unless nobody listens.
    pub(super) fn publish_telemetry(&mut self) {
        let threads = self.shared.thread_totals();
        let p = &self.shared.publisher;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let counters = [
            ("zibrato.client.recorded", load(&p.taken)),
            ("zibrato.client.rejected", threads.rejected),
            ("zibrato.client.dropped.buffer_full", threads.dropped),
            ("zibrato.client.dropped.backlog", load(&p.dropped_backlog)),
            ("zibrato.client.filtered", load(&p.filtered)),
            ("zibrato.client.frames_sent", load(&p.frames_sent)),
            (
                "zibrato.client.measurements_sent",
                load(&p.measurements_sent),
            ),
        ];
        let gauges = [("zibrato.client.backlog_bytes", self.backlog.bytes() as f64)];
        if self.link.is_up() && self.self_interest.want() == Want::No {
            // Nobody listens: keep the totals, they go out as increases later.
            return;
        }
        if let Ok(bytes) = self.telemetry.encode(&counters, &gauges) {
            let measurements = (counters.len() + gauges.len()) as u64;
            self.enqueue(Outgoing {
                level: None,
                bytes,
                measurements,
                essential: true,
            });
        }
    }
}
