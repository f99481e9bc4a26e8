//! `zibrato-broker`: see `zibrato-broker --help`.

use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info};
use zibrato_broker::{Broker, Config};
use zibrato_common::{Shutdown, init_logging};

fn main() -> ExitCode {
    let config = Config::parse();
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
        upstream = config.upstream.as_deref().unwrap_or("none"),
        "broker listening"
    );
    let result = broker.run(&shutdown);
    broker.log_summary();
    match result {
        Ok(()) => {
            info!(signal = %shutdown.signal_name().unwrap_or("none"), "broker stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
