//! `zibrato-prometheus`: see `zibrato-prometheus --help`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use zibrato_prometheus::{Exposition, Prometheus};
use zibrato_worker::{WorkerArgs, parse_seconds};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.stale_after <= cli.worker.flush {
        eprintln!(
            "error: --stale-after ({:?}) must be longer than --flush ({:?}), or every series would vanish between windows",
            cli.stale_after, cli.worker.flush
        );
        return ExitCode::from(2);
    }
    let exposition = Arc::new(Mutex::new(Exposition::new(&cli.prefix, cli.stale_after)));
    zibrato_worker::run(cli.worker, Prometheus::new(cli.listen, exposition))
}
