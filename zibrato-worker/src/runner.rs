//! The worker's main loop: subscribe, decode, aggregate, flush on an aligned timer.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_common::curve::{KeyPair, PublicKey};
use zibrato_common::{RateLimiter, Shutdown, init_logging, later, now_us};
use zibrato_wire::limits::MAX_FRAME_LEN;
use zibrato_wire::{Frame, Level};

use crate::aggregate::Aggregator;
use crate::delivery::{Delivery, Ended};
use crate::pending::Bounds;
use crate::sequence::{Observed, SequenceTracker};
use crate::spool::{Spool, SpoolError};
use crate::telemetry::SelfMetrics;
use crate::{Backend, DeliveryError, Window, WorkerArgs, WorkerStats};

/// The exit status of a worker that stopped with windows undelivered at the end of
/// `--shutdown-timeout` (dropped and counted, or left in the spool for the next start).
pub const UNDELIVERED_EXIT_CODE: u8 = 3;

/// The longest a poll waits, so a stop signal is seen promptly.
const TICK: Duration = Duration::from_millis(100);

/// At shutdown, after withdrawing the subscriptions, reading stops once this long
/// passes without a frame…
const DRAIN_QUIET: Duration = Duration::from_secs(1);
/// …or after this long in all.
const DRAIN_MAX: Duration = Duration::from_secs(3);

