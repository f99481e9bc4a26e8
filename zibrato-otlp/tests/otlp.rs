//! The real `zibrato-otlp` binary, fed by the real broker, exporting to an OTLP
//! receiver that decodes with the official Python `opentelemetry-proto` package
//! (tests/otlp_receiver.py), not with our code.

mod receiver;

use std::time::Duration;

use serde_json::Value as Json;
use zibrato_testkit::{connected_client, free_ports, start_broker};

use receiver::{API_KEY, Receiver, WAIT, array, attributes, num, sum_of, worker};

#[test]
fn a_window_arrives_exactly_with_its_attributes_resource_and_headers() {
    let Some(receiver) = Receiver::start(&[]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let worker = worker(
        port,
        &receiver,
        &["--service-name", "checkout", "--host-name", "web-7"],
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("api-key={API_KEY},x-team=ops"),
        )],
    );
    let z = connected_client(port);
    let web = z.with_source("web-1");
    for _ in 0..40 {
        web.count("info", "http.requests;method=GET");
    }
    z.count_by("info", "jobs", 5);
    z.gauge("info", "queue.depth", 3.0);
    z.gauge("info", "queue.depth", 7.5);
    for ms in [2u64, 4, 8, 16, 32, 2, 4, 8, 16, 32] {
        z.time_ns("info", "db.query", ms * 1_000_000);
    }
    z.flush(WAIT).unwrap();

    receiver.wait_for("every measurement", |r| {
        sum_of(r, "http.requests") == 40.0
            && sum_of(r, "jobs") == 5.0
            && r.points("db.query")
                .iter()
                .map(|(_, p)| num(&p["count"]))
                .sum::<f64>()
                == 10.0
            && !r.points("queue.depth").is_empty()
    });

    // Counters: monotonic delta sums, tags and source as attributes.
    let (metric, point) = receiver.points("http.requests")[0].clone();
    assert_eq!(metric["sum"]["is_monotonic"], true);
    assert_eq!(
        metric["sum"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_DELTA"
    );
    assert_eq!(
        attributes(&point),
        [
            ("level".into(), "info".into()),
            ("method".into(), "GET".into()),
            ("source".into(), "web-1".into())
        ]
    );
    // A series without a source has no source attribute.
    let (_, jobs) = receiver.points("jobs")[0].clone();
    assert_eq!(attributes(&jobs), [("level".into(), "info".into())]);
    // Start and end of the window, one second apart.
    let (start, end) = (
        num(&jobs["start_time_unix_nano"]),
        num(&jobs["time_unix_nano"]),
    );
    assert_eq!(end - start, 1e9);
    assert_eq!(end % 1e9, 0.0);

    // The gauge: the last reading of its window.
    let gauges = receiver.points("queue.depth");
    assert_eq!(gauges.last().unwrap().1["as_double"], 7.5);

    // The timer: an exponential histogram in seconds with exact count, sum, min, max,
    // and bucket totals equal to the count.
    let timers = receiver.points("db.query");
    assert_eq!(timers.len(), 1, "one window: {timers:?}");
    let (metric, h) = &timers[0];
    assert_eq!(metric["unit"], "s");
    assert!(metric.get("exponential_histogram").is_some());
    assert_eq!(num(&h["count"]), 10.0);
    assert!((num(&h["sum"]) - 0.124).abs() < 1e-12);
    assert!((num(&h["min"]) - 0.002).abs() < 1e-12);
    assert!((num(&h["max"]) - 0.032).abs() < 1e-12);
    // 2 ms to 32 ms spans four powers of two: 257 buckets at scale 6, over the default
    // cap of 160, so downscaled once.
    assert_eq!(h["scale"], 5);
    assert!(array(&h["positive"]["bucket_counts"]).len() <= 160);
    let buckets: f64 = array(&h["positive"]["bucket_counts"]).iter().map(num).sum();
    let zero = h.get("zero_count").map_or(0.0, num);
    assert_eq!(buckets + zero, 10.0);

    // The resource and the scope.
    let export = receiver
        .exports()
        .into_iter()
        .find(|e| e["empty"] == false)
        .unwrap();
    let resource = &export["request"]["resource_metrics"][0]["resource"];
    assert_eq!(
        attributes(resource),
        [
            ("host.name".into(), "web-7".into()),
            ("service.name".into(), "checkout".into())
        ]
    );
    assert_eq!(
        export["request"]["resource_metrics"][0]["scope_metrics"][0]["scope"]["name"],
        "zibrato"
    );
    // Headers from the environment on every request, gzip by default, never logged.
    assert_eq!(export["headers"]["api-key"], API_KEY);
    assert_eq!(export["headers"]["x-team"], "ops");
    assert_eq!(export["gzip"], true);
    assert_eq!(export["json"], false);
    assert!(!worker.output().contains(API_KEY), "{}", worker.output());
}

