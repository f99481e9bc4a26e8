//! The recording client: one `zibrato_client::Zibrato` per Python `Zibrato`, and
//! call sites that keep a registered handle so a decorated call costs one short
//! crossing into Rust.
//!
//! `fork()`: a child process inherits the client's memory but not its publisher
//! thread or ZeroMQ's I/O threads, so a handle used there would fill buffers nobody
//! drains. The Python half calls [`Client::after_fork_in_child`] in every child
//! (`os.register_at_fork`); that builds a fresh client and bumps a generation number,
//! and each site re-registers its handle on its next use. The parent's client is
//! leaked in the child, never dropped: dropping it would wait for a thread that does
//! not exist there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use zibrato_client::{Counter, Spy, Timer, Value, Zibrato};

// The package's own exceptions (python/zibrato/_errors.py): `ConfigError` is also a
// `ValueError` and `FlushError` a `RuntimeError`, as these calls raised before.
pyo3::import_exception!(zibrato._errors, ConfigError);
pyo3::import_exception!(zibrato._errors, FlushError);

/// Where a client's frames go.
#[derive(Clone)]
enum Sink {
    /// To the broker, over ZeroMQ.
    Broker,
    /// Nowhere (`zibrato.testing.NoopZibrato`).
    Nowhere,
    /// Decoded into a spy (`zibrato.testing.SpyZibrato`).
    Spy(Spy),
}

impl Sink {
    fn parse(word: &str) -> PyResult<Sink> {
        match word {
            "broker" => Ok(Sink::Broker),
            "noop" => Ok(Sink::Nowhere),
            "spy" => Ok(Sink::Spy(Spy::default())),
            other => Err(ConfigError::new_err(format!(
                "sink must be 'broker', 'noop' or 'spy', not {other:?}"
            ))),
        }
    }
}

/// Distinct explicit sources whose derived clients are kept for `gauge` calls; past
/// this, a source's client is derived on each call (correct, a little slower).
const MAX_CACHED_SOURCES: usize = 1024;

struct State {
    zibrato: Zibrato,
    by_source: HashMap<String, Zibrato>,
}

impl State {
    fn for_source(&mut self, source: Option<&str>) -> Zibrato {
        match source {
            None => self.zibrato.clone(),
            Some(source) => {
                if let Some(z) = self.by_source.get(source) {
                    return z.clone();
                }
                let z = self.zibrato.with_source(source);
                if self.by_source.len() < MAX_CACHED_SOURCES {
                    self.by_source.insert(source.to_string(), z.clone());
                }
                z
            }
        }
    }
}

/// A client publishing to a broker.
#[pyclass(frozen, module = "zibrato._zibrato")]
pub struct Client {
    host: String,
    port: u16,
    source: Option<String>,
    /// The secret certificate's path and the broker's public key, for CURVE.
    curve: Option<(String, String)>,
    sink: Sink,
    state: Mutex<State>,
    /// Bumped in a child after `fork()`; sites re-register when it moves.
    generation: AtomicU64,
}

fn build(
    host: &str,
    port: u16,
    source: Option<&str>,
    curve: Option<&(String, String)>,
    sink: &Sink,
) -> PyResult<Zibrato> {
    let mut builder = Zibrato::builder().host(host).port(port);
    builder = match sink {
        Sink::Broker => builder,
        Sink::Nowhere => builder.noop(),
        Sink::Spy(spy) => builder.spy(spy.clone()),
    };
    if let Some(source) = source {
        builder = builder.source(source);
    }
    if let Some((secret, server)) = curve {
        builder = builder.curve(secret, server.as_str());
    }
    builder
        .build()
        .map_err(|e| ConfigError::new_err(e.to_string()))
}

impl Client {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-changed in a way
        // that matters (it holds clients), so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self, source: Option<&str>) -> (u64, Zibrato) {
        let mut state = self.lock();
        // Read under the lock, so a handle is never paired with a newer generation.
        (
            self.generation.load(Ordering::Acquire),
            state.for_source(source),
        )
    }
}

