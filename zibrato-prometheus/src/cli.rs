//! The Prometheus worker's command line as a function: what the `zibrato-prometheus`
//! binary runs, and what another program can run in-process.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use zibrato_worker::exit::{USAGE, run_parsed};
use zibrato_worker::{WorkerArgs, parse_seconds};

use crate::{Exposition, Prometheus};

/// Subscribes to levels at a Zibrato broker, aggregates each flush window and serves
/// the series at http://LISTEN/metrics in the Prometheus text format, for a Prometheus
/// server to scrape.
#[derive(Debug, Parser)]
#[command(name = "zibrato-prometheus", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,

    /// Address and port of the HTTP endpoint. Loopback by default: expose it wider
    /// only where the network is trusted, the endpoint has no authentication.
    #[arg(
        long,
        env = "ZIBRATO_PROMETHEUS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    listen: SocketAddr,

    /// Seconds after which a series no window has brought is no longer served; longer
    /// than --flush.
    #[arg(long, env = "ZIBRATO_PROMETHEUS_STALE_AFTER", default_value = "300", value_parser = parse_seconds)]
    stale_after: Duration,

    /// Put in front of every metric name (e.g. `myapp_`).
    #[arg(long, env = "ZIBRATO_PROMETHEUS_PREFIX", default_value = "")]
    prefix: String,
}

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-prometheus` command line and runs the worker until a stop signal: the binary's
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
    if cli.stale_after <= cli.worker.flush {
        eprintln!(
            "error: --stale-after ({:?}) must be longer than --flush ({:?}), or every series would vanish between windows",
            cli.stale_after, cli.worker.flush
        );
        return USAGE;
    }
    let exposition = Arc::new(Mutex::new(Exposition::new(&cli.prefix, cli.stale_after)));
    zibrato_worker::run(cli.worker, Prometheus::new(cli.listen, exposition))
}
