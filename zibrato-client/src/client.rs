//! The client handle and its record calls.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zibrato_wire::Kind;

use crate::guard::{CountGuard, TimeGuard};
use crate::handle::{Counter, Gauge, Timer};
use crate::local::{self, Outcome};
use crate::registry::KeyRef;
use crate::shared::Shared;
use crate::{Builder, ClientStats, Error, Spy};

/// Owns the publisher thread; dropping the last handle stops it after delivering what
/// it holds (within the close timeout).
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Asks the publisher to finish and waits for it (once; later calls return).
    fn stop(&self) {
        self.shared.request_shutdown();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Zibrato client: records counters, gauges and timers without blocking, and
/// publishes them in the background.
///
/// Cheap to clone (one reference count) and usable from any number of threads. Every
/// record call takes a level and a name; the source is the handle's own (see
/// [`with_source`](Self::with_source)). Record calls never block, never allocate once a
/// series has been seen by the calling thread, and never fail: a problem (an invalid
/// name, a full buffer) is counted in [`stats`](Self::stats). The `try_*` twins return
/// it as an [`Error`] instead.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use zibrato_client::Zibrato;
///
/// let z = Zibrato::new()?; // broker at 127.0.0.1:5550
/// z.count("info", "requests");
/// z.count_by("info", "bytes.in", 1_500);
/// z.gauge("info", "queue.depth", 17.0);
/// {
///     let _timer = z.time_me("info", "db.query");
///     // … the timed block …
/// }
/// let rows = z.timed("info", "db.load", || 42);
/// z.flush(Duration::from_secs(1))?;
/// # Ok::<(), zibrato_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Zibrato {
    inner: Arc<Inner>,
    source: Option<Arc<str>>,
}

impl std::fmt::Debug for Zibrato {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zibrato")
            .field("source", &self.source)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Zibrato {
    /// A client for the broker at 127.0.0.1:5550, with every default.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> Result<Zibrato, Error> {
        Builder::default().build()
    }

    /// A builder, to set the host, port, source, buffers and policies.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A client whose frames go nowhere.
    pub fn noop() -> Zibrato {
        Builder::default()
            .noop()
            .build()
            .expect("a no-op client has no failure to report")
    }

    /// A client whose frames are decoded into the returned [`Spy`] instead of sent: for
    /// testing your own instrumentation without a network.
    pub fn spy() -> (Zibrato, Spy) {
        let spy = Spy::default();
        let z = Builder::default()
            .spy(spy.clone())
            .build()
            .expect("a spy client has no failure to report");
        (z, spy)
    }

