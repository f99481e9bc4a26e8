//! The worker's memory under a publisher that never repeats a name, beside its memory
//! under ordinary traffic: the real broker and a real `zibrato-console` (release
//! builds, default limits), fed raw frames on 127.0.0.1.
//!
//! ```sh
//! cargo build --release --workspace --bins && target/release/zibrato-flood
//! ```
//!
//! Three runs, each with a fresh worker: ordinary traffic (a realistic mix over
//! `--series` series), a flood (every name new), and the worst case the cap allows (as
//! many timers as `--max-series`, each sketch at its widest), all at `--rate`
//! measurements per second for `--seconds`. Reports the worker's resident memory each few seconds and
//! its peak, and how much the worker received (its own totals at SIGTERM).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use zibrato_bench::paced;
use zibrato_bench::realistic::{Event, events, frames, series_kind};
use zibrato_testkit::{Daemon, Publisher, free_ports, rss};
use zibrato_wire::{Kind, Value};

/// Worker memory under a distinct-names flood beside ordinary traffic.
#[derive(Debug, Parser)]
#[command(name = "zibrato-flood", about, long_about = None)]
struct Cli {
    /// Seconds per run.
    #[arg(long, default_value = "30")]
    seconds: f64,

    /// Measurements per second offered.
    #[arg(long, default_value = "500000")]
    rate: f64,

    /// Series in the ordinary mix.
    #[arg(long, default_value = "10000")]
    series: usize,

    /// `--max-series` of the worker (its default when not given).
    #[arg(long)]
    max_series: Option<u64>,
}

const PER_FRAME: usize = 1024;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn beside(name: &str) -> std::path::PathBuf {
    let path = std::env::current_exe()
        .expect("own path")
        .with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --workspace --bins`",
        path.display()
    );
    path
}

/// Runs a fresh broker and worker, sends `frames` (cycling) at the offered rate, and
/// returns the worker's RSS samples (MiB) and peak.
fn run(cli: &Cli, label: &str, frames: &[Vec<u8>]) {
    let port = free_ports();
    let broker = Daemon::start(
        beside("zibrato-broker"),
        &["--port", &port.to_string(), "--stats-interval", "3600"],
    );
    broker.wait_for_output("broker listening", Duration::from_secs(10));
    let worker_port = (port + 1).to_string();
    let max_series = cli.max_series.map(|m| m.to_string());
    let mut args = vec![
        "--port",
        &worker_port,
        "--levels",
        "info",
        "--flush",
        "1",
        "--format",
        "json",
    ];
    if let Some(max) = &max_series {
        args.extend(["--max-series", max]);
    }
    let worker = Killed(
        Command::new(beside("zibrato-console"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start zibrato-console"),
    );
    let mut publisher = Publisher::connect(port);
    publisher.wait_for_subscription(b"info\0", Duration::from_secs(10));

    let pid = worker.0.id();
    let frame_rate = cli.rate / PER_FRAME as f64;
    let mut samples = Vec::new();
    let mut next_sample = Instant::now() + Duration::from_secs(5);
    let mut i = 0usize;
    let sent = paced(frame_rate, cli.seconds, |n| {
        for _ in 0..n {
            publisher.send(&frames[i % frames.len()]);
            i += 1;
        }
        if Instant::now() >= next_sample {
            samples.push(rss(pid).0 >> 20);
            next_sample += Duration::from_secs(5);
        }
        n
    });
    std::thread::sleep(Duration::from_secs(2));
    let (now, peak) = rss(pid);
    drop(worker);
    drop(broker);
    println!(
        "| {label} | {:.0} k/s for {} s | {:?} | {} | {} |",
        sent as f64 * PER_FRAME as f64 / cli.seconds / 1e3,
        cli.seconds,
        samples,
        now >> 20,
        peak >> 20,
    );
}

fn main() {
    let cli = Cli::parse();
    println!(
        "worker: zibrato-console, --max-series {}",
        cli.max_series
            .map_or("default (20000)".to_string(), |m| m.to_string())
    );
    println!("| traffic | offered | RSS every 5 s (MiB) | RSS at end (MiB) | peak RSS (MiB) |");
    println!("|---|---|---|---|---|");
    let ordinary = frames(&events(cli.series, 200 * PER_FRAME), PER_FRAME);
    run(&cli, &format!("ordinary, {} series", cli.series), &ordinary);
    // Enough new names for the whole run, each used once; sent as counters, timers and
    // gauges in the realistic proportions.
    let total = (cli.rate * cli.seconds) as usize + PER_FRAME;
    let fresh: Vec<Event> = (0..total)
        .map(|k| {
            let series = 10_000_000 + k;
            let value = match series_kind(series) {
                Kind::Counter => Value::Counter(1),
                Kind::Timer => Value::Timer(20_000 + (k as u64 % 5_000_000)),
                Kind::Gauge => Value::Gauge((k % 1000) as f64),
            };
            Event { series, value }
        })
        .collect();
    let fresh = frames(&fresh, PER_FRAME);
    run(&cli, "every name new", &fresh);
    // The worst the cap allows: as many timers as --max-series, each with readings
    // from 1 ns to 2^60 ns, so every sketch holds its largest span (4 KiB).
    let cap = cli.max_series.unwrap_or(20_000) as usize;
    let widest: Vec<Event> = (0..cap * 64)
        .map(|k| Event {
            series: k % cap,
            value: Value::Timer(1u64 << ((k / cap) % 61)),
        })
        .collect();
    let widest = frames(&widest, PER_FRAME);
    run(
        &cli,
        &format!("worst case at the cap: {cap} timers, 1 ns to 2^60 ns"),
        &widest,
    );
}
