//! A backend written in Python, run by the Rust worker core: subscription, exact
//! levels, aggregation, flush timing, retries, the spool and shutdown all happen in
//! Rust; each flushed window is handed to the Python object's `_deliver`, on the
//! worker's delivery thread, holding the GIL only for that call.

use clap::Parser;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use zibrato_worker::{Backend, Delivered, DeliveryError, Summary, Window, WorkerArgs};

/// The command line of a worker with a Python backend: the worker core's flags.
#[derive(Debug, Parser)]
#[command(
    about = "A Zibrato worker whose backend is a Python class (zibrato.Backend)",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,
}

/// Nanoseconds to seconds, the unit the original reported timers in.
const SECONDS: f64 = 1e-9;

struct PyBackend {
    object: Py<PyAny>,
    name: String,
    timer_values: usize,
}

/// What the Python side answered: `("ok",)`, `("retry", reason, after or None)` or
/// `("fatal", reason)`.
fn outcome(answer: &Bound<'_, PyAny>) -> Result<(), DeliveryError> {
    let tuple = answer
        .cast::<PyTuple>()
        .map_err(|_| DeliveryError::retry("the backend's answer is not a tuple", None))?;
    let word: String = tuple
        .get_item(0)
        .and_then(|w| w.extract())
        .unwrap_or_default();
    let reason = || -> String {
        tuple
            .get_item(1)
            .and_then(|r| r.extract())
            .unwrap_or_else(|_| "no reason given".to_string())
    };
    match word.as_str() {
        "ok" => Ok(()),
        "fatal" => Err(DeliveryError::fatal(reason())),
        _ => {
            let after = tuple
                .get_item(2)
                .ok()
                .and_then(|a| a.extract::<f64>().ok())
                .filter(|a| a.is_finite() && *a >= 0.0)
                .and_then(|a| std::time::Duration::try_from_secs_f64(a).ok());
            Err(DeliveryError::retry(reason(), after))
        }
    }
}

fn python_error(py: Python<'_>, e: PyErr) -> DeliveryError {
    DeliveryError::retry(format!("Python backend: {}", e.value(py)), None)
}

/// One series as `(level, kind, name, source, data)`; `data` holds the window's
/// statistics, timers in seconds.
fn series<'py>(py: Python<'py>, window: &Window) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for s in &window.series {
        let data = PyDict::new(py);
        let kind = match &s.summary {
            Summary::Counter { sum } => {
                data.set_item("sum", *sum)?;
                "counter"
            }
            Summary::Gauge(r) => {
                readings(&data, r)?;
                "gauge"
            }
            Summary::Timer {
                stats,
                percentiles,
                values,
                ..
            } => {
                readings(&data, &stats.scaled(SECONDS))?;
                let p = PyDict::new(py);
                for (q, v) in percentiles {
                    p.set_item(*q, v * SECONDS)?;
                }
                data.set_item("percentiles", p)?;
                let v: Vec<f64> = values.iter().map(|n| *n as f64 * SECONDS).collect();
                data.set_item("values", v)?;
                "timer"
            }
        };
        let item = (&*s.level, kind, &*s.name, &*s.source, data);
        list.append(item)?;
    }
    Ok(list)
}

fn readings(data: &Bound<'_, PyDict>, r: &zibrato_worker::Readings) -> PyResult<()> {
    data.set_item("count", r.count)?;
    data.set_item("sum", r.sum)?;
    data.set_item("min", r.min)?;
    data.set_item("max", r.max)?;
    data.set_item("sum_squares", r.sum_squares)?;
    data.set_item("last", r.last)?;
    Ok(())
}

impl Backend for PyBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        Python::attach(|py| {
            let answer = self
                .object
                .call_method0(py, "_connect")
                .map_err(|e| python_error(py, e))?;
            outcome(answer.bind(py))
        })
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        Python::attach(|py| {
            let list = series(py, window).map_err(|e| python_error(py, e))?;
            let answer = self
                .object
                .call_method1(
                    py,
                    "_deliver",
                    (window.measure_time, window.interval.as_secs_f64(), list),
                )
                .map_err(|e| python_error(py, e))?;
            outcome(answer.bind(py))
        })?;
        let accepted = window.series.len();
        window.series.clear();
        Ok(Delivered::accepted(accepted))
    }

    fn timer_values(&self) -> usize {
        self.timer_values
    }
}

/// Runs a worker with `backend` (a `zibrato.Backend`) and the command line `argv`
/// (program name first), the GIL released except while the backend runs; returns the
/// exit status (2 for a bad command line, after printing why; the daemons' table).
#[pyfunction]
pub fn run_worker(py: Python<'_>, backend: Py<PyAny>, argv: Vec<String>) -> PyResult<u8> {
    let cli: Cli = match zibrato_worker::exit::parse_args(&argv) {
        Ok(cli) => cli,
        Err(status) => return Ok(status),
    };
    let bound = backend.bind(py);
    let class = bound.get_type().name()?.to_string();
    let timer_values = bound
        .getattr("timer_values")
        .and_then(|v| v.extract::<usize>())
        .unwrap_or(0);
    let backend = PyBackend {
        object: backend,
        name: format!("python:{class}"),
        timer_values,
    };
    Ok(py.detach(|| zibrato_worker::run(cli.worker, backend)))
}
