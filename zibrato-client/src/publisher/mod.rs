//! The publisher thread: drains the per-thread rings, batches measurements per level
//! into frames, keeps a bounded backlog, and hands frames to the link.

mod backlog;
mod batch;
mod interest;
mod send;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use zibrato_common::{RateLimiter, SELF_METRICS_LEVEL, Telemetry, later, now_us};
use zibrato_wire::{Header, Kind, Level, Value};

use backlog::{Backlog, Outgoing};
use batch::Batch;
use interest::{Interest, Want};

use crate::OverflowPolicy;
use crate::link::Link;
use crate::registry::SeriesInfo;
use crate::shared::{Event, Shared, add};

/// The publisher's settings, from the [`Builder`](crate::Builder).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub linger: Duration,
    pub max_frame_bytes: usize,
    pub max_backlog_bytes: usize,
    pub close_timeout: Duration,
    pub level_grace: Duration,
    pub stats_interval: Duration,
    pub source: Option<String>,
}

/// Everything the publisher keeps for one level.
struct LevelState {
    /// Its frame under construction.
    batch: Batch,
    /// The sequence number of its next frame.
    sequence: u64,
    /// Whether its measurements are sent, held or filtered.
    interest: Interest,
}

pub(crate) struct Publisher {
    shared: Arc<Shared>,
    link: Link,
    settings: Settings,
    rings: Vec<rtrb::Consumer<Event>>,
    series: Vec<SeriesInfo>,
    /// The registry's levels by index (synced with `series`).
    levels: Vec<Arc<str>>,
    /// What the publisher keeps for each of those levels, by the same index.
    states: Vec<LevelState>,
    /// Whether the client's own self-metrics are wanted.
    self_interest: Interest,
    /// Nothing in the backlog can be sent before this (all of it is held), unless a
    /// frame arrives or the subscriptions change.
    stalled_until: Option<Instant>,
    hold_log: RateLimiter,
    backlog_log: RateLimiter,
    backlog: Backlog,
    publisher_id: u64,
    telemetry: Telemetry,
    next_telemetry: Instant,
}

impl Publisher {
    pub(crate) fn new(shared: Arc<Shared>, link: Link, settings: Settings) -> Publisher {
        let source = settings
            .source
            .clone()
            .unwrap_or_else(|| "zibrato-client".to_string());
        Publisher {
            shared,
            link,
            rings: Vec::new(),
            series: Vec::new(),
            levels: Vec::new(),
            states: Vec::new(),
            self_interest: Interest::default(),
            stalled_until: None,
            hold_log: RateLimiter::new(Duration::from_secs(10)),
            backlog_log: RateLimiter::new(Duration::from_secs(10)),
            backlog: Backlog::new(settings.max_backlog_bytes),
            publisher_id: zibrato_common::random_publisher_id(),
            telemetry: Telemetry::new(&source),
            next_telemetry: later(Instant::now(), settings.stats_interval),
            settings,
        }
    }

    /// The publisher thread's loop, until the last handle is dropped.
    pub(crate) fn run(mut self) {
        loop {
            let now = Instant::now();
            if self.link.service(now) {
                self.refresh_wanted();
                self.shared
                    .publisher
                    .connected
                    .store(self.link.is_up(), Ordering::Relaxed);
            }
            let drained = self.drain();
            self.seal_due(now);
            self.send();
            if now >= self.next_telemetry {
                self.publish_telemetry();
                self.next_telemetry = later(now, self.settings.stats_interval);
            }
            let (flush, shutdown) = {
                let requests = self
                    .shared
                    .requests
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                (
                    requests.flush_requested > requests.flush_done,
                    requests.shutdown,
                )
            };
            if shutdown {
                self.finish();
                return;
            }
            if flush {
                self.flush_all();
                self.send();
                if self.backlog.is_empty() {
                    self.shared.complete_flushes();
                }
            }
            if drained == 0 {
                self.wait();
            }
        }
    }

