//! Worker ingest beside Etsy statsd, in one run:
//!
//! 1. Zibrato's decode + aggregate on one core, in measurements per second, over a
//!    realistic stream across 1 000 series (the stream statsd gets) and 10 000 series;
//! 2. statsd's lossless rate: the same events as statsd lines over UDP on 127.0.0.1, at
//!    rising rates, until it loses more than 1 % (read from its management port);
//! 3. resident memory of the real `zibrato-librato` worker process holding 10 000 series
//!    as the event rate grows, beside statsd's.
//!
//! `cargo build --release --workspace --bins && cargo bench -p zibrato-bench --bench worker_ingest`

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zibrato_bench::peers::statsd_lossless;
use zibrato_bench::realistic::{events, frames, statsd_lines};
use zibrato_client::Zibrato;
use zibrato_testkit::{bin_path, find_statsd, rss};
use zibrato_wire::Frame;
use zibrato_worker::internals::Aggregator;

const SERIES: usize = 10_000;

/// The rates statsd is offered, lines per second.
const STATSD_RATES: &[u64] = &[
    100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000, 1_200_000,
];

fn zibrato_ingest(series: usize) -> f64 {
    let stream = events(series, 2_000_000);
    let encoded = frames(&stream, 1024);
    let mut aggregator = Aggregator::new(vec![0.5, 0.9, 0.95, 0.99], Duration::from_secs(300));
    let mut best = 0.0f64;
    for round in 0..4 {
        let start = Instant::now();
        let mut n = 0;
        for bytes in &encoded {
            let frame = Frame::decode(bytes).expect("valid");
            n += aggregator.ingest(&frame, Instant::now());
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        if round > 0 {
            best = best.max(rate);
        }
        aggregator.flush(Instant::now());
    }
    println!(
        "| zibrato decode + aggregate, 1 core, {series} series | {:.1} M measurements/s | |",
        best / 1e6
    );
    best
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn worker_memory() {
    let port = 28_550;
    let _broker = Killed(
        Command::new(bin_path("zibrato-broker"))
            .args(["--port", &port.to_string(), "--worker-hwm", "100000"])
            .stderr(Stdio::null())
            .spawn()
            .expect("broker"),
    );
    let worker = Killed(
        Command::new(bin_path("zibrato-librato"))
            .args([
                "--port",
                &(port + 1).to_string(),
                "--levels",
                "info",
                "--flush",
                "2",
                "--dry-run",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("worker"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let z = Zibrato::builder()
        .port(port)
        .thread_buffer(1 << 16)
        .build()
        .expect("client");
    while !z.stats().connected {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stream = events(SERIES, 1_000_000);
    let names: Vec<String> = (0..SERIES)
        .map(zibrato_bench::realistic::series_name)
        .collect();
    for rate in [200_000u64, 1_000_000, 3_000_000] {
        let start = Instant::now();
        let mut sent = 0u64;
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(4) {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let e = &stream[i % stream.len()];
                let name = &names[e.series];
                match e.value {
                    zibrato_wire::Value::Counter(n) => z.count_by("info", name, n),
                    zibrato_wire::Value::Gauge(v) => z.gauge("info", name, v),
                    zibrato_wire::Value::Timer(ns) => z.time_ns("info", name, ns),
                }
                i += 1;
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let (resident, peak) = rss(worker.0.id());
        let stats = z.stats();
        println!(
            "| zibrato-librato at {:.1} M/s offered | RSS {:.1} MB | peak {:.1} MB | client sent {} dropped {} |",
            rate as f64 / 1e6,
            resident as f64 / 1e6,
            peak as f64 / 1e6,
            stats.measurements_sent,
            stats.dropped()
        );
    }
}

fn main() {
    println!("| what | figure | note |");
    println!("|---|---:|---|");
    // The comparison: the same event stream (1 000 series) for both.
    let zibrato = zibrato_ingest(1_000);
    zibrato_ingest(SERIES);
    if std::env::var("ZIBRATO_BENCH_ONLY").as_deref() == Ok("ingest") {
        return; // for profiling the ingest path alone
    }
    match find_statsd() {
        Some(js) => match statsd_lossless(
            &js,
            &statsd_lines(&events(1_000, 200_000), false),
            STATSD_RATES,
            2.0,
            20,
        ) {
            Some(result) => {
                for step in &result.steps {
                    println!(
                        "| statsd at {} lines/s | received {} of {} | loss {:.2} % |",
                        step.rate,
                        step.received,
                        step.sent,
                        step.loss() * 100.0
                    );
                }
                let (rate, resident) = (result.lossless as f64, result.rss);
                println!(
                    "| statsd lossless rate | {:.0} metrics/s | RSS {:.1} MB at 1 000 names |",
                    rate,
                    resident as f64 / 1e6
                );
                if rate > 0.0 {
                    println!(
                        "| ratio zibrato / statsd | {:.0}× | bar ≥ 30× |",
                        zibrato / rate
                    );
                }
            }
            None => println!("| statsd | could not start | |"),
        },
        None => println!("| statsd | not installed (npm install statsd) | |"),
    }
    worker_memory();
}
