//! What one window costs to export over OTLP, beside the Prometheus exposition of the
//! same window: bytes per window and encode time per series.
//!
//! `cargo bench -p zibrato-bench --bench otlp`
//!
//! Windows of realistic series (the `realistic` stream: counters, gauges and timers)
//! aggregated by the real worker core with timer sketches kept, as the OTLP worker
//! asks. OTLP: the worker's own mapping and encoding (`Otlp::bodies`: metrics, prost,
//! gzip), protobuf with and without gzip, and JSON. Prometheus: the Prometheus
//! worker's `Exposition::merge` and `render` of the same window.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use zibrato_bench::realistic::window;
use zibrato_otlp::{Encoding, Histograms, MappingSettings, Otlp, Settings, Temporality};
use zibrato_prometheus::Exposition;

fn otlp(encoding: Encoding, gzip: bool) -> Otlp {
    Otlp::new(Settings {
        url: "http://127.0.0.1:4318/v1/metrics".into(),
        encoding,
        gzip,
        headers: vec![],
        timeout: Duration::from_secs(10),
        max_request_bytes: 64 << 20,
        service_name: "bench".into(),
        host_name: "bench-host".into(),
        mapping: MappingSettings {
            temporality: Temporality::Delta,
            histograms: Histograms::Exponential,
            gauge_summaries: false,
            ..MappingSettings::default()
        },
        ..Settings::default()
    })
    .expect("a backend")
}

fn bytes(bodies: &[Vec<u8>]) -> usize {
    bodies.iter().map(Vec::len).sum()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("export");
    for series in [100, 1_000] {
        let window = window(series, true);
        let n = window.series.len();
        let proto = bytes(&otlp(Encoding::Protobuf, false).bodies(&window));
        let gzipped = bytes(&otlp(Encoding::Protobuf, true).bodies(&window));
        let json = bytes(&otlp(Encoding::Json, false).bodies(&window));
        let mut exposition = Exposition::new("", Duration::from_secs(300));
        exposition.merge(&window);
        let text = exposition.render().len();
        eprintln!(
            "{n} series: OTLP protobuf {proto} B ({:.0} B/series), gzip {gzipped} B ({:.0}), JSON {json} B ({:.0}); Prometheus text {text} B ({:.0})",
            proto as f64 / n as f64,
            gzipped as f64 / n as f64,
            json as f64 / n as f64,
            text as f64 / n as f64,
        );
        group.bench_function(format!("otlp_protobuf/{n}"), |b| {
            let mut backend = otlp(Encoding::Protobuf, false);
            b.iter(|| black_box(backend.bodies(black_box(&window))));
        });
        group.bench_function(format!("otlp_protobuf_gzip/{n}"), |b| {
            let mut backend = otlp(Encoding::Protobuf, true);
            b.iter(|| black_box(backend.bodies(black_box(&window))));
        });
        group.bench_function(format!("prometheus_merge_render/{n}"), |b| {
            b.iter(|| {
                let mut exposition = Exposition::new("", Duration::from_secs(300));
                exposition.merge(black_box(&window));
                black_box(exposition.render())
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
