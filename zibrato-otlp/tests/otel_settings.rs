//! OpenTelemetry's own settings reach the real `zibrato-otlp`: its environment
//! variables (and the flags that win over them), and a receiver's `google.rpc.Status`
//! error body read into the log. The receiver decodes with the official Python
//! packages (tests/otlp_receiver.py).

mod receiver;

use serde_json::Value as Json;
use zibrato_testkit::{connected_client, free_ports, start_broker, start_worker};

use receiver::{Receiver, WAIT, WORKER, array, attributes, num, worker};

#[test]
fn the_opentelemetry_variables_configure_the_exporter_and_flags_win() {
    // A signal-specific endpoint is used as it is: this receiver answers only there.
    let Some(receiver) = Receiver::start(&["--path", "/custom/ingest"]) else {
        return;
    };
    let endpoint = format!("{}/custom/ingest", receiver.url);
    let general = format!("{}/ignored-general", receiver.url);
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", general.as_str()),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        // A flag below wins over this one.
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "4000"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-general=never-sent"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=team%20a"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "cumulative",
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test,service.instance.id=web-7,broken",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
    ];
    let worker = start_worker(
        WORKER,
        port,
        &["--levels", "info", "--flush", "1", "--compression", "gzip"],
        &env,
        "info",
    );
    let z = connected_client(port);
    z.count_by("info", "orders", 3);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a window at the signal-specific URL", |r| {
        !r.points("orders").is_empty()
    });
    z.count_by("info", "orders", 4);
    z.flush(WAIT).unwrap();
    // Cumulative, from the temporality preference.
    receiver.wait_for("a running total of 7", |r| {
        r.points("orders")
            .iter()
            .any(|(_, p)| num(&p["as_int"]) == 7.0)
    });
    let (metric, _) = &receiver.points("orders")[0];
    assert_eq!(
        metric["sum"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    let export = receiver
        .exports()
        .into_iter()
        .find(|e| e["empty"] == false)
        .unwrap();
    // JSON from OTEL_EXPORTER_OTLP_PROTOCOL; gzip from the flag, not the variable.
    assert_eq!(export["json"], Json::Bool(true));
    assert_eq!(export["gzip"], Json::Bool(true));
    // The signal-specific headers, not the general ones; values percent-decoded.
    assert_eq!(export["headers"]["x-tenant"], "team a");
    assert!(export["headers"].get("x-general").is_none(), "{export}");
    let attrs = attributes(&export["request"]["resource_metrics"][0]["resource"]);
    for expected in [
        ("deployment.environment", "test"),
        ("service.instance.id", "web-7"),
        ("service.name", "checkout"),
    ] {
        assert!(
            attrs.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{attrs:?}"
        );
    }
    assert!(
        worker
            .output()
            .contains("OTEL_RESOURCE_ATTRIBUTES=\"broken\" is ignored"),
        "{}",
        worker.output()
    );
}

#[test]
fn a_general_endpoint_gets_the_metrics_path_and_the_histogram_aggregation_applies() {
    // `OTEL_EXPORTER_OTLP_ENDPOINT` with a path: `v1/metrics` goes after it.
    let Some(receiver) = Receiver::start(&["--path", "/otlp/v1/metrics"]) else {
        return;
    };
    let base = format!("{}/otlp", receiver.url);
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let _worker = start_worker(
        WORKER,
        port,
        &["--levels", "info", "--flush", "1"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "explicit_bucket_histogram",
            ),
        ],
        "info",
    );
    let z = connected_client(port);
    z.time_ns("info", "render", 3_000_000);
    z.flush(WAIT).unwrap();
    receiver.wait_for("a window under the base path", |r| {
        !r.points("render").is_empty()
    });
    let (metric, point) = receiver.points("render")[0].clone();
    assert!(metric.get("histogram").is_some(), "{metric}");
    assert_eq!(
        array(&point["explicit_bounds"]).len(),
        11,
        "the default bounds"
    );
}

#[test]
fn the_opentelemetry_timeout_is_milliseconds() {
    // A receiver that answers after 3 s, and a timeout of 500 ms.
    let Some(receiver) = Receiver::start(&["--delay", "3"]) else {
        return;
    };
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let worker = worker(
        port,
        &receiver,
        &[],
        &[("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "500")],
    );
    let z = connected_client(port);
    z.count_by("info", "slow", 1);
    z.flush(WAIT).unwrap();
    worker.wait_for_output("request timed out", WAIT);
}

#[test]
fn a_google_rpc_status_error_body_is_logged_as_its_message() {
    for protocol in ["protobuf", "json"] {
        let Some(receiver) = Receiver::start(&["--refuse", "400"]) else {
            return;
        };
        let port = free_ports();
        let _broker = start_broker(port, &[]);
        let worker = worker(port, &receiver, &["--protocol", protocol], &[]);
        let z = connected_client(port);
        z.count_by("info", "refused.once", 1);
        z.flush(WAIT).unwrap();
        worker.wait_for_output(
            "400 Bad Request: the test refuses this export (google.rpc.Status code 3)",
            WAIT,
        );
    }
}
