//! The broker's command line as a function: what the `zibrato-broker` binary runs, and
//! what other hosts (the Python package's `python -m zibrato.backend`) run in-process.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info};
use zibrato_common::{Shutdown, init_logging};

use crate::{Broker, Config};

/// The exit status of a stop that dropped frames a destination was waiting for (held
/// for workers within the grace, or not acknowledged by a linked broker in time).
pub const UNDELIVERED_EXIT_CODE: u8 = 3;

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-broker` command line and runs the broker until a stop signal: the
/// binary's whole behaviour, logging, signals and exit codes included (2 for a bad
/// command line, 1 for a failure, 0 after a clean stop, 3 after a stop that dropped
/// frames a destination was waiting for).
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let config = Config::parse_from(args);
    if let Err(message) = init_logging(&config.log_level) {
        eprintln!("zibrato-broker: {message}");
        return ExitCode::from(2);
    }
    zibrato_common::exit_on_panic();
    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut broker = match Broker::bind(&config) {
        Ok(broker) => broker,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    info!(
        publishers = %config.publisher_endpoint(),
        workers = %config.worker_endpoint(),
        relays = %config.relay_endpoint(),
        upstream = config.upstream.as_deref().unwrap_or("none"),
        "broker listening"
    );
    let result = broker.run(&shutdown);
    broker.log_summary();
    match result {
        Ok(stopped) if stopped.undelivered.frames > 0 => {
            error!(
                signal = %shutdown.signal_name().unwrap_or("none"),
                frames = stopped.undelivered.frames,
                measurements = stopped.undelivered.measurements,
                "broker stopped with frames undelivered"
            );
            ExitCode::from(UNDELIVERED_EXIT_CODE)
        }
        Ok(_) => {
            info!(signal = %shutdown.signal_name().unwrap_or("none"), "broker stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
