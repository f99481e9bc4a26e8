//! The broker's statsd ingress under load, beside Etsy statsd in the same run: the same
//! statsd lines over UDP on 127.0.0.1, 20 to a datagram, at rising rates.
//!
//! ```sh
//! cargo build --release --workspace --bins && target/release/zibrato-ingress
//! ```
//!
//! For each rate it starts a fresh broker (`--statsd`) and a `zibrato-console` worker
//! (JSON to a pipe), sends for `--seconds`, lets the worker's window close, stops both
//! and compares the lines sent with the measurements the worker aggregated; the
//! broker's own counts say where any went (`statsd_kernel_dropped`: the kernel's
//! receive buffer was full). The highest rate with nothing lost is the ingress's
//! lossless rate; statsd's is found the same way (≤ 1 % lost).

use std::time::Duration;

use clap::Parser;
use zibrato_bench::daemons::{broker, console_worker, logged};
use zibrato_bench::peers::{Sent, send_lines, statsd_lossless};
use zibrato_bench::procstat::process_cpu;
use zibrato_bench::realistic::{events, statsd_lines};
use zibrato_testkit::{Subscriber, find_statsd, free_ports, free_udp_port, rss};

/// Drives the broker's statsd ingress at rising rates beside Etsy statsd.
#[derive(Debug, Parser)]
#[command(name = "zibrato-ingress", about, long_about = None)]
struct Cli {
    /// Seconds of load per rate.
    #[arg(long, default_value = "3")]
    seconds: f64,

    /// Distinct names in the lines.
    #[arg(long, default_value = "1000")]
    series: usize,

    /// Lines in each datagram.
    #[arg(long, default_value = "20")]
    per_datagram: u64,

    /// DogStatsD tags on every line (`|#env:prod,region:eu`).
    #[arg(long)]
    tags: bool,

    /// Rates to try at the ingress, thousands of lines per second, comma separated; the
    /// search stops at the first rate with any loss.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,1000,1500,2000,3000,4000,5000,6000"
    )]
    rates: Vec<u64>,

    /// Rates to try at statsd, thousands of lines per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,200,300,400,500,600,800,1000,1200"
    )]
    statsd_rates: Vec<u64>,

    /// Leave out Etsy statsd.
    #[arg(long)]
    no_peers: bool,
}

/// What one rate gave at the ingress.
#[derive(Debug)]
struct Run {
    rate: u64,
    sent: Sent,
    aggregated: u64,
    /// Datagrams the ingress received, and the kernel dropped.
    received: u64,
    kernel_dropped: u64,
    refused: u64,
    /// CPU seconds per second of load.
    cpu_broker: f64,
    cpu_worker: f64,
    rss_broker: u64,
}

impl Run {
    fn lost(&self) -> u64 {
        self.sent.lines.saturating_sub(self.aggregated)
    }
}

fn run_rate(cli: &Cli, lines: &[String], rate: u64) -> Run {
    let port = free_ports();
    let udp = free_udp_port();
    let listen = format!("127.0.0.1:{udp}");
    let mut broker = broker(port, &["--statsd", &listen, "--stats-interval", "3600"]);
    let mut worker = console_worker(port + 1, "info", &[]);
    // The worker's subscription has reached the broker when a watcher's has.
    let watcher = Subscriber::connect(port + 1, &[]);
    watcher.wait_until_routed(port, "info", Duration::from_secs(10));

    let cpu_before = (process_cpu(broker.pid()), process_cpu(worker.pid()));
    let sent = send_lines(udp, lines, rate, cli.seconds, cli.per_datagram);
    let cpu = (
        (process_cpu(broker.pid()) - cpu_before.0) / cli.seconds,
        (process_cpu(worker.pid()) - cpu_before.1) / cli.seconds,
    );
    let rss_broker = rss(broker.pid()).1;
    // The ingress seals within 10 ms; the worker's window closes within a second.
    std::thread::sleep(Duration::from_millis(2500));
    worker.stop("TERM");
    broker.stop("TERM");
    let (worker_log, broker_log) = (worker.output(), broker.output());
    let total = |key: &str| logged(&broker_log, "broker totals", key);
    let refused = [
        "unparsable",
        "bad_name",
        "bad_value",
        "unsupported",
        "too_long",
    ]
    .iter()
    .map(|r| total(&format!("statsd_refused_{r}")))
    .sum();
    Run {
        rate,
        sent,
        aggregated: logged(&worker_log, "worker stopped", "measurements"),
        received: total("statsd_datagrams"),
        kernel_dropped: total("statsd_kernel_dropped"),
        refused,
        cpu_broker: cpu.0,
        cpu_worker: cpu.1,
        rss_broker,
    }
}

fn main() {
    let cli = Cli::parse();
    // One line per event, 50 per name: as many lines as the longest run sends would
    // only repeat them.
    let lines = statsd_lines(&events(cli.series, cli.series * 50), cli.tags);
    let bytes: usize = lines.iter().map(String::len).sum();
    println!(
        "# statsd ingress: {} names, {:.1} B per line{}, {} lines per datagram, {} s per rate",
        cli.series,
        bytes as f64 / lines.len() as f64,
        if cli.tags { " (DogStatsD tags)" } else { "" },
        cli.per_datagram,
        cli.seconds
    );
    println!();
    println!(
        "| offered lines/s | lines sent | aggregated | lost | datagrams sent | received | kernel dropped | refused | broker CPU | worker CPU | CPU per line | broker peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut lossless = 0;
    for &thousands in &cli.rates {
        let run = run_rate(&cli, &lines, thousands * 1000);
        println!(
            "| {} k | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {:.0} % | {:.0} ns | {:.1} MB |",
            thousands,
            run.sent.lines,
            run.aggregated,
            run.lost(),
            run.sent.datagrams,
            run.received,
            run.kernel_dropped,
            run.refused,
            run.cpu_broker * 100.0,
            run.cpu_worker * 100.0,
            (run.cpu_broker + run.cpu_worker) * cli.seconds * 1e9 / run.aggregated.max(1) as f64,
            run.rss_broker as f64 / 1e6
        );
        if run.lost() > 0 || (run.sent.lines as f64) < 0.98 * run.rate as f64 * cli.seconds {
            break;
        }
        lossless = run.rate;
    }
    println!();
    println!("ingress lossless rate: {lossless} lines/s");
    if cli.no_peers {
        return;
    }
    let Some(stats_js) = find_statsd() else {
        println!("statsd: not found (npm install --prefix ~/.zibrato-tools statsd)");
        return;
    };
    let rates: Vec<u64> = cli.statsd_rates.iter().map(|k| k * 1000).collect();
    let Some(result) = statsd_lossless(&stats_js, &lines, &rates, cli.seconds, cli.per_datagram)
    else {
        println!("statsd: did not start");
        return;
    };
    println!();
    println!("| statsd offered lines/s | sent | received | lost | statsd CPU | CPU per line |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for step in &result.steps {
        println!(
            "| {} k | {} | {} | {:.2} % | {:.0} % | {:.0} ns |",
            step.rate / 1000,
            step.sent,
            step.received,
            step.loss() * 100.0,
            step.cpu.unwrap_or(f64::NAN) / cli.seconds * 100.0,
            step.cpu.unwrap_or(f64::NAN) * 1e9 / step.received.max(1) as f64
        );
    }
    println!();
    println!(
        "statsd lossless rate (≤ 1 % lost): {} lines/s; ingress / statsd: {:.1}×",
        result.lossless,
        lossless as f64 / result.lossless.max(1) as f64
    );
}