    /// Sleeps until nudged or until something is due: a batch's linger, a retry of the
    /// backlog, or an idle tick to watch the connection.
    fn wait(&self) {
        let open = self.states.iter().any(|l| l.batch.opened.is_some());
        let timeout = if open || !self.backlog.is_empty() {
            self.settings
                .linger
                .clamp(Duration::from_millis(1), Duration::from_millis(10))
        } else {
            Duration::from_millis(50)
        };
        let requests = self
            .shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // A pending flush with frames left waits for the link like anything else:
        // returning at once would spin a core for as long as the broker is away or
        // slow to take them (up to the flush's timeout).
        let flush_pending = requests.flush_requested > requests.flush_done;
        if requests.shutdown || (flush_pending && self.backlog.is_empty()) {
            return;
        }
        self.shared.sleeping.store(true, Ordering::Relaxed);
        let _unused = self.shared.wake.wait_timeout(requests, timeout);
        self.shared.sleeping.store(false, Ordering::Relaxed);
    }

    fn drain(&mut self) -> usize {
        {
            let mut new = self
                .shared
                .new_rings
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.rings.append(&mut new);
        }
        if self.settings_block() && self.backlog.is_full() {
            // Block policy: stop draining so the rings fill and recorders wait.
            return 0;
        }
        let mut drained = 0;
        let mut rings = std::mem::take(&mut self.rings);
        for ring in &mut rings {
            let available = ring.slots();
            if available == 0 {
                continue;
            }
            if let Ok(chunk) = ring.read_chunk(available) {
                let (a, b) = chunk.as_slices();
                for event in a.iter().chain(b) {
                    self.ingest(*event);
                }
                drained += available;
                chunk.commit_all();
                add(&self.shared.publisher.taken, available as u64);
            }
        }
        // A ring whose thread has exited and that is empty is done.
        rings.retain(|r| !(r.is_abandoned() && r.is_empty()));
        self.rings = rings;
        drained
    }

    fn settings_block(&self) -> bool {
        matches!(self.shared.overflow, OverflowPolicy::Block(_))
    }

    fn ingest(&mut self, event: Event) {
        let id = event.series as usize;
        if id >= self.series.len() {
            self.shared
                .registry
                .sync(&mut self.series, &mut self.levels);
            self.refresh_wanted();
            if id >= self.series.len() {
                return;
            }
        }
        let info = &self.series[id];
        let level = usize::from(info.level);
        if self.link.is_up() && self.states[level].interest.want() == Want::No {
            add(&self.shared.publisher.filtered, 1);
            return;
        }
        let value = match info.kind {
            Kind::Counter => Value::Counter(event.raw as i64),
            Kind::Gauge => Value::Gauge(f64::from_bits(event.raw)),
            Kind::Timer => Value::Timer(event.raw),
        };
        let batch = &mut self.states[level].batch;
        if batch.opened.is_none() {
            batch.opened = Some((Instant::now(), now_us()));
        }
        if batch.push(event.series, info, value).is_err() {
            // The frame's tables are full: seal it and start the next one.
            self.seal(level);
            let info = &self.series[id];
            let batch = &mut self.states[level].batch;
            batch.opened = Some((Instant::now(), now_us()));
            if batch.push(event.series, info, value).is_err() {
                return;
            }
        }
        if self.states[level].batch.is_due() {
            self.seal(level);
        }
    }

    /// Takes in the link's subscriptions: which levels are sent, held or filtered.
    fn refresh_wanted(&mut self) {
        while self.states.len() < self.levels.len() {
            let level = &self.levels[self.states.len()];
            self.states.push(LevelState {
                batch: Batch::new(level, self.settings.max_frame_bytes),
                sequence: 0,
                interest: Interest::default(),
            });
        }
        let now = Instant::now();
        let grace = self.settings.level_grace;
        for level in 0..self.levels.len() {
            let wanted = Level::new(&self.levels[level])
                .is_ok_and(|l| self.link.wants(l.topic().as_bytes()));
            if self.states[level].interest.update(wanted, now, grace) {
                self.log_hold(level);
            }
        }
        let wanted =
            Level::new(SELF_METRICS_LEVEL).is_ok_and(|l| self.link.wants(l.topic().as_bytes()));
        self.self_interest.update(wanted, now, grace);
        self.stalled_until = None;
    }

