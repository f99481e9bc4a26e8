//! Timers as OpenTelemetry's SDKs export histograms: cumulative when asked (across
//! windows, and starting again after a restart), and exponential histograms held to
//! a bucket count by downscaling. The receiver decodes with the official Python
//! package (tests/otlp_receiver.py).

mod receiver;

use serde_json::Value as Json;
use zibrato_testkit::{connected_client, free_ports, start_broker};

use receiver::{Receiver, WAIT, array, num, worker};

fn bucket_total(point: &Json) -> f64 {
    array(&point["positive"]["bucket_counts"])
        .iter()
        .map(num)
        .sum::<f64>()
        + point.get("zero_count").map_or(0.0, num)
}

#[test]
fn cumulative_histograms_run_on_across_windows_and_start_again_after_a_restart() {
    let Some(receiver) = Receiver::start(&[]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let first = worker(
        port,
        &receiver,
        &[],
        &[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "cumulative",
        )],
    );
    let z = connected_client(port);
    for ms in [4, 8, 16] {
        z.time_ns("info", "render", ms * 1_000_000);
    }
    z.flush(WAIT).unwrap();
    receiver.wait_for("the first window", |r| !r.points("render").is_empty());
    for ms in [2, 64] {
        z.time_ns("info", "render", ms * 1_000_000);
    }
    z.flush(WAIT).unwrap();
    receiver.wait_for("a histogram of 5", |r| {
        r.points("render")
            .iter()
            .any(|(_, p)| num(&p["count"]) == 5.0)
    });
    let points = receiver.points("render");
    let (metric, first_point) = &points[0];
    assert_eq!(
        metric["exponential_histogram"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    let (_, total) = points
        .iter()
        .find(|(_, p)| num(&p["count"]) == 5.0)
        .unwrap();
    assert_eq!(
        total["start_time_unix_nano"],
        first_point["start_time_unix_nano"]
    );
    assert!((num(&total["sum"]) - 0.094).abs() < 1e-9, "{total}");
    assert!((num(&total["min"]) - 0.002).abs() < 1e-12);
    assert!((num(&total["max"]) - 0.064).abs() < 1e-12);
    assert_eq!(bucket_total(total), 5.0);
    // Counts never go down while the worker runs.
    let counts: Vec<f64> = points.iter().map(|(_, p)| num(&p["count"])).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    drop(first);

    // A restarted worker has no history: its series start again, with a later start
    // time, which is how a backend tells a reset from a drop.
    let before = receiver.points("render").len();
    let _second = worker(port, &receiver, &["--temporality", "cumulative"], &[]);
    z.time_ns("info", "render", 1_000_000);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a point from the restarted worker", |r| {
        r.points("render").len() > before
    });
    let (_, restarted) = receiver.points("render")[before].clone();
    assert_eq!(num(&restarted["count"]), 1.0);
    assert!(
        num(&restarted["start_time_unix_nano"]) > num(&first_point["start_time_unix_nano"]),
        "{restarted}"
    );
}

#[test]
fn an_exponential_histogram_is_downscaled_to_the_bucket_cap() {
    let Some(receiver) = Receiver::start(&[]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let _worker = worker(port, &receiver, &["--max-buckets", "20"], &[]);
    let z = connected_client(port);
    // 1 ms to 10 s: over 13 powers of two, 852 buckets at scale 6.
    let values: Vec<u64> = (0..=100)
        .map(|i| (1e6 * f64::powf(10_000.0, f64::from(i) / 100.0)) as u64)
        .collect();
    for v in &values {
        z.time_ns("info", "wide", *v);
    }
    z.flush(WAIT).unwrap();
    receiver.wait_for("the wide histogram", |r| !r.points("wide").is_empty());
    let (_, point) = receiver.points("wide")[0].clone();
    let buckets = array(&point["positive"]["bucket_counts"]).len();
    assert!(buckets <= 20, "{buckets} buckets");
    // 13.3 powers of two in 20 buckets: one per power of two (scale 0) fits, two
    // (scale 1) do not. Protobuf's JSON form leaves out a 0.
    assert_eq!(point["scale"].as_i64().unwrap_or(0), 0, "{point}");
    assert_eq!(num(&point["count"]), 101.0);
    assert_eq!(bucket_total(&point), 101.0);
    assert!((num(&point["min"]) - 0.001).abs() < 1e-12);
    assert!((num(&point["max"]) - values[100] as f64 / 1e9).abs() < 1e-12);
}
