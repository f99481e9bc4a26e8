//! The publisher thread: drains the per-thread rings, batches measurements per level
//! into frames, keeps a bounded backlog, and hands frames to the link.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use tracing::{info, warn};
use zibrato_common::{RateLimiter, SELF_METRICS_LEVEL, Telemetry, later, now_us};
use zibrato_wire::{
    Error as WireError, FrameBuilder, Header, Kind, Level, SeriesId as FrameSeries, StringId, Value,
};

use crate::OverflowPolicy;
use crate::link::Link;
use crate::registry::{SeriesId, SeriesInfo};
use crate::shared::{Event, Shared, add};

/// String-table, series and value capacity of one frame under construction.
type Builder = FrameBuilder<Arc<str>, 2048, 1024, 4096>;

/// The most a single push can add to a frame: a new name and source (each a
/// varint length and up to 255 bytes), a series head and a 10-byte value.
const MAX_PUSH_GROWTH: usize = 2 * (2 + 255) + 4 * 5 + 10;

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

/// A frame ready to send.
struct Outgoing {
    /// The level's index, or `None` for the client's own self-metrics.
    level: Option<usize>,
    bytes: Vec<u8>,
    measurements: u64,
    /// Self-metrics: never dropped by the overflow policy, since their counters are
    /// increases since the previous report and a lost frame would lose them for good.
    essential: bool,
}

/// One level's frame under construction.
struct Batch {
    builder: Box<Builder>,
    /// Global series id → (generation, series in this frame).
    slots: Vec<Option<(u32, FrameSeries)>>,
    /// String identity (pointer) → entry in this frame's string table.
    strings: HashMap<usize, StringId, FxBuildHasher>,
    generation: u32,
    opened: Option<(Instant, u64)>,
    /// Seal once the string table and series pass this many bytes: the frame limit less
    /// the topic, the marker, the widest header and the largest single push.
    tables_budget: usize,
}

impl Batch {
    fn new(level: &str, max_frame_bytes: usize) -> Batch {
        let overhead = level.len() + 1 + 2 + Header::MAX_ENCODED_LEN + MAX_PUSH_GROWTH;
        Batch {
            builder: Box::new(Builder::new()),
            slots: Vec::new(),
            strings: HashMap::default(),
            generation: 1,
            opened: None,
            tables_budget: max_frame_bytes.saturating_sub(overhead),
        }
    }

    fn string(&mut self, s: &Arc<str>) -> Result<StringId, WireError> {
        let key = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&id) = self.strings.get(&key) {
            return Ok(id);
        }
        let id = self.builder.add_string(Arc::clone(s))?;
        self.strings.insert(key, id);
        Ok(id)
    }

    fn push(&mut self, id: SeriesId, info: &SeriesInfo, value: Value) -> Result<(), WireError> {
        let index = id as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        let series = match self.slots[index] {
            Some((generation, series)) if generation == self.generation => series,
            _ => {
                let name = self.string(&info.name)?;
                // The reserved `not_specified` is written as no source, as the spec asks.
                let source = match &info.source {
                    Some(s) if &**s != zibrato_wire::DEFAULT_SOURCE => Some(self.string(s)?),
                    _ => None,
                };
                let series = self.builder.add_series(info.kind, name, source)?;
                self.slots[index] = Some((self.generation, series));
                series
            }
        };
        self.builder.push_value(series, value)
    }

    fn clear(&mut self) {
        self.builder.clear();
        self.strings.clear();
        self.generation = self.generation.wrapping_add(1).max(1);
        self.opened = None;
    }
}

/// What becomes of a level's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A subscriber wants them: send.
    Yes,
    /// The last subscriber went away less than the level grace ago: batch and hold.
    Held,
    /// Nobody wants them (never did, or not for longer than the grace): filter.
    No,
}