#[test]
fn cumulative_counters_run_on_across_windows_in_json_with_explicit_buckets() {
    let Some(receiver) = Receiver::start(&[]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("zibrato-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let headers = dir.join("headers");
    std::fs::write(&headers, format!("# vendor key\nx-api-key: {API_KEY}\n")).unwrap();
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let worker = worker(
        port,
        &receiver,
        &[
            "--temporality",
            "cumulative",
            "--protocol",
            "json",
            "--compression",
            "none",
            "--histogram",
            "explicit",
            "--buckets",
            "0.005,0.01",
            "--headers-file",
            headers.to_str().unwrap(),
        ],
        &[],
    );
    let z = connected_client(port);
    z.count_by("info", "orders", 3);
    z.time_ns("info", "render", 7_000_000);
    z.flush(WAIT).unwrap();
    receiver.wait_for("the first window", |r| !r.points("orders").is_empty());
    z.count_by("info", "orders", 4);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a running total of 7", |r| {
        r.points("orders")
            .iter()
            .any(|(_, p)| num(&p["as_int"]) == 7.0)
    });
    let points = receiver.points("orders");
    let (metric, first) = &points[0];
    assert_eq!(
        metric["sum"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert_eq!(num(&first["as_int"]), 3.0);
    // Every point of a cumulative series starts where the first did.
    assert!(
        points
            .iter()
            .all(|(_, p)| p["start_time_unix_nano"] == first["start_time_unix_nano"])
    );
    // Totals never go down, and idle windows repeat the total (never reset to 0).
    let totals: Vec<f64> = points.iter().map(|(_, p)| num(&p["as_int"])).collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");

    let (metric, h) = receiver.points("render")[0].clone();
    assert!(metric.get("histogram").is_some(), "{metric}");
    assert_eq!(array(&h["explicit_bounds"]), [0.005, 0.01]);
    let counts: Vec<f64> = array(&h["bucket_counts"]).iter().map(num).collect();
    assert_eq!(counts, [0.0, 1.0, 0.0]);

    let export = receiver
        .exports()
        .into_iter()
        .find(|e| e["empty"] == false)
        .unwrap();
    assert_eq!(
        (export["json"].clone(), export["gzip"].clone()),
        (Json::Bool(true), Json::Bool(false))
    );
    assert_eq!(export["headers"]["x-api-key"], API_KEY);
    assert!(!worker.output().contains(API_KEY));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retryable_statuses_are_retried_and_deliver_once() {
    for status in ["429", "503"] {
        let Some(receiver) = Receiver::start(&["--fail", "2", "--status", status]) else {
            return;
        };
        let port = free_ports();
        let _broker = start_broker(port, &[]);
        let worker = worker(port, &receiver, &[], &[]);
        let z = connected_client(port);
        z.count_by("info", "retried", 11);
        z.flush(WAIT).unwrap();
        receiver.wait_for("the count after the refusals", |r| {
            sum_of(r, "retried") == 11.0
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(sum_of(&receiver, "retried"), 11.0, "delivered once");
        let refused = receiver
            .daemon
            .output()
            .lines()
            .filter(|l| l.starts_with("{\"refused\""))
            .count();
        assert_eq!(refused, 2);
        assert!(worker.output().contains(status), "{}", worker.output());
    }
}

#[test]
fn partial_success_is_counted_and_logged() {
    let Some(receiver) = Receiver::start(&["--partial", "1"]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let mut worker = worker(port, &receiver, &[], &[]);
    let z = connected_client(port);
    z.count("info", "a");
    z.count("info", "b");
    z.flush(WAIT).unwrap();
    worker.wait_for_output("1 points refused by the test", WAIT);
    worker.stop("TERM");
    assert!(
        worker.output().contains("rejected_series=1 "),
        "the worker's totals count the refused point:\n{}",
        worker.output()
    );
}

#[test]
fn a_big_window_is_split_into_bounded_requests() {
    let Some(receiver) = Receiver::start(&[]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let _worker = worker(port, &receiver, &["--max-request-bytes", "4096"], &[]);
    let z = connected_client(port);
    for i in 0..300 {
        z.count_by("info", &format!("split.series.{i:03}"), i + 1);
    }
    z.flush(WAIT).unwrap();
    let total = |r: &Receiver| -> f64 {
        (0..300)
            .map(|i| sum_of(r, &format!("split.series.{i:03}")))
            .sum()
    };
    receiver.wait_for("all 300 series", |r| {
        total(r) == (1..=300).sum::<i64>() as f64
    });
    let exports: Vec<Json> = receiver
        .exports()
        .into_iter()
        .filter(|e| e["empty"] == false)
        .collect();
    // The first window's 300 series in several requests, each body within the bound
    // before compression.
    assert!(exports.len() >= 3, "{} requests", exports.len());
    for e in &exports {
        let raw = e["bytes"].as_u64().unwrap();
        assert!(raw <= 4096, "a body of {raw} bytes");
    }
}
