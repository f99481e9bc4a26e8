//! The broker and the Librato worker, run in the Python process exactly as their
//! binaries run them: same flags, environment variables, signals and exit codes.
//!
//! The Python half restores the default handlers of SIGINT, SIGTERM and SIGQUIT before
//! calling in, so the daemon's own handlers are the only ones: a stop signal ends the
//! daemon cleanly instead of also raising `KeyboardInterrupt` once it returns.

use std::process::ExitCode;

use pyo3::prelude::*;

/// The number an `ExitCode` stands for (they are opaque in Rust).
pub(crate) fn code_of(exit: ExitCode) -> i32 {
    (0..=u8::MAX)
        .find(|&n| ExitCode::from(n) == exit)
        .map_or(1, i32::from)
}

/// Runs `zibrato-broker` with `argv` (the program name first), the GIL released, and
/// returns its exit code.
#[pyfunction]
pub fn broker_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| code_of(zibrato_broker::cli::main_with_args(argv)))
}

/// Runs `zibrato-librato` with `argv` (the program name first), the GIL released, and
/// returns its exit code.
#[pyfunction]
pub fn librato_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| code_of(zibrato_librato::cli::main_with_args(argv)))
}
