//! The worker's main loop: subscribe, decode, aggregate, flush on an aligned timer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_common::exit::{FAILURE, SUCCESS, UNDELIVERED, USAGE};
use zibrato_common::{Drain, RateLimiter, Shutdown, init_logging, later, now_us};
use zibrato_wire::{Frame, Level};

use crate::aggregate::Aggregator;
use crate::delivery::{Delivery, Ended};
use crate::pending::Bounds;
use crate::schedule::Schedule;
use crate::sequence::{Observed, REORDER_ALLOWANCE, SequenceTracker};
use crate::spool::{Spool, SpoolError};
use crate::subscriber::{subscribe, subscription};
use crate::telemetry::SelfMetrics;
use crate::{Backend, DeliveryError, Window, WorkerOptions, WorkerStats};

/// The longest a poll waits, so a stop signal is seen promptly.
const TICK: Duration = Duration::from_millis(100);

/// Runs a worker until SIGTERM, SIGINT or SIGQUIT (then flushes, delivers within
/// `--shutdown-timeout`, and returns [`exit::SUCCESS`], or [`exit::UNDELIVERED`] when
/// windows were left undelivered) or until the backend refuses it (then returns
/// [`exit::FAILURE`]); the status for `main` to exit with, as every Zibrato daemon's
/// (the [`exit`] table). Call it from `main` after parsing the command line: it sets up
/// logging (`--log-level`) and the signal handlers, then calls [`run_until`].
///
/// [`exit`]: crate::exit
/// [`exit::SUCCESS`]: crate::exit::SUCCESS
/// [`exit::UNDELIVERED`]: crate::exit::UNDELIVERED
/// [`exit::FAILURE`]: crate::exit::FAILURE
pub fn run<B: Backend>(options: impl Into<WorkerOptions>, backend: B) -> u8 {
    let args = options.into();
    if let Err(message) = init_logging(&args.log_level) {
        eprintln!("{message}");
        return USAGE;
    }
    zibrato_common::exit_on_panic();
    match Shutdown::install() {
        Ok(shutdown) => run_until(args, backend, &shutdown),
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            FAILURE
        }
    }
}

/// Runs a worker inside a program that owns logging and signals (an embedded worker,
/// the demo): until `shutdown` is requested, then flushes and delivers as [`run`] does,
/// and returns the same statuses.
pub fn run_until<B: Backend>(
    options: impl Into<WorkerOptions>,
    mut backend: B,
    shutdown: &Shutdown,
) -> u8 {
    let args: WorkerOptions = options.into();
    if let Err(message) = args.validate() {
        error!("{message}");
        return USAGE;
    }
    let shutdown = shutdown.clone();
    match backend.check() {
        Ok(()) => info!(backend = backend.name(), "backend ready"),
        Err(DeliveryError::Fatal { reason }) => {
            error!(backend = backend.name(), "{reason}");
            return FAILURE;
        }
        Err(DeliveryError::Retry { reason, .. }) => {
            warn!(backend = backend.name(), %reason, "backend not reachable yet; starting anyway, deliveries will be retried")
        }
    }
    if crate::config::hwm_from_legacy_variable(args.hwm) {
        warn!(
            hwm = args.hwm,
            "{} set this worker's --hwm; it is the broker's --worker-hwm, and a worker reads ZIBRATO_HWM from now on (the old name stops applying to workers in the next release)",
            crate::config::LEGACY_HWM_VARIABLE
        );
    }
    let socket = match subscribe(&args) {
        Ok(socket) => socket,
        Err(message) => {
            error!("{message}");
            return FAILURE;
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
                return FAILURE;
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
            return FAILURE;
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
        (Ok(()), Ended::Clean) => SUCCESS,
        (Err(message), _) => {
            error!("{message}");
            FAILURE
        }
        (_, Ended::Fatal) => FAILURE,
        (Ok(()), Ended::Undelivered) => UNDELIVERED,
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
                // Frames missing for longer than the reorder allowance are lost now,
                // in this window's figures.
                self.sequences.settle(now, REORDER_ALLOWANCE);
                self.sequences.expire(now, expire_after);
                self.note_loss();
                self.flush(measure_time_us, windows);
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
        // What is still missing will not come now.
        self.sequences.settle(Instant::now(), Duration::ZERO);
        self.note_loss();
        // Deliver what is held.
        let measure_time_us = schedule.last_window(now_us());
        self.flush(measure_time_us, windows);
        Ok(())
    }

    /// Before stopping: withdraws the subscriptions, so the broker (and publishers)
    /// hold these levels for their grace instead of sending them here, and reads what
    /// was already on its way (the XSUB socket keeps accepting it), until [`Drain::QUIET`] passes without a frame (at most
    /// [`Drain::MAX`]). Without this, frames sent between the stop signal and the
    /// connection closing would be lost with the process.
    fn drain(&mut self, socket: &zmq::Socket) {
        for level in &self.levels {
            if let Ok(level) = Level::new(level) {
                let _ = socket.send(subscription(0, level.topic().as_bytes()), 0);
            }
        }
        let mut drain = Drain::start(Instant::now());
        let mut msg = zmq::Message::new();
        while !drain.is_over(Instant::now()) {
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
                drain.took_frame(Instant::now());
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
                    Observed::New { .. } | Observed::Reordered => {}
                }
                self.note_loss();
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

    /// The frames counted lost so far, as the sequence tracker counts them (when they
    /// leave its window, at settling, and when pairs are forgotten).
    fn note_loss(&self) {
        let stats = self.telemetry.stats();
        stats
            .lost_frames
            .store(self.sequences.lost, Ordering::Relaxed);
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
