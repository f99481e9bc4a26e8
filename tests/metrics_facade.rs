//! A program instrumented only with the `metrics` facade, recorded through Zibrato's
//! `MetricsRecorder`, read back from the real broker and the real console worker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato::MetricsRecorder;
use zibrato_testkit::{bin_path, connected_client, free_ports, start_broker, start_worker};

const WAIT: Duration = Duration::from_secs(20);

/// The instrumented code: it knows the `metrics` macros and nothing of Zibrato.
mod instrumented {
    use metrics::{Unit, counter, describe_histogram, gauge, histogram};

    pub fn serve(method: &'static str, status: u16, seconds: f64) {
        counter!("http.requests", "method" => method, "status" => status.to_string()).increment(1);
        histogram!("http.latency", "source" => "web-1").record(seconds);
    }

    pub fn queue(changes: &[f64]) {
        for &change in changes {
            gauge!("queue.depth").increment(change);
        }
    }

    pub fn offsets(seen: &[u64]) {
        for &total in seen {
            counter!("kafka.offset").absolute(total);
        }
    }

    pub fn payloads(sizes: &[f64]) {
        describe_histogram!("payload.size", Unit::Bytes, "bytes per payload");
        for &size in sizes {
            histogram!("payload.size").record(size);
        }
    }

    pub fn debug_only() {
        counter!("db.debug.calls").increment(1);
    }

    pub fn misuse() {
        histogram!("render.time").record(-1.0);
        counter!("x".repeat(300)).increment(1);
    }
}

/// Sums what the console worker printed per (name, source): counters' sums, and for
/// gauges and timers (count, sum, min, max, last).
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    last: f64,
    level: String,
}

fn seen(output: &str) -> HashMap<(String, String), Seen> {
    let mut all: HashMap<(String, String), Seen> = HashMap::new();
    for line in output.lines().filter(|l| l.starts_with('{')) {
        let Ok(j) = serde_json::from_str::<Json>(line) else {
            continue;
        };
        let key = (
            j["name"].as_str().unwrap().to_string(),
            j["source"].as_str().unwrap().to_string(),
        );
        let entry = all.entry(key).or_insert_with(|| Seen {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Seen::default()
        });
        entry.level = j["level"].as_str().unwrap().to_string();
        entry.sum += j["sum"].as_f64().unwrap();
        if let Some(count) = j["count"].as_u64() {
            entry.count += count;
            entry.min = entry.min.min(j["min"].as_f64().unwrap());
            entry.max = entry.max.max(j["max"].as_f64().unwrap());
            entry.last = j["last"].as_f64().unwrap();
        }
    }
    all
}

#[test]
fn metrics_macros_arrive_at_a_worker_with_the_right_values() {
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let worker = start_worker(
        bin_path("zibrato-console"),
        port,
        &["--levels", "info", "--flush", "1", "--format", "json"],
        &[],
        "info",
    );
    let z = connected_client(port);
    MetricsRecorder::builder(z.clone())
        .level_for_prefix("db.debug.", "debug")
        .build()
        .unwrap()
        .install()
        .unwrap();

    // Two threads share keys: each keeps its own handles, the values add up.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..3 {
                    instrumented::serve("GET", 200, 0.25);
                }
                instrumented::serve("POST", 500, 1.5);
            });
        }
    });
    instrumented::queue(&[3.0, 2.0, -1.0]);
    instrumented::offsets(&[10, 7, 15]);
    instrumented::payloads(&[512.0, 2048.0]);
    instrumented::debug_only();
    let rejected_before = z.stats().rejected;
    instrumented::misuse();
    z.flush(WAIT).unwrap();

    let stats = z.stats();
    assert_eq!(stats.rejected - rejected_before, 2, "{stats:?}");
    assert_eq!(
        stats.filtered, 1,
        "db.debug.calls goes to the unsubscribed debug level"
    );

    let key = |name: &str, source: &str| (name.to_string(), source.to_string());
    let deadline = Instant::now() + WAIT;
    let all = loop {
        let all = seen(&worker.output());
        let done = all
            .get(&key("payload.size", "not_specified"))
            .is_some_and(|s| s.count == 2)
            && all
                .get(&key("http.latency", "web-1"))
                .is_some_and(|s| s.count == 8);
        if done || Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let get = |name: &str, source: &str| {
        all.get(&key(name, source))
            .cloned()
            .unwrap_or_else(|| panic!("{name} from {source} never arrived: {all:#?}"))
    };

    // Labels other than `source` become `;key=value`, sorted by key.
    assert_eq!(
        get("http.requests;method=GET;status=200", "not_specified").sum,
        6.0
    );
    assert_eq!(
        get("http.requests;method=POST;status=500", "not_specified").sum,
        2.0
    );
    assert_eq!(
        get("http.requests;method=GET;status=200", "not_specified").level,
        "info"
    );

    // Histograms are timers in seconds, exact to the nanosecond.
    let latency = get("http.latency", "web-1");
    assert_eq!(latency.count, 8);
    assert_eq!(latency.sum, 6.0 * 250e6 + 2.0 * 1.5e9);
    assert_eq!((latency.min, latency.max), (250e6, 1.5e9));

    // Gauge increments: readings 3, 5, 4.
    let depth = get("queue.depth", "not_specified");
    assert_eq!(
        (depth.count, depth.min, depth.max, depth.last),
        (3, 3.0, 5.0, 4.0)
    );

    // absolute(10), absolute(7), absolute(15): the counter rose by 15 in all.
    assert_eq!(get("kafka.offset", "not_specified").sum, 15.0);

    // A histogram described in bytes is a gauge of the sizes.
    let sizes = get("payload.size", "not_specified");
    assert_eq!((sizes.count, sizes.sum, sizes.max), (2, 2560.0, 2048.0));

    assert!(
        !all.keys().any(|(name, _)| name.starts_with("db.debug")),
        "{all:#?}"
    );
    assert!(
        MetricsRecorder::builder(z)
            .build()
            .unwrap()
            .install()
            .is_err(),
        "a second recorder is refused"
    );
}
