//! One record call on the application thread: Zibrato beside metrics-rs (with its
//! Prometheus recorder, macro and kept-handle paths) and cadence (buffered UDP sink,
//! and that sink behind its queuing sink), on one thread and on two, in one run.
//!
//! `cargo bench -p zibrato-bench --bench record`
//!
//! cadence's sinks send UDP to 127.0.0.1:8125; nothing needs to listen there.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use cadence::{BufferedUdpMetricSink, Counted, QueuingMetricSink, StatsdClient, Timed};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use zibrato_bench::realistic::{events, series_name};
use zibrato_bench::time_on_threads;
use zibrato_client::Zibrato;

fn zibrato_client() -> Zibrato {
    // The whole publisher runs (buffers, batching, encoding); only the socket is left
    // out, so the figure is the application thread's cost, not the network's.
    Zibrato::builder()
        .noop()
        .thread_buffer(1 << 16)
        .build()
        .expect("client")
}

fn cadence_buffered() -> StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let sink = BufferedUdpMetricSink::from(("127.0.0.1", 8125), socket).expect("sink");
    StatsdClient::from_sink("bench", sink)
}

fn cadence_queuing() -> StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let sink = BufferedUdpMetricSink::from(("127.0.0.1", 8125), socket).expect("sink");
    StatsdClient::from_sink("bench", QueuingMetricSink::with_capacity(sink, 1 << 20))
}

fn install_metrics_recorder() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _ = metrics::set_global_recorder(recorder);
}

fn bench_threads<F: Fn(u64) + Sync>(c: &mut Criterion, group: &str, name: &str, work: F) {
    let mut g = c.benchmark_group(group);
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new(name, format!("{threads}t")),
            &threads,
            |b, &threads| b.iter_custom(|iterations| time_on_threads(threads, iterations, &work)),
        );
    }
    g.finish();
}

fn counters(c: &mut Criterion) {
    install_metrics_recorder();
    let z = zibrato_client();
    bench_threads(c, "counter", "zibrato", |_| z.count("info", "requests"));
    let kept = z.register_counter("info", "requests.kept").expect("valid");
    bench_threads(c, "counter", "zibrato_kept", |_| kept.increment(1));
    bench_threads(c, "counter", "metrics_macro", |_| {
        metrics::counter!("requests").increment(1)
    });
    let handle = metrics::counter!("requests.kept");
    bench_threads(c, "counter", "metrics_kept", |_| handle.increment(1));
    let queuing = cadence_queuing();
    bench_threads(c, "counter", "cadence_queuing", |_| {
        let _ = black_box(queuing.count("requests", 1));
    });
    let buffered = cadence_buffered();
    bench_threads(c, "counter", "cadence_buffered", |_| {
        let _ = black_box(buffered.count("requests", 1));
    });
    report(&z);
}

fn timers(c: &mut Criterion) {
    install_metrics_recorder();
    let z = zibrato_client();
    bench_threads(c, "timer", "zibrato", |i| z.time_ns("info", "latency", i));
    let kept = z.register_timer("info", "latency.kept").expect("valid");
    bench_threads(c, "timer", "zibrato_kept", |i| kept.record_ns(i));
    bench_threads(c, "timer", "metrics_macro", |i| {
        metrics::histogram!("latency").record(i as f64)
    });
    let queuing = cadence_queuing();
    bench_threads(c, "timer", "cadence_queuing", |i| {
        let _ = black_box(queuing.time("latency", Duration::from_nanos(i)));
    });
    report(&z);
}

fn gauges(c: &mut Criterion) {
    install_metrics_recorder();
    let z = zibrato_client();
    bench_threads(c, "gauge", "zibrato", |i| {
        z.gauge("info", "depth", i as f64)
    });
    bench_threads(c, "gauge", "metrics_macro", |i| {
        metrics::gauge!("depth").set(i as f64)
    });
    report(&z);
}

/// One counter call spread over 1 000 series in a shuffled order (a service with many
/// endpoints and names), beside metrics-rs's macro and cadence with the same names.
fn many_series(c: &mut Criterion) {
    install_metrics_recorder();
    let z = zibrato_client();
    let names: Vec<&'static str> = (0..1_000)
        .map(|i| &*Box::leak(series_name(i).into_boxed_str()))
        .collect();
    let order: Vec<&'static str> = events(1_000, 1 << 16)
        .iter()
        .map(|e| names[e.series])
        .collect();
    let name = |i: u64| order[i as usize % order.len()];
    bench_threads(c, "counter_1000_series", "zibrato", |i| {
        z.count("info", name(i))
    });
    bench_threads(c, "counter_1000_series", "metrics_macro", |i| {
        metrics::counter!(name(i)).increment(1)
    });
    let queuing = cadence_queuing();
    bench_threads(c, "counter_1000_series", "cadence_queuing", |i| {
        let _ = black_box(queuing.count(name(i), 1));
    });
    report(&z);
}

/// The `metrics` macros through Zibrato's `MetricsRecorder` beside the same macros
/// through metrics-rs's Prometheus recorder. Both recorders are made current with
/// `with_local_recorder` on every call (a thread-local swap, the same for both), so the
/// figures include that small cost on top of a global recorder's.
fn facade(c: &mut Criterion) {
    let z = zibrato_client();
    let zibrato = zibrato_client::MetricsRecorder::builder(z.clone())
        .build()
        .expect("recorder");
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    bench_threads(c, "facade_counter", "via_zibrato", |_| {
        metrics::with_local_recorder(&zibrato, || metrics::counter!("requests").increment(1))
    });
    bench_threads(c, "facade_counter", "via_metrics_prometheus", |_| {
        metrics::with_local_recorder(&prometheus, || metrics::counter!("requests").increment(1))
    });
    bench_threads(c, "facade_counter_labels", "via_zibrato", |_| {
        metrics::with_local_recorder(&zibrato, || {
            metrics::counter!("requests", "method" => "GET", "status" => "200").increment(1)
        })
    });
    bench_threads(c, "facade_counter_labels", "via_metrics_prometheus", |_| {
        metrics::with_local_recorder(&prometheus, || {
            metrics::counter!("requests", "method" => "GET", "status" => "200").increment(1)
        })
    });
    bench_threads(c, "facade_histogram", "via_zibrato", |i| {
        metrics::with_local_recorder(&zibrato, || {
            metrics::histogram!("latency").record(i as f64 * 1e-9)
        })
    });
    bench_threads(c, "facade_histogram", "via_metrics_prometheus", |i| {
        metrics::with_local_recorder(&prometheus, || {
            metrics::histogram!("latency").record(i as f64 * 1e-9)
        })
    });
    report(&z);
}

/// How much of what was recorded the publisher kept up with (the rest was counted as
/// dropped at a full buffer, which is also a record call's cost).
fn report(z: &Zibrato) {
    let _ = z.flush(Duration::from_secs(5));
    let s = z.stats();
    eprintln!(
        "zibrato: recorded {} dropped_buffer_full {} ({:.1} %)",
        s.recorded,
        s.dropped_buffer_full,
        100.0 * s.dropped_buffer_full as f64 / (s.recorded + s.dropped_buffer_full).max(1) as f64
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = counters, timers, gauges, many_series, facade
}
criterion_main!(benches);
