//! The end-to-end load harness: the real broker and a real worker, client threads
//! recording a realistic mix at rising rates, and the peers (Etsy statsd, a raw
//! ZeroMQ relay) on the same machine in the same run.
//!
//! ```sh
//! cargo build --release --workspace --bins && target/release/zibrato-e2e
//! ```
//!
//! For each offered rate it starts a fresh broker and `zibrato-console` worker (JSON to
//! a pipe, so no network backend limits it), records for `--seconds`, flushes, stops
//! the worker (which delivers its last window) and the broker, and reports the rates
//! recorded, forwarded and aggregated, the loss, CPU and peak memory of each process,
//! and the latency from a record call to the frame reaching a worker's socket. The
//! highest rate with nothing lost anywhere is the sustained rate. Loopback only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use zibrato_bench::daemons::{console_worker, logged};
use zibrato_bench::links::{Brokers, Link, start_brokers};
use zibrato_bench::paced;
use zibrato_bench::peers::{statsd_lossless, zmq_relay};
use zibrato_bench::procstat::{own_threads_cpu, process_cpu, this_thread_cpu};
use zibrato_bench::realistic::{Event, events, series_name, statsd_lines};
use zibrato_client::{Value, Zibrato};
use zibrato_testkit::{Subscriber, find_statsd, rss};
use zibrato_wire::Frame;

/// Drives the whole pipeline at rising rates beside statsd and a raw ZeroMQ relay.
#[derive(Debug, Parser)]
#[command(name = "zibrato-e2e", about, long_about = None)]
struct Cli {
    /// Seconds of load per rate.
    #[arg(long, default_value = "5")]
    seconds: f64,

    /// Recording threads.
    #[arg(long, default_value = "2")]
    threads: usize,

    /// Distinct series in the mix (spread over the levels).
    #[arg(long, default_value = "1000")]
    series: usize,

    /// Offered rates to try, in millions of measurements per second, comma separated;
    /// the search stops at the first rate with any loss.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,6,8,10,12,14,16,20"
    )]
    rates: Vec<f64>,

    /// Leave out the peers (statsd and the raw relay).
    #[arg(long)]
    no_peers: bool,

    /// The client's linger, milliseconds: how long a frame may wait for more
    /// measurements before it is sent (the latency floor; 10 is the client's default).
    #[arg(long, default_value = "10")]
    linger_ms: u64,

    /// Put a relay link in the path: the client publishes to a local broker whose
    /// --upstream is a second broker, where the worker is (both on loopback). `plain`:
    /// the link without keys; `curve`: encrypted and authenticated (keys made with
    /// `zibrato-broker keygen`). Broker CPU is both brokers'; latency is measured to
    /// the local broker.
    #[arg(long, value_enum, default_value = "none")]
    link: Link,
}

/// Levels by series: 60 % `info`, 20 % `crit` (both subscribed), 10 % `debug` and
/// 10 % `trace` (nobody subscribes: dropped inside the client).
fn level_of(series: usize) -> &'static str {
    match series % 10 {
        0..=5 => "info",
        6 | 7 => "crit",
        8 => "debug",
        _ => "trace",
    }
}

fn subscribed(level: &str) -> bool {
    matches!(level, "info" | "crit")
}

/// What one rate gave.
#[derive(Debug, Default)]
struct Run {
    offered: f64,
    seconds: f64,
    calls: u64,
    calls_subscribed: u64,
    client_dropped: u64,
    forwarded: u64,
    aggregated: u64,
    lost_frames: u64,
    /// Frames the worker's broker took from the relay link (0 without one).
    link_frames: u64,
    cpu_record: f64,
    cpu_publisher: f64,
    cpu_broker: f64,
    cpu_worker: f64,
    rss_broker: u64,
    rss_worker: u64,
    rss_harness: u64,
    latency_ns: Vec<u64>,
}

impl Run {
    fn lost(&self) -> u64 {
        self.calls_subscribed.saturating_sub(self.aggregated)
    }

