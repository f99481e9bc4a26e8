//! `zibrato._zibrato`: the Rust half of the Python package `zibrato`.
//!
//! The Python half (`python/zibrato/`) holds the API users see — the decorators,
//! context managers and the `Backend` class — and calls into this module for
//! everything that costs: recording (through `zibrato-client`), the broker and the
//! Librato worker (run in-process, as their binaries run them), and the worker core
//! behind a Python backend.

mod client;
mod daemons;
mod logs;
mod worker;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _zibrato(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logs::install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::CounterSite>()?;
    m.add_class::<client::TimerSite>()?;
    m.add_class::<client::Timing>()?;
    m.add_function(wrap_pyfunction!(daemons::daemon_main, m)?)?;
    m.add_function(wrap_pyfunction!(worker::run_worker, m)?)?;
    m.add_function(wrap_pyfunction!(logs::logging_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(logs::logging_at_exit, m)?)?;
    Ok(())
}
