//! The daemons, run in the Python process exactly as their binaries run them: same
//! flags, environment variables, signals and exit statuses.
//!
//! The Python half restores the default handlers of SIGINT, SIGTERM and SIGQUIT before
//! calling in, so the daemon's own handlers are the only ones: a stop signal ends the
//! daemon cleanly instead of also raising `KeyboardInterrupt` once it returns.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Runs the daemon `name` (`zibrato-broker` or `zibrato-librato`) with `argv` (the
/// program name first), the GIL released, and returns its exit status.
#[pyfunction]
pub fn daemon_main(py: Python<'_>, name: &str, argv: Vec<String>) -> PyResult<u8> {
    let main: fn(Vec<String>) -> u8 = match name {
        "zibrato-broker" => zibrato_broker::cli::main_with_args,
        "zibrato-librato" => zibrato_librato::cli::main_with_args,
        other => return Err(PyValueError::new_err(format!("no daemon named {other:?}"))),
    };
    Ok(py.detach(|| main(argv)))
}