#[pymethods]
impl Client {
    /// A client for the broker at `host:port`; `source` is the default source;
    /// `curve_secret_file` and `curve_server_key` connect with CURVE to a broker that
    /// has keys; `sink` is `broker`, or `noop` or `spy` for tests.
    #[new]
    #[pyo3(signature = (host, port, source=None, curve_secret_file=None, curve_server_key=None, sink="broker"))]
    fn new(
        host: String,
        port: u16,
        source: Option<String>,
        curve_secret_file: Option<String>,
        curve_server_key: Option<String>,
        sink: &str,
    ) -> PyResult<Self> {
        let sink = Sink::parse(sink)?;
        let curve = match (curve_secret_file, curve_server_key) {
            (Some(secret), Some(server)) => Some((secret, server)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new_err(
                    "curve_secret_file and curve_server_key go together",
                ));
            }
        };
        let zibrato = build(&host, port, source.as_deref(), curve.as_ref(), &sink)?;
        Ok(Client {
            host,
            port,
            source,
            curve,
            sink,
            state: Mutex::new(State {
                zibrato,
                by_source: HashMap::new(),
            }),
            generation: AtomicU64::new(0),
        })
    }

    /// Records a gauge reading. Never raises: an invalid level or name, or a NaN, is
    /// counted in `stats()['rejected']`, as every record call is.
    #[pyo3(signature = (level, name, value, source=None))]
    fn gauge(&self, level: &str, name: &str, value: f64, source: Option<&str>) {
        self.current(source).1.gauge(level, name, value);
    }

    /// Adds `value` to a counter (any record call never raises; see `gauge`).
    #[pyo3(signature = (level, name, value, source=None))]
    fn count(&self, level: &str, name: &str, value: i64, source: Option<&str>) {
        self.current(source).1.count_by(level, name, value);
    }

    /// Records a duration in nanoseconds.
    #[pyo3(signature = (level, name, nanos, source=None))]
    fn time_ns(&self, level: &str, name: &str, nanos: u64, source: Option<&str>) {
        self.current(source).1.time_ns(level, name, nanos);
    }

    /// A call site counting `value` per event, checked now: `ValueError` names what is
    /// wrong with the level, name or source.
    #[pyo3(signature = (level, name, value, source=None))]
    fn counter_site(
        slf: &Bound<'_, Self>,
        level: String,
        name: String,
        value: i64,
        source: Option<String>,
    ) -> PyResult<CounterSite> {
        let (generation, z) = slf.get().current(source.as_deref());
        let handle = z
            .register_counter(&level, &name)
            .map_err(|e| ConfigError::new_err(e.to_string()))?;
        Ok(CounterSite {
            client: slf.clone().unbind(),
            level,
            name,
            source,
            value,
            handle: Some((generation, handle)),
        })
    }

    /// A call site recording durations, checked now (see `counter_site`).
    #[pyo3(signature = (level, name, source=None))]
    fn timer_site(
        slf: &Bound<'_, Self>,
        level: String,
        name: String,
        source: Option<String>,
    ) -> PyResult<TimerSite> {
        let (generation, z) = slf.get().current(source.as_deref());
        let handle = z
            .register_timer(&level, &name)
            .map_err(|e| ConfigError::new_err(e.to_string()))?;
        Ok(TimerSite {
            client: slf.clone().unbind(),
            level,
            name,
            source,
            handle: Some((generation, handle)),
        })
    }

    /// Publishes everything recorded so far, waiting at most `timeout` seconds, with
    /// the GIL released. `FlushError` if the broker did not take it all in time.
    #[pyo3(signature = (timeout=5.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let z = self.current(None).1;
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0))
            .map_err(|e| ConfigError::new_err(e.to_string()))?;
        py.detach(|| z.flush(timeout))
            .map_err(|e| FlushError::new_err(e.to_string()))
    }

    /// Stops publishing after sending what was recorded and giving ZeroMQ up to a
    /// second to put it on the network (the GIL released meanwhile). Later records
    /// are dropped and counted. For processes that end without destructors
    /// (`os._exit`).
    fn close(&self, py: Python<'_>) {
        let z = self.current(None).1;
        py.detach(|| z.close());
    }

    /// The client's counters (see the Rust `ClientStats`) as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.current(None).1.stats();
        let d = PyDict::new(py);
        d.set_item("recorded", s.recorded)?;
        d.set_item("rejected", s.rejected)?;
        d.set_item("dropped_buffer_full", s.dropped_buffer_full)?;
        d.set_item("dropped_backlog", s.dropped_backlog)?;
        d.set_item("filtered", s.filtered)?;
        d.set_item("frames_sent", s.frames_sent)?;
        d.set_item("measurements_sent", s.measurements_sent)?;
        d.set_item("queued_frames", s.queued_frames)?;
        d.set_item("connected", s.connected)?;
        Ok(d)
    }

    /// What a spy client published, as `(level, kind, name, source, value)` tuples
    /// (timers in seconds), removed from the spy; an empty list for other clients.
    fn spy_take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let Sink::Spy(spy) = &self.sink else {
            return Ok(list);
        };
        for m in spy.take() {
            let (kind, value) = match m.value {
                Value::Counter(n) => ("counter", n.into_pyobject(py)?.into_any()),
                Value::Gauge(x) => ("gauge", x.into_pyobject(py)?.into_any()),
                Value::Timer(ns) => ("timer", (ns as f64 * 1e-9).into_pyobject(py)?.into_any()),
            };
            list.append((m.level, kind, m.name, m.source, value))?;
        }
        Ok(list)
    }

    /// Called in a child process right after `fork()`: see the module documentation.
    fn after_fork_in_child(&self) -> PyResult<()> {
        let fresh = build(
            &self.host,
            self.port,
            self.source.as_deref(),
            self.curve.as_ref(),
            &self.sink,
        )?;
        let mut state = self.lock();
        let old = std::mem::replace(
            &mut *state,
            State {
                zibrato: fresh,
                by_source: HashMap::new(),
            },
        );
        // Never dropped in the child: its publisher thread exists only in the parent.
        std::mem::forget(old);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

/// The handle a site holds, valid for one client generation. Stale handles are
/// forgotten, not dropped, for the reason in the module documentation.
fn refresh<H>(
    client: &Client,
    held: &mut Option<(u64, H)>,
    source: Option<&str>,
    register: impl FnOnce(&Zibrato) -> Option<H>,
) {
    let now = client.generation.load(Ordering::Acquire);
    if held.as_ref().is_some_and(|(g, _)| *g == now) {
        return;
    }
    let (generation, z) = client.current(source);
    if let Some((_, stale)) = held.take() {
        std::mem::forget(stale);
    }
    *held = register(&z).map(|h| (generation, h));
}

/// A decorated function's or a `Count_me`'s counter.
#[pyclass(module = "zibrato._zibrato")]
pub struct CounterSite {
    client: Py<Client>,
    level: String,
    name: String,
    source: Option<String>,
    value: i64,
    handle: Option<(u64, Counter)>,
}

#[pymethods]
impl CounterSite {
    /// `with site:` (what `z.Count_me(...)` gives): nothing on entry.
    fn __enter__(&self) {}

    /// Counts when the block ends, by an exception too, which it does not swallow.
    fn __exit__(
        &mut self,
        _kind: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> bool {
        self.hit();
        false
    }

    /// Counts one event (by the site's value).
    fn hit(&mut self) {
        let (level, name) = (&self.level, &self.name);
        refresh(
            self.client.get(),
            &mut self.handle,
            self.source.as_deref(),
            |z| z.register_counter(level, name).ok(),
        );
        if let Some((_, counter)) = &self.handle {
            counter.increment(self.value);
        }
    }
}

/// A decorated function's or a `Time_me`'s timer.
#[pyclass(module = "zibrato._zibrato")]
pub struct TimerSite {
    client: Py<Client>,
    level: String,
    name: String,
    source: Option<String>,
    handle: Option<(u64, Timer)>,
}

#[pymethods]
impl TimerSite {
    /// A timing of one block (what `z.Time_me(...)` gives): the clock starts when
    /// the block is entered.
    fn block(slf: &Bound<'_, Self>) -> Timing {
        Timing {
            site: slf.clone().unbind(),
            start: None,
        }
    }

    /// Records one duration, in nanoseconds (from `time.perf_counter_ns()`, a
    /// monotonic clock).
    fn record_ns(&mut self, nanos: i64) {
        let (level, name) = (&self.level, &self.name);
        refresh(
            self.client.get(),
            &mut self.handle,
            self.source.as_deref(),
            |z| z.register_timer(level, name).ok(),
        );
        if let Some((_, timer)) = &self.handle {
            timer.record_ns(nanos.max(0) as u64);
        }
    }
}

/// `with z.Time_me(...):` — times one block on the monotonic clock.
#[pyclass(module = "zibrato._zibrato")]
pub struct Timing {
    site: Py<TimerSite>,
    start: Option<Instant>,
}

#[pymethods]
impl Timing {
    /// Starts the clock; gives None, as the original did.
    fn __enter__(&mut self) {
        self.start = Some(Instant::now());
    }

    /// Records the block's duration, also when it raised (not swallowed).
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _kind: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if let Some(start) = self.start.take() {
            let nanos = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
            self.site.bind(py).borrow_mut().record_ns(nanos);
        }
        Ok(false)
    }
}
