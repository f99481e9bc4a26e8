//! The Rust core's `tracing` events, forwarded to Python's `logging`.
//!
//! Every event becomes a record on the logger `zibrato.<part>`: the event's target
//! with the `zibrato_` prefix dropped and `::` made `.` (`zibrato_client::zmq_link` is
//! `zibrato.client.zmq_link`; a dependency's `reqwest::connect` is
//! `zibrato.reqwest.connect`). Levels map to Python's: ERROR 40, WARN 30, INFO 20,
//! DEBUG 10, TRACE 5.
//!
//! Why a thread of its own: an event can come from any Rust thread, and some of those
//! are waited for by Python code that holds the GIL (a client dropped by the garbage
//! collector joins its publisher thread). An event that waited for the GIL there would
//! deadlock, so events go into a bounded queue ([`QUEUE`] records; past it they are
//! counted and the count is logged once the queue drains) and one thread, started at
//! the first record, hands them to Python. At interpreter exit (`stop`, from `atexit`) the queue is drained and later
//! records are written to stderr: a thread must not enter an interpreter that is being
//! torn down.
//!
//! Which events are made at all is the filter's business: `info` until a daemon run in
//! this process sets its `--log-level` (through `zibrato_common::embed_logging`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Records waiting for Python; past this they are dropped and counted.
const QUEUE: usize = 1024;

/// How long `stop` waits for the queue to drain at interpreter exit.
const DRAIN: Duration = Duration::from_millis(500);

/// The filter of a process with no daemon in it: what a client says.
const DEFAULT_FILTER: &str = "info";

struct Record {
    level: i32,
    logger: String,
    message: String,
}

/// The current queue's sending end, leaked: a child after `fork()` gets a new queue
/// and thread, and must not touch a lock the parent's threads may have held.
static SENDER: AtomicPtr<SyncSender<Record>> = AtomicPtr::new(std::ptr::null_mut());
/// Whether the forwarding thread is [`IDLE`] (not started: a process that imports the
/// package and never logs has no thread of ours, so Python 3.12+ does not warn at its
/// `fork()`), [`STARTING`] or [`RUNNING`].
static STATE: AtomicU8 = AtomicU8::new(IDLE);
const IDLE: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
/// Records sent and not yet handed to Python (or written to stderr).
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Records dropped at a full queue since the last report.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// False once the interpreter is exiting: records go to stderr.
static TO_PYTHON: AtomicBool = AtomicBool::new(true);
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn python_level(level: &Level) -> i32 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The Python logger's name for an event's target.
fn logger_name(target: &str) -> String {
    let dotted = target.replace("::", ".");
    let part = if let Some(rest) = dotted.strip_prefix("_zibrato") {
        // The extension's own modules (`_zibrato::worker`).
        format!("python{rest}")
    } else if let Some(rest) = dotted.strip_prefix("zibrato_") {
        rest.to_string()
    } else {
        dotted
    };
    format!("zibrato.{part}")
}

/// The message, then the other fields as ` key=value`, as the daemons print them.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

struct ToPython;

impl<S: Subscriber> Layer<S> for ToPython {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        message.text.push_str(&message.fields);
        let meta = event.metadata();
        send(Record {
            level: python_level(meta.level()),
            logger: logger_name(meta.target()),
            message: message.text,
        });
    }
}

