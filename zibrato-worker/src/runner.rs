//! The worker's main loop: subscribe, decode, aggregate, flush on an aligned timer.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_daemon::{RateLimiter, Shutdown, init_logging, now_us};
use zibrato_wire::limits::MAX_FRAME_LEN;
use zibrato_wire::{Frame, Level};

use crate::aggregate::Aggregator;
use crate::delivery::{Delivery, Ended};
use crate::sequence::SequenceTracker;
use crate::telemetry::SelfMetrics;
use crate::{Backend, DeliveryError, Window, WorkerArgs, WorkerStats};

/// The longest a poll waits, so a stop signal is seen promptly.
const TICK: Duration = Duration::from_millis(100);

/// Runs a worker until SIGTERM, SIGINT or SIGQUIT (then flushes, delivers within
/// `--shutdown-timeout`, and returns success) or until the backend refuses it (then
/// returns failure). Call it from `main` after parsing the command line: it sets up
/// logging (`--log-level`) and the signal handlers, then calls [`run_until`].
pub fn run<B: Backend>(args: WorkerArgs, backend: B) -> ExitCode {
    if let Err(message) = init_logging(&args.log_level) {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
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

    let timer_values = backend.timer_values();
    let stats = Arc::new(WorkerStats::default());
    let (windows, inbox) = mpsc::channel();
    let delivery = Delivery {
        max_pending: args.max_pending_windows.max(1),
        shutdown_timeout: args.shutdown_timeout,
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
        .unwrap_or_else(|| zibrato_daemon::host_name("zibrato-worker"));
    let mut ingest = Ingest {
        aggregator: Aggregator::new(args.percentiles.clone(), args.expire_after)
            .with_timer_values(timer_values),
        sequences: SequenceTracker::default(),
        telemetry: SelfMetrics::new(Arc::clone(&stats), &source),
        levels: args.levels.clone(),
        malformed_log: RateLimiter::new(Duration::from_secs(10)),
        interval: args.flush,
        self_metrics: args
            .levels
            .iter()
            .any(|l| l == zibrato_daemon::SELF_METRICS_LEVEL),
    };
    let result = ingest.run(&socket, &shutdown, &windows, args.expire_after);
    drop(windows);
    let ended = delivery.join().unwrap_or(Ended::Fatal);
    log_totals(&stats, shutdown.signal_name());
    match (result, ended) {
        (Ok(()), Ended::Clean) => ExitCode::SUCCESS,
        (Err(message), _) => {
            error!("{message}");
            ExitCode::FAILURE
        }
        (_, Ended::Fatal) => ExitCode::FAILURE,
    }
}

fn subscribe(args: &WorkerArgs) -> Result<zmq::Socket, String> {
    let context = zmq::Context::new();
    let socket = context
        .socket(zmq::SUB)
        .map_err(|e| format!("cannot create the subscriber socket: {e}"))?;
    let configure = || -> Result<(), zmq::Error> {
        socket.set_rcvhwm(args.hwm)?;
        socket.set_maxmsgsize(MAX_FRAME_LEN as i64)?;
        socket.set_heartbeat_ivl(2000)?;
        socket.set_heartbeat_timeout(6000)?;
        socket.set_reconnect_ivl(100)?;
        socket.set_reconnect_ivl_max(2000)?;
        socket.set_ipv6(args.host.contains(':'))?;
        for level in &args.levels {
            if let Ok(level) = Level::new(level) {
                socket.set_subscribe(level.topic().as_bytes())?;
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
        let interval_us = (self.interval.as_micros() as u64).max(1);
        let mut next_flush_us = (now_us() / interval_us + 1) * interval_us;
        let mut msg = zmq::Message::new();
        while !shutdown.is_requested() {
            let now = now_us();
            if now >= next_flush_us {
                self.flush(next_flush_us, windows);
                self.sequences.expire(Instant::now(), expire_after);
                // After a long stall, skip the windows that were missed.
                next_flush_us = (now / interval_us + 1) * interval_us;
                continue;
            }
            let wait = Duration::from_micros(next_flush_us - now).min(TICK);
            match socket.poll(zmq::POLLIN, wait.as_millis().max(1) as i64) {
                Ok(0) | Err(zmq::Error::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(format!("polling the subscriber socket failed: {e}")),
            }
            for _ in 0..4096 {
                match socket.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => self.accept(&msg),
                    Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => break,
                    Err(e) => return Err(format!("receiving from the broker failed: {e}")),
                }
            }
        }
        // Stop reading; deliver what is held.
        let now = now_us();
        self.flush(now.div_ceil(interval_us) * interval_us, windows);
        Ok(())
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
                let lost = self
                    .sequences
                    .observe(header.publisher, index, header.sequence, now);
                let added = self.aggregator.ingest(&frame, now);
                stats.frames.fetch_add(1, Ordering::Relaxed);
                stats
                    .measurements
                    .fetch_add(added as u64, Ordering::Relaxed);
                stats.lost_frames.fetch_add(lost, Ordering::Relaxed);
            }
            Err(e) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.malformed_log.check() {
                    warn!(error = %e, suppressed, "dropped a malformed frame");
                }
            }
        }
    }

    fn flush(&mut self, boundary_us: u64, windows: &mpsc::Sender<Window>) {
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
            measure_time: boundary_us / 1_000_000,
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
        flushes = l(&stats.flushes),
        delivered_series = l(&stats.delivered_series),
        rejected_series = l(&stats.rejected_series),
        delivery_errors = l(&stats.delivery_errors),
        dropped_windows = l(&stats.dropped_windows),
        signal = signal.unwrap_or("none"),
        "worker stopped"
    );
}
