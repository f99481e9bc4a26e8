//! The statsd worker's command line as a function: what the `zibrato-statsd` binary
//! runs, and what another program can run in-process.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};

use clap::Parser;
use zibrato_worker::WorkerArgs;
use zibrato_worker::exit::{FAILURE, run_parsed};

use crate::{Mode, Settings, Statsd};

/// Subscribes to levels at a Zibrato broker, aggregates each flush window and sends it
/// to a statsd server over UDP.
#[derive(Debug, Parser)]
#[command(name = "zibrato-statsd", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,

    /// statsd's address, HOST:PORT.
    #[arg(long, env = "ZIBRATO_STATSD", default_value = "127.0.0.1:8125", value_parser = parse_target)]
    statsd: SocketAddr,

    /// Largest datagram, in bytes (1432 fits a 1500-byte MTU with room to spare).
    #[arg(long, env = "ZIBRATO_STATSD_MAX_DATAGRAM", default_value = "1432", value_parser = clap::value_parser!(u64).range(64..=65_000))]
    max_datagram: u64,

    /// Prefix for every name (`app` makes `app.requests`).
    #[arg(long, env = "ZIBRATO_STATSD_PREFIX")]
    prefix: Option<String>,

    /// How timers are sent: every duration (`events`) or one mean per window (`summed`).
    #[arg(
        long,
        env = "ZIBRATO_STATSD_MODE",
        value_enum,
        default_value = "events"
    )]
    mode: Mode,

    /// In `events` mode, most durations sent per timer and window (the rest are
    /// represented by a sample rate).
    #[arg(long, env = "ZIBRATO_STATSD_MAX_TIMER_VALUES", default_value = "10000")]
    max_timer_values: usize,
}

fn parse_target(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{text:?} is not HOST:PORT: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-statsd` command line and runs the worker until a stop signal: the binary's
/// whole behaviour. Returns the exit status (the table in [`zibrato_worker::exit`]).
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_parsed(args, run_cli)
}

/// Runs the daemon with its parsed command line; returns the exit status.
fn run_cli(cli: Cli) -> u8 {
    let settings = Settings {
        target: cli.statsd,
        max_datagram: cli.max_datagram as usize,
        prefix: cli.prefix.clone(),
        mode: cli.mode,
        max_timer_values: cli.max_timer_values,
    };
    match Statsd::new(settings) {
        Ok(backend) => zibrato_worker::run(cli.worker, backend),
        Err(e) => {
            eprintln!("zibrato-statsd: cannot open a UDP socket: {e}");
            FAILURE
        }
    }
}
