//! Logging to stderr through `tracing`, or through the program that embeds a daemon.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// Set by a program that runs the daemons inside itself and owns the process's logging
/// (the Python package, which forwards events to Python's `logging`).
static EMBEDDER: OnceLock<fn(EnvFilter)> = OnceLock::new();

/// Declares that this process's logging belongs to the program embedding the daemons:
/// from now on [`init_logging`] checks its filter and hands it to `apply` instead of
/// writing to stderr. The first call wins; returns whether this one did.
pub fn embed_logging(apply: fn(EnvFilter)) -> bool {
    EMBEDDER.set(apply).is_ok()
}

/// Sends `tracing` events to stderr, filtered by `filter` (`error`, `warn`, `info`,
/// `debug`, `trace`, or a directive list such as `info,zibrato_broker=debug`); in a
/// process whose embedder called [`embed_logging`], hands the filter to it instead.
///
/// # Errors
///
/// [`LoggingError::Filter`] naming the filter when it does not parse;
/// [`LoggingError::AlreadySet`] when the process already has a global subscriber.
pub fn init_logging(filter: &str) -> Result<(), LoggingError> {
    let parsed = EnvFilter::try_new(filter).map_err(|e| LoggingError::Filter {
        filter: filter.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(apply) = EMBEDDER.get() {
        apply(parsed);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(parsed)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| LoggingError::AlreadySet(e.to_string()))
}

/// Why [`init_logging`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// The filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// What the parser said.
        reason: String,
    },
    /// A global `tracing` subscriber was already installed; the message says by what.
    #[error("logging already set up: {0}")]
    AlreadySet(String),
}
