//! The pipeline's per-frame stages on realistic frames, per measurement: the broker's
//! accept path (decode and validate, the same function the daemon runs on every frame)
//! and the worker's aggregation (`Aggregator::ingest`: intern, look up the series, add
//! every value).
//!
//! The worker also at its series cap: frames of names it has never seen (a publisher
//! with ids in its names), every one folded into the overflow series, beside the same
//! aggregator ingesting series it holds.
//!
//! The statsd ingress's line parser, per line.
//!
//! `cargo bench -p zibrato-bench --bench stages`

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use zibrato_bench::realistic::{Event, events, frames, series_kind, statsd_lines};
use zibrato_wire::Frame;
use zibrato_wire::Value;
use zibrato_worker::internals::Aggregator;

/// Frames of `per_frame` measurements over `series` series.
fn stream(series: usize, per_frame: usize) -> Vec<Vec<u8>> {
    frames(&events(series, per_frame * 64), per_frame)
}

fn broker_accept(c: &mut Criterion) {
    let mut g = c.benchmark_group("broker_accept");
    for per_frame in [64usize, 1024] {
        let frames = stream(1_000, per_frame);
        g.throughput(Throughput::Elements(per_frame as u64));
        g.bench_with_input(
            BenchmarkId::new("measurements_per_frame", per_frame),
            &frames,
            |b, frames| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    zibrato_broker::accept(&frames[i]).expect("valid")
                })
            },
        );
    }
    g.finish();
}

/// Decode and ingest `frames` in turn, one per iteration.
fn bench_ingest(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    frames: &[Vec<u8>],
    aggregator: &mut Aggregator,
) {
    let now = Instant::now();
    g.bench_with_input(id, frames, |b, frames| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % frames.len();
            let frame = Frame::decode(&frames[i]).expect("valid");
            aggregator.ingest(&frame, now)
        })
    });
}

fn worker_aggregate(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_aggregate");
    for series in [1_000usize, 10_000] {
        let frames = stream(series, 1024);
        let mut aggregator = Aggregator::new(vec![0.5, 0.9, 0.99], Duration::from_secs(300));
        g.throughput(Throughput::Elements(1024));
        let id = BenchmarkId::new("series", series);
        bench_ingest(&mut g, id, &frames, &mut aggregator);
    }
    g.finish();
}

fn worker_at_the_cap(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_at_cap");
    g.throughput(Throughput::Elements(1024));
    let now = Instant::now();
    let known = stream(10_000, 1024);
    // 200 frames of 1 024 names never seen before, and never interned (past the cap).
    let fresh: Vec<Event> = (0..200 * 1024)
        .map(|k| {
            let series = 1_000_000 + k;
            let value = match series_kind(series) {
                zibrato_wire::Kind::Counter => Value::Counter(1),
                zibrato_wire::Kind::Timer => Value::Timer(50_000 + k as u64),
                zibrato_wire::Kind::Gauge => Value::Gauge(k as f64),
            };
            Event { series, value }
        })
        .collect();
    let fresh = frames(&fresh, 1024);
    let filled = |max_series: usize| {
        let mut aggregator = Aggregator::new(vec![0.5, 0.9, 0.99], Duration::from_secs(300))
            .with_max_series(max_series);
        for bytes in &known {
            aggregator.ingest(&Frame::decode(bytes).expect("valid"), now);
        }
        aggregator
    };
    for (case, max_series, frames) in [
        ("below_cap_known_series", 20_000, &known),
        ("at_cap_known_series", 10_000, &known),
        ("at_cap_new_names", 10_000, &fresh),
    ] {
        let mut aggregator = filled(max_series);
        bench_ingest(
            &mut g,
            BenchmarkId::new(case, 10_000),
            frames,
            &mut aggregator,
        );
    }
    g.finish();
}

/// The statsd ingress's line parser on realistic lines, plain and with DogStatsD tags.
fn statsd_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("statsd_parse");
    for tags in [false, true] {
        let lines = statsd_lines(&events(1_000, 1_000), tags);
        let lines: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
        g.throughput(Throughput::Elements(lines.len() as u64));
        let mut samples = Vec::new();
        g.bench_function(if tags { "dogstatsd_tags" } else { "plain" }, |b| {
            b.iter(|| {
                for line in &lines {
                    let parsed = zibrato_broker::statsd::parse(line, &["crit"], &mut samples);
                    std::hint::black_box(parsed.is_ok());
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = broker_accept, worker_aggregate, worker_at_the_cap, statsd_parse
}
criterion_main!(benches);