    pub(crate) fn from_parts(inner: Arc<Inner>, source: Option<Arc<str>>) -> Zibrato {
        Zibrato { inner, source }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// A handle to the same client whose measurements carry `source`.
    ///
    /// An invalid source is not an error here: the record calls made through the handle
    /// are rejected and counted, like any invalid name.
    pub fn with_source(&self, source: &str) -> Zibrato {
        Zibrato {
            inner: Arc::clone(&self.inner),
            source: Some(Arc::from(source)),
        }
    }

    /// The source this handle's measurements carry, if it has one.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    #[inline]
    fn key<'a>(&'a self, kind: Kind, level: &'a str, name: &'a str) -> KeyRef<'a> {
        KeyRef {
            kind,
            level,
            name,
            source: self.source.as_deref(),
        }
    }

    #[inline]
    fn record(&self, kind: Kind, level: &str, name: &str, raw: u64) -> Outcome {
        local::record(self.shared(), self.key(kind, level, name), raw)
    }

    /// Counts one occurrence.
    #[inline]
    pub fn count(&self, level: &str, name: &str) {
        self.record(Kind::Counter, level, name, 1);
    }

    /// Counts `value` occurrences (0 is sent as 0; negative values are allowed).
    #[inline]
    pub fn count_by(&self, level: &str, name: &str, value: i64) {
        self.record(Kind::Counter, level, name, value as u64);
    }

    /// Records a gauge reading. A NaN or infinite value is rejected and counted.
    #[inline]
    pub fn gauge(&self, level: &str, name: &str, value: f64) {
        if value.is_finite() {
            self.record(Kind::Gauge, level, name, value.to_bits());
        } else {
            local::reject(self.shared());
        }
    }

    /// Records a duration.
    #[inline]
    pub fn time(&self, level: &str, name: &str, elapsed: Duration) {
        self.time_ns(level, name, saturating_nanos(elapsed));
    }

    /// Records a duration in nanoseconds.
    #[inline]
    pub fn time_ns(&self, level: &str, name: &str, nanos: u64) {
        self.record(Kind::Timer, level, name, nanos);
    }

    /// Like [`count_by`](Self::count_by), but says why a measurement was not taken.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLevel`], [`Error::InvalidName`], [`Error::TooManySeries`] or
    /// [`Error::BufferFull`].
    pub fn try_count_by(&self, level: &str, name: &str, value: i64) -> Result<(), Error> {
        let outcome = self.record(Kind::Counter, level, name, value as u64);
        self.explain(outcome, Kind::Counter, level, name)
    }

    /// Like [`gauge`](Self::gauge), but says why a measurement was not taken.
    ///
    /// # Errors
    ///
    /// As [`try_count_by`](Self::try_count_by), and [`Error::NonFiniteValue`].
    pub fn try_gauge(&self, level: &str, name: &str, value: f64) -> Result<(), Error> {
        if !value.is_finite() {
            local::reject(self.shared());
            return Err(Error::NonFiniteValue {
                name: name.to_string(),
            });
        }
        let outcome = self.record(Kind::Gauge, level, name, value.to_bits());
        self.explain(outcome, Kind::Gauge, level, name)
    }

    /// Like [`time`](Self::time), but says why a measurement was not taken.
    ///
    /// # Errors
    ///
    /// As [`try_count_by`](Self::try_count_by).
    pub fn try_time(&self, level: &str, name: &str, elapsed: Duration) -> Result<(), Error> {
        let outcome = self.record(Kind::Timer, level, name, saturating_nanos(elapsed));
        self.explain(outcome, Kind::Timer, level, name)
    }

    #[cold]
    fn explain(&self, outcome: Outcome, kind: Kind, level: &str, name: &str) -> Result<(), Error> {
        match outcome {
            Outcome::Recorded => Ok(()),
            Outcome::Dropped => Err(Error::BufferFull),
            Outcome::Rejected => {
                match self.shared().registry.resolve(self.key(kind, level, name)) {
                    Err(error) => Err(error),
                    Ok(_) => Err(Error::BufferFull),
                }
            }
        }
    }

    /// A guard that counts one occurrence when it goes out of scope: the counterpart of
    /// the original's `with z.Count_me(level, name):`. Nothing is counted if the scope
    /// is left by a panic.
    pub fn count_me<'a>(&'a self, level: &'a str, name: &'a str) -> CountGuard<'a> {
        CountGuard::new(self, level, name, 1)
    }

    /// A guard that counts `value` when it goes out of scope.
    pub fn count_me_by<'a>(&'a self, level: &'a str, name: &'a str, value: i64) -> CountGuard<'a> {
        CountGuard::new(self, level, name, value)
    }

    /// A guard that records the time from now until it goes out of scope: the
    /// counterpart of `with z.Time_me(level, name):`. The clock is monotonic, with
    /// nanosecond resolution. Nothing is recorded if the scope is left by a panic.
    pub fn time_me<'a>(&'a self, level: &'a str, name: &'a str) -> TimeGuard<'a> {
        TimeGuard::new(self, level, name)
    }

    /// Calls `f`, counts the call once it has returned, and returns its result.
    pub fn counted<R>(&self, level: &str, name: &str, f: impl FnOnce() -> R) -> R {
        let guard = self.count_me(level, name);
        let result = f();
        drop(guard);
        result
    }

    /// Calls `f`, records how long it took, and returns its result.
    pub fn timed<R>(&self, level: &str, name: &str, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = f();
        self.time(level, name, start.elapsed());
        result
    }

    /// A kept counter handle: registered once, so each increment skips the name
    /// lookup. The fastest way to count in a hot loop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLevel`], [`Error::InvalidName`] or [`Error::TooManySeries`].
    pub fn register_counter(&self, level: &str, name: &str) -> Result<Counter, Error> {
        let id = self
            .shared()
            .registry
            .resolve(self.key(Kind::Counter, level, name))?;
        Ok(Counter::new(Arc::clone(&self.inner), id))
    }

    /// A kept gauge handle.
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    pub fn register_gauge(&self, level: &str, name: &str) -> Result<Gauge, Error> {
        let id = self
            .shared()
            .registry
            .resolve(self.key(Kind::Gauge, level, name))?;
        Ok(Gauge::new(Arc::clone(&self.inner), id))
    }

    /// A kept timer handle.
    ///
    /// # Errors
    ///
    /// As [`register_counter`](Self::register_counter).
    pub fn register_timer(&self, level: &str, name: &str) -> Result<Timer, Error> {
        let id = self
            .shared()
            .registry
            .resolve(self.key(Kind::Timer, level, name))?;
        Ok(Timer::new(Arc::clone(&self.inner), id))
    }

    /// Sends everything recorded so far (by any thread, before this call) and waits
    /// up to `timeout` for ZeroMQ to take it for the broker (`Duration::MAX`: for as
    /// long as it takes). ZeroMQ's thread writes it to the network a moment later; see
    /// [`close`](Self::close) for a process about to end abruptly.
    ///
    /// # Errors
    ///
    /// [`Error::FlushTimeout`] with what is still queued, e.g. while the broker is away.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        if self.shared().flush(timeout) {
            return Ok(());
        }
        let stats = self.stats();
        Err(Error::FlushTimeout {
            timeout,
            frames: stats.queued_frames as usize,
            measurements: stats.queued_measurements,
        })
    }

    /// Stops publishing now, as dropping the last handle would: what was recorded
    /// before the call is sent, ZeroMQ is given what is left of the close timeout
    /// ([`Builder::close_timeout`], 1 s) to transmit it, and the publisher thread
    /// ends. [`flush`](Self::flush) hands frames to ZeroMQ, whose own thread puts
    /// them on the network a moment later; a process that ends without running
    /// destructors (`std::process::exit`, a forked child's `_exit`) calls this first so
    /// that moment is not cut short. Every clone and handle of the client stops
    /// publishing; what they record afterwards is dropped and counted. Calling it
    /// again does nothing.
    pub fn close(&self) {
        self.inner.stop();
    }

    /// Counts of what the client has recorded, sent, filtered and dropped.
    pub fn stats(&self) -> ClientStats {
        let threads = self.shared().thread_totals();
        let p = &self.shared().publisher;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            recorded: load(&p.taken),
            rejected: threads.rejected,
            dropped_buffer_full: threads.dropped,
            dropped_backlog: load(&p.dropped_backlog),
            filtered: load(&p.filtered),
            frames_sent: load(&p.frames_sent),
            measurements_sent: load(&p.measurements_sent),
            bytes_sent: load(&p.bytes_sent),
            queued_frames: load(&p.backlog_frames),
            queued_measurements: load(&p.backlog_measurements),
            queued_bytes: load(&p.backlog_bytes),
            connected: p.connected.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
