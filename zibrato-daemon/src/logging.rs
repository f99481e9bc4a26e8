//! Logging to stderr through `tracing`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Sends `tracing` events to stderr, filtered by `filter` (`error`, `warn`, `info`,
/// `debug`, `trace`, or a directive list such as `info,zibrato_broker=debug`).
///
/// # Errors
///
/// A message naming the filter when it does not parse.
pub fn init_logging(filter: &str) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| e.to_string())
}
