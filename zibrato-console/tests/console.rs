//! client → real broker → real zibrato-console: what it prints, checked for content.

use std::time::Duration;

use serde_json::Value as Json;
use zibrato::Zibrato;
use zibrato_testkit::{Daemon, connected_client, free_ports, start_broker, start_worker};

const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-console");
const WAIT: Duration = Duration::from_secs(15);

/// Runs broker and worker, records, and returns both (the worker first).
fn run(format: &str, record: impl FnOnce(&Zibrato)) -> (Daemon, Daemon) {
    let port = free_ports();
    let broker = start_broker(port, &[]);
    let worker = start_worker(
        WORKER,
        port,
        &["--levels", "info", "--flush", "1", "--format", format],
        &[],
        "info",
    );
    let z = connected_client(port);
    record(&z);
    z.flush(WAIT).unwrap();
    (worker, broker)
}

#[test]
fn the_table_shows_each_series_with_its_numbers() {
    let (worker, _broker) = run("table", |z| {
        let web = z.with_source("web-1");
        for _ in 0..3 {
            web.count("info", "requests");
        }
        web.gauge("info", "depth", 2.0);
        web.gauge("info", "depth", 6.0);
        z.time_ns("info", "db.query", 2_000_000);
        z.time_ns("info", "db.query", 4_000_000);
    });
    worker.wait_for_output("db.query", WAIT);
    let output = worker.output();
    let row = |name: &str| -> Vec<String> {
        output
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{output}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert!(
        output.contains("level") && output.contains("p99"),
        "{output}"
    );
    assert_eq!(
        row("requests")[..5],
        ["info", "requests", "web-1", "counter", "3"]
    );
    assert_eq!(
        row("depth")[..8],
        ["info", "depth", "web-1", "gauge", "2", "8", "2", "6"]
    );
    let timer = row("db.query");
    assert_eq!(
        timer[..5],
        ["info", "db.query", "not_specified", "timer", "2"]
    );
    assert_eq!(timer[5..7], ["6", "ms"], "sum 6 ms: {timer:?}");
}

#[test]
fn json_lines_carry_every_statistic() {
    let (worker, _broker) = run("json", |z| {
        z.count_by("info", "jobs", 5);
        z.time_ns("info", "job.time", 1_000);
    });
    worker.wait_for_output("job.time", WAIT);
    let objects: Vec<Json> = worker
        .output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let jobs = objects.iter().find(|o| o["name"] == "jobs").unwrap();
    assert_eq!(
        (jobs["kind"].as_str(), jobs["sum"].as_i64()),
        (Some("counter"), Some(5))
    );
    let time = objects.iter().find(|o| o["name"] == "job.time").unwrap();
    assert_eq!(time["count"], 1);
    assert_eq!(time["max"], 1000.0);
    assert_eq!(time["source"], "not_specified");
    assert!(time["percentiles"]["p99"].is_number());
    assert!(time["measure_time"].as_u64().is_some());
}

#[test]
fn absurdly_long_durations_neither_panic_nor_wrap() {
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let mut worker = start_worker(
        WORKER,
        port,
        &[
            "--levels",
            "info",
            "--flush",
            "1e19",
            "--expire-after",
            "1e19",
            "--shutdown-timeout",
            "1e19",
            "--max-retry-after",
            "1e19",
            "--format",
            "json",
        ],
        &[],
        "info",
    );
    let z = connected_client(port);
    z.count_by("info", "once", 3);
    z.flush(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The window never closes on its own; SIGTERM delivers it.
    assert!(worker.stop("TERM").success(), "{}", worker.output());
    assert!(
        worker.output().contains("\"name\":\"once\""),
        "{}",
        worker.output()
    );
}