/// A level's state after a subscription change: wanted, held while `lost_at` is less
/// than `grace` ago (set when it stops being wanted), or not wanted.
fn judge(
    wanted: bool,
    before: Want,
    lost_at: &mut Option<Instant>,
    now: Instant,
    grace: Duration,
) -> Want {
    if wanted {
        *lost_at = None;
        return Want::Yes;
    }
    if before == Want::Yes {
        *lost_at = Some(now);
    }
    match *lost_at {
        Some(lost) if now.saturating_duration_since(lost) < grace => Want::Held,
        _ => Want::No,
    }
}

pub(crate) struct Publisher {
    shared: Arc<Shared>,
    link: Link,
    settings: Settings,
    rings: Vec<rtrb::Consumer<Event>>,
    series: Vec<SeriesInfo>,
    levels: Vec<Arc<str>>,
    /// Whether each level is wanted by a subscriber, held for one, or neither.
    want: Vec<Want>,
    /// When each level lost its last subscriber, while it has none.
    lost_at: Vec<Option<Instant>>,
    /// The same for the level of the client's own self-metrics.
    self_want: Want,
    self_lost_at: Option<Instant>,
    /// Nothing in the backlog can be sent before this (all of it is held), unless a
    /// frame arrives or the subscriptions change.
    stalled_until: Option<Instant>,
    hold_log: RateLimiter,
    backlog_log: RateLimiter,
    batches: Vec<Batch>,
    sequences: Vec<u64>,
    backlog: VecDeque<Outgoing>,
    backlog_bytes: usize,
    backlog_measurements: u64,
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
            want: Vec::new(),
            lost_at: Vec::new(),
            self_want: Want::No,
            self_lost_at: None,
            stalled_until: None,
            hold_log: RateLimiter::new(Duration::from_secs(10)),
            backlog_log: RateLimiter::new(Duration::from_secs(10)),
            batches: Vec::new(),
            sequences: Vec::new(),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            backlog_measurements: 0,
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
        let open = self.batches.iter().any(|b| b.opened.is_some());
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
        if requests.shutdown || requests.flush_requested > requests.flush_done {
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
        if self.settings_block() && self.backlog_bytes >= self.settings.max_backlog_bytes {
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
        if self.link.is_up() && self.want[level] == Want::No {
            add(&self.shared.publisher.filtered, 1);
            return;
        }
        let value = match info.kind {
            Kind::Counter => Value::Counter(event.raw as i64),
            Kind::Gauge => Value::Gauge(f64::from_bits(event.raw)),
            Kind::Timer => Value::Timer(event.raw),
        };
        let batch = &mut self.batches[level];
        if batch.opened.is_none() {
            batch.opened = Some((Instant::now(), now_us()));
        }
        if batch.push(event.series, info, value).is_err() {
            // The frame's tables are full: seal it and start the next one.
            self.seal(level);
            let info = &self.series[id];
            let batch = &mut self.batches[level];
            batch.opened = Some((Instant::now(), now_us()));
            if batch.push(event.series, info, value).is_err() {
                return;
            }
        }
        let batch = &self.batches[level];
        if batch.builder.is_full() || batch.builder.tables_len() > batch.tables_budget {
            self.seal(level);
        }
    }

    fn refresh_wanted(&mut self) {
        while self.batches.len() < self.levels.len() {
            let level = &self.levels[self.batches.len()];
            self.batches
                .push(Batch::new(level, self.settings.max_frame_bytes));
            self.sequences.push(0);
        }
        let now = Instant::now();
        let grace = self.settings.level_grace;
        self.want.resize(self.levels.len(), Want::No);
        self.lost_at.resize(self.levels.len(), None);
        for level in 0..self.levels.len() {
            let wanted = Level::new(&self.levels[level])
                .is_ok_and(|l| self.link.wants(l.topic().as_bytes()));
            let before = self.want[level];
            self.want[level] = judge(wanted, before, &mut self.lost_at[level], now, grace);
            if self.want[level] != before && self.want[level] != Want::Yes && before != Want::No {
                self.log_hold(level);
            }
        }
        let wanted =
            Level::new(SELF_METRICS_LEVEL).is_ok_and(|l| self.link.wants(l.topic().as_bytes()));
        self.self_want = judge(wanted, self.self_want, &mut self.self_lost_at, now, grace);
        self.stalled_until = None;
    }

    /// Says, at a limited rate, that a level lost its subscribers (held) or that its
    /// grace ran out (filtered from now on).
    fn log_hold(&mut self, level: usize) {
        let Some(suppressed) = self.hold_log.check() else {
            return;
        };
        let name = &self.levels[level];
        match self.want[level] {
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
        self.lost_at
            .iter()
            .zip(&self.want)
            .chain([(&self.self_lost_at, &self.self_want)])
            .filter(|(_, want)| **want == Want::Held)
            .filter_map(|(lost, _)| lost.map(|l| later(l, self.settings.level_grace)))
            .min()
    }

    fn seal_due(&mut self, now: Instant) {
        for level in 0..self.batches.len() {
            if let Some((opened, _)) = self.batches[level].opened {
                if now.duration_since(opened) >= self.settings.linger {
                    self.seal(level);
                }
            }
        }
    }

    fn flush_all(&mut self) {
        self.drain();
        for level in 0..self.batches.len() {
            self.seal(level);
        }
    }

    fn seal(&mut self, level: usize) {
        let batch = &mut self.batches[level];
        let Some((_, time_us)) = batch.opened else {
            return;
        };
        let measurements = batch.builder.len() as u64;
        let publisher = self.publisher_id;
        let sequence = &mut self.sequences[level];
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

    fn enqueue(&mut self, frame: Outgoing) {
        let limit = self.settings.max_backlog_bytes;
        let over = |backlog_bytes: usize| backlog_bytes + frame.bytes.len() > limit;
        match self.shared.overflow {
            _ if frame.essential => {}
            OverflowPolicy::DropNewest if over(self.backlog_bytes) && !self.backlog.is_empty() => {
                add(&self.shared.publisher.dropped_backlog, frame.measurements);
                self.log_backlog_full();
                return;
            }
            OverflowPolicy::DropOldest => {
                while over(self.backlog_bytes) {
                    let Some(index) = self.backlog.iter().position(|f| !f.essential) else {
                        break;
                    };
                    let Some(old) = self.backlog.remove(index) else {
                        break;
                    };
                    self.forget(&old);
                    add(&self.shared.publisher.dropped_backlog, old.measurements);
                    self.log_backlog_full();
                }
            }
            _ => {}
        }
        self.backlog_bytes += frame.bytes.len();
        self.backlog_measurements += frame.measurements;
        self.backlog.push_back(frame);
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

    fn forget(&mut self, frame: &Outgoing) {
        self.backlog_bytes -= frame.bytes.len();
        self.backlog_measurements -= frame.measurements;
    }

    fn publish_backlog_size(&self) {
        let counters = &self.shared.publisher;
        counters
            .backlog_frames
            .store(self.backlog.len() as u64, Ordering::Relaxed);
        counters
            .backlog_bytes
            .store(self.backlog_bytes as u64, Ordering::Relaxed);
        counters
            .backlog_measurements
            .store(self.backlog_measurements, Ordering::Relaxed);
    }

    fn send(&mut self) {
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
                Some(level) => self.want.get(level).copied().unwrap_or(Want::No),
                None => self.self_want,
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
            self.forget(&frame);
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

    fn publish_telemetry(&mut self) {
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
        let gauges = [("zibrato.client.backlog_bytes", self.backlog_bytes as f64)];
        if self.link.is_up() && self.self_want == Want::No {
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
                measurements = self.backlog_measurements,
                "closing with frames the broker never took; they are dropped"
            );
            add(
                &self.shared.publisher.dropped_backlog,
                self.backlog_measurements,
            );
        }
        self.shared.complete_flushes();
        let linger = deadline.saturating_duration_since(Instant::now());
        self.link.close(linger);
    }
}
