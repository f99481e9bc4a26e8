//! The pipeline's per-frame stages on realistic frames, per measurement: the broker's
//! accept path (decode and validate, the same function the daemon runs on every frame)
//! and the worker's aggregation (`Aggregator::ingest`: intern, look up the series, add
//! every value).
//!
//! `cargo bench -p zibrato-bench --bench stages`

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zibrato_bench::realistic::{events, frames};
use zibrato_wire::Frame;
use zibrato_worker::Aggregator;

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

fn worker_aggregate(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_aggregate");
    for series in [1_000usize, 10_000] {
        let frames = stream(series, 1024);
        let mut aggregator = Aggregator::new(vec![0.5, 0.9, 0.99], Duration::from_secs(300));
        let now = Instant::now();
        g.throughput(Throughput::Elements(1024));
        g.bench_with_input(BenchmarkId::new("series", series), &frames, |b, frames| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % frames.len();
                let frame = Frame::decode(&frames[i]).expect("valid");
                aggregator.ingest(&frame, now)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = broker_accept, worker_aggregate
}
criterion_main!(benches);