fn send(record: Record) {
    if STATE.load(Ordering::Acquire) == IDLE
        && STATE
            .compare_exchange(IDLE, STARTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        start_forwarding();
    }
    let sender = SENDER.load(Ordering::Acquire);
    if sender.is_null() {
        // Another thread is starting the forwarding this very moment.
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let sender: &SyncSender<Record> = leaked(sender);
    PENDING.fetch_add(1, Ordering::AcqRel);
    match sender.try_send(record) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            PENDING.fetch_sub(1, Ordering::AcqRel);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[allow(unsafe_code)]
fn leaked(pointer: *mut SyncSender<Record>) -> &'static SyncSender<Record> {
    // SAFETY: only ever set from `Box::leak`, never freed, so valid for 'static.
    unsafe { &*pointer }
}

/// Hands records to Python, one at a time, until the process ends.
fn forward(records: Receiver<Record>) {
    let mut loggers: HashMap<String, Py<PyAny>> = HashMap::new();
    while let Ok(record) = records.recv() {
        deliver(&mut loggers, record);
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            deliver(
                &mut loggers,
                Record {
                    level: 30,
                    logger: "zibrato.python".to_string(),
                    message: format!(
                        "{dropped} log records were dropped: more than {QUEUE} waited for Python's logging"
                    ),
                },
            );
        }
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

fn deliver(loggers: &mut HashMap<String, Py<PyAny>>, record: Record) {
    if !TO_PYTHON.load(Ordering::Acquire) {
        eprintln!(
            "{} {}: {}",
            level_name(record.level),
            record.logger,
            record.message
        );
        return;
    }
    Python::attach(|py| {
        let logger = match loggers.get(&record.logger) {
            Some(logger) => logger.clone_ref(py),
            None => {
                let Ok(logger) = py
                    .import("logging")
                    .and_then(|m| m.call_method1("getLogger", (&record.logger,)))
                else {
                    return;
                };
                let logger = logger.unbind();
                loggers.insert(record.logger.clone(), logger.clone_ref(py));
                logger
            }
        };
        // A handler that raises is Python's logging's business (it prints and goes
        // on); an error here can only mean logging itself is gone.
        let _ = logger.call_method1(py, "log", (record.level, "%s", record.message));
    });
}

fn level_name(level: i32) -> &'static str {
    match level {
        40.. => "ERROR",
        30..=39 => "WARNING",
        20..=29 => "INFO",
        10..=19 => "DEBUG",
        _ => "TRACE",
    }
}

/// Starts a queue and its forwarding thread, at the first record (again in a child
/// after `fork()`).
fn start_forwarding() {
    let (sender, receiver) = sync_channel(QUEUE);
    PENDING.store(0, Ordering::Release);
    let spawned = std::thread::Builder::new()
        .name("zibrato-logging".to_string())
        .spawn(move || forward(receiver));
    if spawned.is_ok() {
        SENDER.store(Box::leak(Box::new(sender)), Ordering::Release);
    }
    STATE.store(RUNNING, Ordering::Release);
}

fn apply_filter(filter: EnvFilter) {
    if let Some(handle) = FILTER.get() {
        let _ = handle.reload(filter);
    }
}

/// Installs the forwarding as this process's `tracing` subscriber, at import. Another
/// extension that installed one first keeps it (and the events).
pub fn install() {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(DEFAULT_FILTER));
    let subscriber = Registry::default().with(filter).with(ToPython);
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let _ = FILTER.set(handle);
        zibrato_common::embed_logging(apply_filter);
    }
}

/// In a child process right after `fork()`: the parent's forwarding thread is not
/// here, so the child starts its own at its first record.
#[pyfunction]
pub fn logging_after_fork() {
    SENDER.store(std::ptr::null_mut(), Ordering::Release);
    PENDING.store(0, Ordering::Release);
    STATE.store(IDLE, Ordering::Release);
}

/// At interpreter exit (`atexit`): waits up to half a second, the GIL released, for
/// queued records to reach Python, then sends later ones to stderr.
#[pyfunction]
pub fn logging_at_exit(py: Python<'_>) {
    py.detach(|| {
        let deadline = zibrato_common::later(Instant::now(), DRAIN);
        while PENDING.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    TO_PYTHON.store(false, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::logger_name;

    #[test]
    fn targets_become_loggers_under_zibrato() {
        assert_eq!(
            logger_name("zibrato_client::zmq_link"),
            "zibrato.client.zmq_link"
        );
        assert_eq!(logger_name("zibrato_broker"), "zibrato.broker");
        assert_eq!(logger_name("_zibrato::worker"), "zibrato.python.worker");
        assert_eq!(logger_name("_zibrato"), "zibrato.python");
        assert_eq!(logger_name("reqwest::connect"), "zibrato.reqwest.connect");
    }
}