    /// Nothing lost, and the recording threads kept the offered pace.
    fn lossless(&self) -> bool {
        self.lost() == 0
            && self.client_dropped == 0
            && self.lost_frames == 0
            && self.calls as f64 >= 0.98 * self.offered * self.seconds
    }

    fn percentile(&self, q: f64) -> f64 {
        if self.latency_ns.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latency_ns.len() - 1) as f64 * q).round() as usize;
        self.latency_ns[i] as f64 / 1e6
    }
}

fn run_rate(cli: &Cli, stream: &[Event], names: &[String], rate: f64) -> Run {
    let brokers = start_brokers(cli.link);
    let port = brokers.publish;
    let keys: Vec<&str> = brokers.worker_keys.iter().map(String::as_str).collect();
    let mut worker = console_worker(brokers.read, "info,crit", &keys);
    // Routed at the broker the client publishes to (through the link, when there is
    // one): the watcher there needs no keys.
    let watcher = Subscriber::connect(port + 1, &[]);
    watcher.wait_until_routed(port, "info", Duration::from_secs(10));
    watcher.wait_until_routed(port, "crit", Duration::from_secs(10));

    let z = Zibrato::builder()
        .port(port)
        .thread_buffer(1 << 16)
        .linger(Duration::from_millis(cli.linger_ms))
        .build()
        .expect("client");
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let probe_ready = Arc::new(Barrier::new(2));
    let probe_rx = {
        let (stop, latencies, ready) = (stop.clone(), latencies.clone(), probe_ready.clone());
        std::thread::Builder::new()
            .name("e2e-probe-rx".into())
            .spawn(move || {
                let sub = Subscriber::routed(port, &["probe"], Duration::from_secs(10));
                ready.wait();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Some(message) = sub.recv(Duration::from_millis(50)) else {
                        continue;
                    };
                    let now = epoch.elapsed().as_nanos() as f64;
                    if let Ok(frame) = Frame::decode(&message) {
                        for m in frame.measurements() {
                            if let Value::Gauge(sent) = m.value {
                                seen.push((now - sent).max(0.0) as u64);
                            }
                        }
                    }
                }
                *latencies.lock().unwrap() = seen;
            })
            .expect("probe receiver")
    };
    probe_ready.wait();
    while !z.stats().connected {
        std::thread::sleep(Duration::from_millis(10));
    }

    let brokers_cpu = |b: &Brokers| {
        process_cpu(b.local.pid()) + b.central.as_ref().map_or(0.0, |c| process_cpu(c.pid()))
    };
    let cpu_before = (
        own_threads_cpu("zibrato-publish"),
        brokers_cpu(&brokers),
        process_cpu(worker.pid()),
    );
    let probe = {
        let (z, stop) = (z.clone(), stop.clone());
        std::thread::Builder::new()
            .name("e2e-probe".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    z.gauge("probe", "latency", epoch.elapsed().as_nanos() as f64);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .expect("probe")
    };
    let per_thread = rate / cli.threads as f64;
    let counts: Vec<(u64, u64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cli.threads)
            .map(|t| {
                let z = &z;
                std::thread::Builder::new()
                    .name(format!("e2e-rec-{t}"))
                    .spawn_scoped(scope, move || {
                        let cpu_start = this_thread_cpu();
                        let mut subscribed_calls = 0u64;
                        let mut i = t * 7919;
                        let calls = paced(per_thread, cli.seconds, |due| {
                            let batch = due.min(512);
                            for _ in 0..batch {
                                let e = &stream[i % stream.len()];
                                i += 1;
                                let level = level_of(e.series);
                                let name = &names[e.series];
                                match e.value {
                                    Value::Counter(n) => z.count_by(level, name, n),
                                    Value::Timer(ns) => z.time_ns(level, name, ns),
                                    Value::Gauge(v) => z.gauge(level, name, v),
                                }
                                subscribed_calls += u64::from(subscribed(level));
                            }
                            batch
                        });
                        (calls, subscribed_calls, this_thread_cpu() - cpu_start)
                    })
                    .expect("recording thread")
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    stop.store(true, Ordering::Relaxed);
    let _ = probe.join();
    let _ = z.flush(Duration::from_secs(30));
    let _ = probe_rx.join();
    // The worker's window closes on the next second boundary; then it delivers.
    std::thread::sleep(Duration::from_millis(2500));

    let stats = z.stats();
    let mut run = Run {
        offered: rate,
        seconds: cli.seconds,
        calls: counts.iter().map(|c| c.0).sum(),
        calls_subscribed: counts.iter().map(|c| c.1).sum(),
        client_dropped: stats.dropped(),
        cpu_record: counts.iter().map(|c| c.2).sum(),
        cpu_publisher: own_threads_cpu("zibrato-publish") - cpu_before.0,
        cpu_broker: brokers_cpu(&brokers) - cpu_before.1,
        cpu_worker: process_cpu(worker.pid()) - cpu_before.2,
        rss_broker: rss(brokers.local.pid()).1,
        rss_worker: rss(worker.pid()).1,
        rss_harness: rss(std::process::id()).1,
        ..Run::default()
    };
    worker.stop("TERM");
    let mut brokers = brokers;
    brokers.local.stop("TERM");
    let broker = match &mut brokers.central {
        Some(central) => {
            central.stop("TERM");
            central
        }
        None => &mut brokers.local,
    };
    let worker_log = worker.output();
    let broker_log = broker.output();
    run.aggregated = logged(&worker_log, "worker stopped", "measurements");
    run.lost_frames = logged(&worker_log, "worker stopped", "lost_frames");
    run.forwarded = logged(
        &broker_log,
        "broker totals",
        "workers_delivered_measurements",
    );
    run.link_frames = logged(&broker_log, "broker totals", "relay_frames_in");
    let mut latency = std::mem::take(&mut *latencies.lock().unwrap());
    latency.sort_unstable();
    run.latency_ns = latency;
    drop(z);
    run
}

fn main() {
    let cli = Cli::parse();
    let names: Vec<String> = (0..cli.series).map(series_name).collect();
    let stream = events(cli.series, 1 << 20);
    println!(
        "zibrato-e2e: {} recording threads, {} series over 4 levels (info, crit subscribed; debug, trace not), {} s per rate, {} cores, relay link: {:?}",
        cli.threads,
        cli.series,
        cli.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cli.link
    );
    println!();
    println!(
        "| offered M/s | recorded M/s (subscribed) | forwarded M/s | aggregated M/s | lost | CPU record / publisher / broker / worker (s) | CPU ns per measurement | peak RSS broker / worker / app (MB) | latency p50 / p99 (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---|---:|---|---|");
    let mut sustained: Option<Run> = None;
    for &millions in &cli.rates {
        let run = run_rate(&cli, &stream, &names, millions * 1e6);
        let cpu = run.cpu_record + run.cpu_publisher + run.cpu_broker + run.cpu_worker;
        println!(
            "| {:.1} | {:.2} ({:.2}) | {:.2} | {:.2} | {} | {:.2} / {:.2} / {:.2} / {:.2} | {:.0} | {:.1} / {:.1} / {:.1} | {:.2} / {:.2} |",
            millions,
            run.calls as f64 / run.seconds / 1e6,
            run.calls_subscribed as f64 / run.seconds / 1e6,
            run.forwarded as f64 / run.seconds / 1e6,
            run.aggregated as f64 / run.seconds / 1e6,
            if run.lossless() {
                "0".to_string()
            } else {
                format!(
                    "{} ({} dropped in the client, {} frames lost)",
                    run.lost(),
                    run.client_dropped,
                    run.lost_frames
                )
            },
            run.cpu_record,
            run.cpu_publisher,
            run.cpu_broker,
            run.cpu_worker,
            cpu * 1e9 / run.calls.max(1) as f64,
            run.rss_broker as f64 / 1e6,
            run.rss_worker as f64 / 1e6,
            run.rss_harness as f64 / 1e6,
            run.percentile(0.5),
            run.percentile(0.99),
        );
        if !run.lossless() {
            if (run.calls as f64) < 0.98 * run.offered * run.seconds {
                println!("(the recording threads could not offer this rate on this machine)");
            }
            break;
        }
        sustained = Some(run);
    }
    // The figure set beside the peers: measurements that crossed the whole pipeline
    // and were aggregated (the unsubscribed share never left the process and is not
    // counted, though recording it was part of the load).
    let zibrato = sustained
        .as_ref()
        .map_or(0.0, |r| r.aggregated as f64 / r.seconds);
    println!();
    println!(
        "Zibrato sustained with no loss: {:.1} M record calls/s offered, {:.2} M measurements/s carried end to end and aggregated",
        sustained.as_ref().map_or(0.0, |r| r.offered) / 1e6,
        zibrato / 1e6
    );
    if let Some(run) = &sustained {
        let n = run.calls as f64;
        println!(
            "CPU per measurement at that rate: record {:.0} ns + publisher {:.0} ns + broker {:.0} ns + worker {:.0} ns = {:.0} ns",
            run.cpu_record * 1e9 / n,
            run.cpu_publisher * 1e9 / n,
            run.cpu_broker * 1e9 / n,
            run.cpu_worker * 1e9 / n,
            (run.cpu_record + run.cpu_publisher + run.cpu_broker + run.cpu_worker) * 1e9 / n
        );
        if cli.link != Link::None {
            println!(
                "Through the relay link at that rate: {:.0} frames/s, {:.0} measurements per frame",
                run.link_frames as f64 / run.seconds,
                run.forwarded as f64 / run.link_frames.max(1) as f64
            );
        }
    }
    if cli.no_peers {
        return;
    }

    println!();
    println!("| peer | step | sent | received | loss |");
    println!("|---|---:|---:|---:|---:|");
    let relay = zmq_relay(
        2_000_000,
        &[
            200_000, 400_000, 800_000, 1_200_000, 1_600_000, 2_000_000, 2_500_000, 3_000_000,
            4_000_000,
        ],
        cli.seconds.min(3.0),
        32,
    );
    for s in &relay.steps {
        println!(
            "| raw ZeroMQ relay | {} msg/s | {} | {} | {:.2} % |",
            s.rate,
            s.sent,
            s.received,
            s.loss() * 100.0
        );
    }
    let statsd = find_statsd().and_then(|js| {
        statsd_lossless(
            &js,
            &statsd_lines(&events(1_000, 200_000), false),
            &[
                100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000,
            ],
            2.0,
            20,
        )
    });
    if let Some(result) = &statsd {
        for s in &result.steps {
            println!(
                "| Etsy statsd | {} lines/s | {} | {} | {:.2} % |",
                s.rate,
                s.sent,
                s.received,
                s.loss() * 100.0
            );
        }
    }
    println!();
    println!("| what | figure | Zibrato ÷ it | bar |");
    println!("|---|---:|---:|---|");
    println!(
        "| Zibrato end to end, sustained, no loss (aggregated) | {:.2} M/s | | |",
        zibrato / 1e6
    );
    println!(
        "| raw ZeroMQ relay, 32-byte messages, burst | {:.2} M/s | {:.1}× | |",
        relay.burst / 1e6,
        zibrato / relay.burst
    );
    println!(
        "| raw ZeroMQ relay, sustained, no loss | {:.2} M/s | {:.1}× | ≥ 2.5× |",
        relay.sustained as f64 / 1e6,
        zibrato / relay.sustained.max(1) as f64
    );
    match &statsd {
        Some(result) => println!(
            "| Etsy statsd, lossless (≤ 1 % lost) | {:.2} M/s | {:.1}× | ≥ 15× |",
            result.lossless as f64 / 1e6,
            zibrato / result.lossless.max(1) as f64
        ),
        None => println!("| Etsy statsd | not installed (npm install statsd) | | ≥ 15× |"),
    }
}