/// Runs a worker until SIGTERM, SIGINT or SIGQUIT (then flushes, delivers within
/// `--shutdown-timeout`, and returns success, or [`UNDELIVERED_EXIT_CODE`] when windows
/// were left undelivered) or until the backend refuses it (then returns failure). Call it from `main` after parsing the command line: it sets up
/// logging (`--log-level`) and the signal handlers, then calls [`run_until`].
pub fn run<B: Backend>(args: WorkerArgs, backend: B) -> ExitCode {
    if let Err(message) = init_logging(&args.log_level) {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    zibrato_common::exit_on_panic();
    match Shutdown::install() {
        Ok(shutdown) => run_until(args, backend, &shutdown),
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a worker inside a program that owns logging and signals (an embedded worker,
/// the demo): until `shutdown` is requested, then flushes and delivers as [`run`] does.
pub fn run_until<B: Backend>(args: WorkerArgs, mut backend: B, shutdown: &Shutdown) -> ExitCode {
    let shutdown = shutdown.clone();
    match backend.check() {
        Ok(()) => info!(backend = backend.name(), "backend ready"),
        Err(DeliveryError::Fatal { reason }) => {
            error!(backend = backend.name(), "{reason}");
            return ExitCode::FAILURE;
        }
        Err(DeliveryError::Retry { reason, .. }) => {
            warn!(backend = backend.name(), %reason, "backend not reachable yet; starting anyway, deliveries will be retried")
        }
    }
    let socket = match subscribe(&args) {
        Ok(socket) => socket,
        Err(message) => {
            error!("{message}");
            return ExitCode::FAILURE;
        }
    };
    info!(endpoint = %args.endpoint(), levels = %args.levels.join(","), flush = ?args.flush, "worker subscribed");
    if !zibrato_common::is_loopback_host(&args.host) {
        info!(
            host = %args.host,
            "the broker is on another host: frames from it are not acknowledged, so a link that fails loses what is in flight; run a broker on this host with --upstream and --subscribe-upstream, and connect to it, for frames that are"
        );
    }

    let timer_values = backend.timer_values();
    let timer_sketch = backend.timer_sketch();
    let stats = Arc::new(WorkerStats::default());
    let (windows, inbox) = mpsc::channel();
    let spool = match &args.spool_dir {
        None => None,
        Some(dir) => match Spool::open(dir) {
            Ok(spool) => Some(spool),
            Err(SpoolError::InUse(message)) => {
                error!("{message}");
                return ExitCode::FAILURE;
            }
            Err(SpoolError::Unusable(message)) => {
                error!("{message}; windows are kept in memory only");
                stats.spool_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        },
    };
    let delivery = Delivery {
        bounds: Bounds {
            memory: usize::try_from(args.max_pending_bytes).unwrap_or(usize::MAX),
            spool: args.spool_max_bytes,
        },
        spool,
        shutdown_timeout: args.shutdown_timeout,
        max_retry_after: args.max_retry_after,
        stats: Arc::clone(&stats),
        shutdown: shutdown.clone(),
    };
    let delivery = std::thread::Builder::new()
        .name("zibrato-delivery".into())
        .spawn(move || delivery.run(backend, inbox));
    let delivery = match delivery {
        Ok(handle) => handle,
        Err(e) => {
            error!("cannot start the delivery thread: {e}");
            return ExitCode::FAILURE;
        }
    };

    let source = args
        .source
        .clone()
        .unwrap_or_else(|| zibrato_common::host_name("zibrato-worker"));
    let mut ingest = Ingest {
        aggregator: Aggregator::new(args.percentiles.clone(), args.expire_after)
            .with_timer_values(timer_values)
            .with_timer_sketch(timer_sketch)
            .with_max_series(usize::try_from(args.max_series).unwrap_or(usize::MAX)),
        sequences: SequenceTracker::default(),
        telemetry: SelfMetrics::new(Arc::clone(&stats), &source),
        levels: args.levels.clone(),
        malformed_log: RateLimiter::new(Duration::from_secs(10)),
        overflow_log: RateLimiter::new(Duration::from_secs(10)),
        max_series: args.max_series,
        interval: args.flush,
        self_metrics: args
            .levels
            .iter()
            .any(|l| l == zibrato_common::SELF_METRICS_LEVEL),
    };
    let result = ingest.run(&socket, &shutdown, &windows, args.expire_after);
    drop(windows);
    let ended = join_delivery(delivery, args.shutdown_timeout);
    log_totals(&stats, shutdown.signal_name());
    match (result, ended) {
        (Ok(()), Ended::Clean) => ExitCode::SUCCESS,
        (Err(message), _) => {
            error!("{message}");
            ExitCode::FAILURE
        }
        (_, Ended::Fatal) => ExitCode::FAILURE,
        (Ok(()), Ended::Undelivered) => ExitCode::from(UNDELIVERED_EXIT_CODE),
    }
}

/// Waits for the delivery thread to deliver what is left. It gives up by itself at
/// `--shutdown-timeout`, but a backend call already under way may not return (a
/// service that accepts the connection and never answers): past the timeout and a
/// second of grace, the worker exits without it, with a failure code.
fn join_delivery(delivery: std::thread::JoinHandle<Ended>, timeout: Duration) -> Ended {
    let deadline = later(
        Instant::now(),
        timeout.saturating_add(Duration::from_secs(1)),
    );
    while !delivery.is_finished() {
        if Instant::now() >= deadline {
            error!(
                timeout = ?timeout,
                "the backend did not return within the shutdown timeout; exiting without it"
            );
            return Ended::Fatal;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // A panic on the delivery thread has already ended the process (exit_on_panic);
    // an embedding program without that hook sees a failure.
    delivery.join().unwrap_or(Ended::Fatal)
}

/// A subscription message for an XSUB socket: 1 (subscribe) or 0 (withdraw), then the
/// topic.
fn subscription(kind: u8, topic: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(topic.len() + 1);
    message.push(kind);
    message.extend_from_slice(topic);
    message
}

fn subscribe(args: &WorkerArgs) -> Result<zmq::Socket, String> {
    let keys = match (&args.curve_secret_file, &args.curve_server_key) {
        (Some(secret), Some(server)) => Some((
            KeyPair::from_secret_file(secret).map_err(|e| e.to_string())?,
            PublicKey::parse(server).map_err(|e| e.to_string())?,
        )),
        _ => None,
    };
    let context = zmq::Context::new();
    let socket = context
        // XSUB rather than SUB: its subscriptions are messages it sends, and it does not
        // filter what arrives by them, so at shutdown the worker can withdraw them and
        // still take in the frames already on their way (a SUB would drop them).
        .socket(zmq::XSUB)
        .map_err(|e| format!("cannot create the subscriber socket: {e}"))?;
    let configure = || -> Result<(), zmq::Error> {
        socket.set_rcvhwm(args.hwm)?;
        socket.set_maxmsgsize(MAX_FRAME_LEN as i64)?;
        socket.set_heartbeat_ivl(2000)?;
        socket.set_heartbeat_timeout(6000)?;
        // Back within milliseconds of a broker restart, and never more than half a
        // second late: the broker and publishers hold a level for its grace (30 s by
        // default), and resubscribing ends the wait.
        socket.set_reconnect_ivl(20)?;
        socket.set_reconnect_ivl_max(500)?;
        socket.set_ipv6(args.host.contains(':'))?;
        if let Some((pair, server)) = &keys {
            pair.connect_to(&socket, server)?;
        }
        for level in &args.levels {
            if let Ok(level) = Level::new(level) {
                socket.send(subscription(1, level.topic().as_bytes()), 0)?;
            }
        }
        Ok(())
    };
    configure().map_err(|e| format!("cannot configure the subscriber socket: {e}"))?;
    socket
        .connect(&args.endpoint())
        .map_err(|e| format!("cannot connect to {}: {e}", args.endpoint()))?;
    Ok(socket)
}

struct Ingest {
    aggregator: Aggregator,
    sequences: SequenceTracker,
    telemetry: SelfMetrics,
    levels: Vec<String>,
    malformed_log: RateLimiter,
    overflow_log: RateLimiter,
    max_series: u64,
    interval: Duration,
    /// Whether `zibrato` is among the levels: the switch for all self-metrics.
    self_metrics: bool,
}

impl Ingest {
    fn run(
        &mut self,
        socket: &zmq::Socket,
        shutdown: &Shutdown,
        windows: &mpsc::Sender<Window>,
        expire_after: Duration,
    ) -> Result<(), String> {
        let mut schedule = Schedule::new(self.interval, now_us(), Instant::now());
        let mut msg = zmq::Message::new();
        while !shutdown.is_requested() {
            let now = Instant::now();
            if now >= schedule.next_flush {
                let measure_time_us = schedule.advance(now_us(), now);
                self.flush(measure_time_us, windows);
                self.sequences.expire(now, expire_after);
                continue;
            }
            let wait = (schedule.next_flush - now).min(TICK);
            match socket.poll(zmq::POLLIN, wait.as_millis().max(1) as i64) {
                Ok(0) | Err(zmq::Error::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(format!("polling the subscriber socket failed: {e}")),
            }
            for _ in 0..4096 {
                match socket.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {
                        if msg.get_more() {
                            self.discard_multipart(socket, &mut msg)?;
                        } else {
                            self.accept(&msg);
                        }
                    }
                    Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => break,
                    Err(e) => return Err(format!("receiving from the broker failed: {e}")),
                }
            }
            self.warn_overflow();
        }
        self.drain(socket);
        // Deliver what is held.
        let measure_time_us = schedule.last_window(now_us());
        self.flush(measure_time_us, windows);
        Ok(())
    }

    /// Before stopping: withdraws the subscriptions, so the broker (and publishers)
    /// hold these levels for their grace instead of sending them here, and reads what
    /// was already on its way (the XSUB socket keeps accepting it), until [`DRAIN_QUIET`] passes without a frame (at most
    /// [`DRAIN_MAX`]). Without this, frames sent between the stop signal and the
    /// connection closing would be lost with the process.
    fn drain(&mut self, socket: &zmq::Socket) {
        for level in &self.levels {
            if let Ok(level) = Level::new(level) {
                let _ = socket.send(subscription(0, level.topic().as_bytes()), 0);
            }
        }
        let started = Instant::now();
        let mut quiet_since = Instant::now();
        let mut msg = zmq::Message::new();
        while started.elapsed() < DRAIN_MAX && quiet_since.elapsed() < DRAIN_QUIET {
            match socket.poll(zmq::POLLIN, 20) {
                Ok(n) if n > 0 => {}
                _ => continue,
            }
            while let Ok(()) = socket.recv(&mut msg, zmq::DONTWAIT) {
                if msg.get_more() {
                    if self.discard_multipart(socket, &mut msg).is_err() {
                        return;
                    }
                } else {
                    self.accept(&msg);
                }
                quiet_since = Instant::now();
            }
        }
    }

    /// Frames are single-part (the broker drops multipart messages); one that arrives
    /// anyway is dropped whole as malformed, never decoded part by part.
    fn discard_multipart(
        &mut self,
        socket: &zmq::Socket,
        msg: &mut zmq::Message,
    ) -> Result<(), String> {
        while msg.get_more() {
            socket
                .recv(msg, 0)
                .map_err(|e| format!("receiving from the broker failed: {e}"))?;
        }
        self.telemetry
            .stats()
            .malformed
            .fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.malformed_log.check() {
            warn!(
                suppressed,
                "dropped a multipart message: frames are single-part"
            );
        }
        Ok(())
    }

    /// Warns, at a limited rate, that new series are being folded into the overflow
    /// series, naming one of them.
    fn warn_overflow(&mut self) {
        let total = self.aggregator.overflowed();
        let stats = self.telemetry.stats();
        let before = stats.overflow_measurements.swap(total, Ordering::Relaxed);
        if total == before {
            return;
        }
        if let Some(suppressed) = self.overflow_log.check() {
            if let Some(refused) = self.aggregator.take_refused() {
                warn!(
                    max_series = self.max_series,
                    level = %refused.level,
                    kind = ?refused.kind,
                    example = %refused.name,
                    folded_measurements = total,
                    suppressed,
                    "series limit reached: measurements of new series go to {} (raise --max-series, or take ids out of metric names)",
                    crate::OVERFLOW_NAME,
                );
            }
        }
    }

    fn accept(&mut self, bytes: &[u8]) {
        let stats = self.telemetry.stats();
        match Frame::decode(bytes) {
            Ok(frame) => {
                let now = Instant::now();
                let level = frame.level().as_str();
                let index = self
                    .levels
                    .iter()
                    .position(|l| l == level)
                    .unwrap_or(usize::from(u16::MAX)) as u16;
                let header = frame.header();
                match self
                    .sequences
                    .observe(header.publisher, index, header.sequence, now)
                {
                    Observed::Duplicate => {
                        stats.duplicate_frames.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Observed::Late => {
                        stats.late_frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Observed::New { lost } => {
                        stats.lost_frames.fetch_add(lost, Ordering::Relaxed);
                    }
                }
                let added = self.aggregator.ingest(&frame, now);
                stats.frames.fetch_add(1, Ordering::Relaxed);
                stats
                    .measurements
                    .fetch_add(added as u64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.malformed_log.check() {
                    warn!(error = %e, suppressed, "dropped a malformed frame");
                }
            }
        }
    }

    fn flush(&mut self, measure_time_us: u64, windows: &mpsc::Sender<Window>) {
        let mut series = self.aggregator.flush(Instant::now());
        if series.is_empty() {
            // An idle worker sends nothing; its self-metrics wait for the next window
            // that has something (they are increases, so nothing is lost).
            return;
        }
        self.telemetry
            .stats()
            .flushes
            .fetch_add(1, Ordering::Relaxed);
        if self.self_metrics {
            series.extend(self.telemetry.window(self.aggregator.series_count()));
        }
        let window = Window {
            measure_time: measure_time_us / 1_000_000,
            interval: self.interval,
            series,
        };
        let _ = windows.send(window);
    }
}

/// When windows close: on the monotonic clock, so a wall clock stepped back or forward
/// neither stops flushing nor floods windows; each window is stamped from the wall
/// clock, rounded to the interval's boundary, and always later than the last one.
struct Schedule {
    interval: Duration,
    interval_us: u64,
    /// When the current window closes, on the monotonic clock.
    next_flush: Instant,
    /// The stamp of the last window, in microseconds since the Unix epoch.
    last_us: Option<u64>,
}

impl Schedule {
    fn new(interval: Duration, wall_us: u64, now: Instant) -> Schedule {
        let interval_us = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let until_boundary = interval_us - wall_us % interval_us;
        Schedule {
            interval,
            interval_us,
            next_flush: later(now, Duration::from_micros(until_boundary)),
            last_us: None,
        }
    }

    /// Closes the current window at `now` (wall clock `wall_us`, read at `now`): returns
    /// its stamp and sets the next close for the next wall-clock boundary, kept between
    /// half an interval and one and a half intervals away whatever the wall clock did,
    /// and after a stall (a suspended process) skipping the windows that were missed.
    fn advance(&mut self, wall_us: u64, now: Instant) -> u64 {
        let stamp = self.stamp(wall_us);
        let until_boundary = Duration::from_micros(self.interval_us - wall_us % self.interval_us);
        let wait = until_boundary.clamp(self.interval / 2, self.interval.saturating_mul(3) / 2);
        // From `now`, the moment the wall clock was read: from the planned time, a late
        // flush would pull the next one early, and the next earlier still.
        self.next_flush = later(now, wait);
        stamp
    }

    /// The stamp of the window closed at shutdown: the boundary at or after now.
    fn last_window(&mut self, wall_us: u64) -> u64 {
        let boundary = wall_us
            .div_ceil(self.interval_us)
            .saturating_mul(self.interval_us);
        self.after_last(boundary)
    }

    /// The boundary nearest to the wall clock (the flush runs a little after it).
    fn stamp(&mut self, wall_us: u64) -> u64 {
        let nearest = wall_us
            .saturating_add(self.interval_us / 2)
            .saturating_sub((wall_us.saturating_add(self.interval_us / 2)) % self.interval_us);
        self.after_last(nearest)
    }

    /// Stamps only move forward, by at least one interval: a wall clock stepped back
    /// must not give two windows the same time.
    fn after_last(&mut self, stamp: u64) -> u64 {
        let stamp = match self.last_us {
            Some(last) if stamp <= last => last.saturating_add(self.interval_us),
            _ => stamp,
        };
        self.last_us = Some(stamp);
        stamp
    }
}

fn log_totals(stats: &WorkerStats, signal: Option<&str>) {
    let l = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    info!(
        frames = l(&stats.frames),
        measurements = l(&stats.measurements),
        malformed = l(&stats.malformed),
        lost_frames = l(&stats.lost_frames),
        late_frames = l(&stats.late_frames),
        duplicate_frames = l(&stats.duplicate_frames),
        flushes = l(&stats.flushes),
        delivered_series = l(&stats.delivered_series),
        rejected_series = l(&stats.rejected_series),
        delivery_errors = l(&stats.delivery_errors),
        dropped_windows = l(&stats.dropped_windows),
        overflow_measurements = l(&stats.overflow_measurements),
        spool_errors = l(&stats.spool_errors),
        signal = signal.unwrap_or("none"),
        "worker stopped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn windows_follow_the_monotonic_clock_whatever_the_wall_clock_does() {
        let b = 10_000_000 * S;
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::from_secs(10), b + 3 * S, start);
        assert_eq!(schedule.next_flush - start, Duration::from_secs(7));
        let mut now = schedule.next_flush;
        assert_eq!(schedule.advance(b + 10 * S, now), b + 10 * S);
        assert_eq!(schedule.next_flush - now, Duration::from_secs(10));
        // The wall clock steps back an hour: the next window still closes in 10 s and
        // is stamped after the last one.
        now = schedule.next_flush;
        assert_eq!(schedule.advance(b + 20 * S - 3_600 * S, now), b + 20 * S);
        assert_eq!(schedule.next_flush - now, Duration::from_secs(10));
        // A day forward: one window, stamped by the wall clock, then the same pace.
        now = schedule.next_flush;
        assert_eq!(
            schedule.advance(b + 86_400 * S + 2 * S, now),
            b + 86_400 * S
        );
        let wait = schedule.next_flush - now;
        assert!(wait >= Duration::from_secs(5) && wait <= Duration::from_secs(15));
        // Late by a minute (a stalled process): the next close is ahead, not behind.
        now = schedule.next_flush + Duration::from_secs(60);
        schedule.advance(b + 86_470 * S, now);
        assert!(schedule.next_flush > now);
        // A flush that runs late does not pull the next one early.
        let planned = schedule.next_flush;
        now = planned + Duration::from_millis(300);
        schedule.advance(b + 86_480 * S + 300_000, now);
        assert_eq!(schedule.next_flush - now, Duration::from_millis(9_700));
        let planned = schedule.next_flush;
        schedule.advance(b + 86_490 * S, planned);
        assert_eq!(schedule.next_flush - planned, Duration::from_secs(10));
    }

    #[test]
    fn absurd_intervals_neither_panic_nor_wrap() {
        let start = Instant::now();
        let mut schedule = Schedule::new(Duration::MAX, u64::MAX, start);
        assert!(schedule.next_flush >= start);
        let stamp = schedule.advance(u64::MAX, start);
        assert!(schedule.last_window(u64::MAX) > stamp || stamp == u64::MAX);
        let mut tiny = Schedule::new(Duration::from_nanos(1), 5, start);
        let a = tiny.advance(5, start);
        let b = tiny.advance(5, start);
        assert!(b > a);
    }
}