    /// Says, at a limited rate, that a level lost its subscribers (held) or that its
    /// grace ran out (filtered from now on).
    fn log_hold(&mut self, level: usize) {
        let Some(suppressed) = self.hold_log.check() else {
            return;
        };
        let name = &self.levels[level];
        match self.states[level].interest.want() {
            Want::Held => info!(
                level = %name,
                grace = ?self.settings.level_grace,
                suppressed,
                "no subscriber for this level now; holding its frames until one returns"
            ),
            _ => warn!(
                level = %name,
                grace = ?self.settings.level_grace,
                suppressed,
                "no subscriber for this level for longer than the grace; its measurements are filtered"
            ),
        }
    }

    /// When the next held level's grace runs out.
    fn next_grace_end(&self) -> Option<Instant> {
        let grace = self.settings.level_grace;
        self.states
            .iter()
            .map(|l| &l.interest)
            .chain([&self.self_interest])
            .filter_map(|interest| interest.grace_end(grace))
            .min()
    }

    fn seal_due(&mut self, now: Instant) {
        for level in 0..self.states.len() {
            if let Some((opened, _)) = self.states[level].batch.opened {
                if now.duration_since(opened) >= self.settings.linger {
                    self.seal(level);
                }
            }
        }
    }

    fn flush_all(&mut self) {
        self.drain();
        for level in 0..self.states.len() {
            self.seal(level);
        }
    }

    fn seal(&mut self, level: usize) {
        let LevelState {
            batch, sequence, ..
        } = &mut self.states[level];
        let Some((_, time_us)) = batch.opened else {
            return;
        };
        let measurements = batch.builder.len() as u64;
        let publisher = self.publisher_id;
        let encoded = Level::new(&self.levels[level]).and_then(|l| {
            let longest = Header {
                publisher,
                sequence: *sequence,
                time_us,
            };
            let mut bytes = vec![0u8; batch.builder.encoded_len(l, &longest)];
            // The same rule as a device's: zibrato_core::seal numbers the frame.
            let len = zibrato_core::seal(
                &mut batch.builder,
                l,
                publisher,
                sequence,
                time_us,
                &mut bytes,
            )?
            .len();
            bytes.truncate(len);
            Ok(bytes)
        });
        batch.clear();
        match encoded {
            Ok(bytes) => {
                self.enqueue(Outgoing {
                    level: Some(level),
                    bytes,
                    measurements,
                    essential: false,
                });
            }
            Err(error) => {
                warn!(%error, "cannot encode a frame; its measurements are dropped");
                add(&self.shared.publisher.dropped_backlog, measurements);
            }
        }
    }

    /// The last handle is gone: send what is held, within the close timeout, with a
    /// last report of the client's own counters.
    fn finish(mut self) {
        let deadline = later(Instant::now(), self.settings.close_timeout);
        self.flush_all();
        self.publish_telemetry();
        loop {
            if self.link.service(Instant::now()) {
                self.refresh_wanted();
            }
            self.send();
            if self.backlog.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !self.backlog.is_empty() {
            warn!(
                frames = self.backlog.len(),
                measurements = self.backlog.measurements(),
                "closing with frames the broker never took; they are dropped"
            );
            add(
                &self.shared.publisher.dropped_backlog,
                self.backlog.measurements(),
            );
        }
        self.shared.complete_flushes();
        let linger = deadline.saturating_duration_since(Instant::now());
        self.link.close(linger);
    }
}
