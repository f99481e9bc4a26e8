//! The statsd ingress against the real peer and real clients: the same datagrams go to
//! Etsy statsd and to the broker (a tee in the test copies each one to both), and the
//! counters, gauges and timers Zibrato's console worker prints equal what statsd holds
//! (percentiles within the sketch's error). The lines come from this test, from pystatsd
//! and from hot-shots (including tags and sample rates).
//!
//! Needs node with Etsy statsd and hot-shots, and a Python with pystatsd (`.ci/run`
//! installs them); without them each test says SKIPPED, unless `ZIBRATO_REQUIRE_TOOLS=1`.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value as Json;
use zibrato_testkit::{
    Daemon, Statsd, bin_path, free_ports, free_udp_port, require_hotshots, require_pystatsd,
    require_statsd, start_broker, start_worker, wait_until,
};

const WAIT: Duration = Duration::from_secs(30);

/// Copies every datagram sent to its port to statsd and to the broker.
struct Tee {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Tee {
    fn start(targets: [u16; 2]) -> Tee {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                let mut copied = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(len) = socket.recv(&mut buf) {
                        for target in targets {
                            socket.send_to(&buf[..len], ("127.0.0.1", target)).unwrap();
                        }
                        copied += 1;
                    }
                }
                copied
            })
        };
        Tee {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops copying; returns how many datagrams were copied.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Etsy statsd and a broker taking statsd lines with a console worker holding one long
/// window, both fed by a tee.
struct Both {
    statsd: Statsd,
    broker: Daemon,
    worker: Daemon,
    tee: Tee,
}

fn both() -> Option<Both> {
    let stats_js = require_statsd()?;
    let statsd_port = free_ports();
    let statsd = Statsd::start(&stats_js, statsd_port, statsd_port + 1).expect("statsd starts");
    let port = free_ports();
    let ingress = free_udp_port();
    let listen = format!("127.0.0.1:{ingress}");
    let broker = start_broker(port, &["--statsd", &listen, "--stats-interval", "3600"]);
    let worker = start_worker(
        bin_path("zibrato-console"),
        port,
        &[
            "--levels",
            "info",
            "--flush",
            "3600",
            "--format",
            "json",
            "--expire-after",
            "7200",
        ],
        &[],
        "info",
    );
    let tee = Tee::start([statsd_port, ingress]);
    Some(Both {
        statsd,
        broker,
        worker,
        tee,
    })
}

impl Both {
    /// Waits until statsd has every line, then ends the window at the worker; returns
    /// the worker's series by name.
    fn settle(self, lines: u64) -> (Statsd, Daemon, HashMap<String, Json>) {
        let Both {
            statsd,
            mut broker,
            mut worker,
            tee,
        } = self;
        wait_until("statsd to have every line", WAIT, || {
            statsd.metrics_received() >= lines
        });
        tee.finish();
        // The ingress seals within 10 ms; the worker's stop delivers its last window.
        std::thread::sleep(Duration::from_millis(500));
        assert!(worker.stop("TERM").success());
        assert!(broker.stop("TERM").success());
        let series = worker
            .output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .map(|o| (o["name"].as_str().unwrap_or_default().to_string(), o))
            .collect();
        (statsd, broker, series)
    }
}

/// statsd's own percentile of raw values is the value at rank round(q × count); the
/// sketch's may be the value a rank either side (the definitions round differently),
/// within its 0.8 % relative error. Returns the bounds ours must be within.
fn percentile_bounds(sorted: &[f64], q: f64) -> (f64, f64) {
    let rank = ((q * sorted.len() as f64).round() as usize).clamp(1, sorted.len());
    let below = sorted[rank.saturating_sub(2)];
    let above = sorted[rank.min(sorted.len() - 1)];
    (below * (1.0 - 0.008), above * (1.0 + 0.008))
}

/// Checks that each counter's sum at the worker is statsd's value.
fn same_counters(statsd: &Statsd, series: &HashMap<String, Json>, names: &[&str]) {
    for name in names {
        let theirs = statsd
            .counter(name)
            .unwrap_or_else(|| panic!("statsd has no {name}"));
        assert_eq!(
            series[*name]["sum"].as_f64(),
            Some(theirs),
            "counter {name}"
        );
    }
}

/// Checks a timer's figures at the worker against statsd's raw values (ms).
fn same_timer(statsd: &Statsd, series: &HashMap<String, Json>, name: &str) {
    let mut values = statsd
        .timer(name)
        .unwrap_or_else(|| panic!("statsd has no {name}"));
    values.sort_by(f64::total_cmp);
    let ours = &series[name];
    let ms = |key: &str| ours[key].as_f64().unwrap() / 1e6;
    assert_eq!(
        ours["count"].as_u64(),
        Some(values.len() as u64),
        "{name} count"
    );
    // Durations travel in whole nanoseconds.
    let nanosecond = 1e-6;
    let sum: f64 = values.iter().sum();
    let rounding = nanosecond * values.len() as f64;
    assert!(
        (ms("sum") - sum).abs() <= rounding,
        "{name} sum {} vs {sum}",
        ms("sum")
    );
    let (min, max) = (values[0], values[values.len() - 1]);
    assert!(
        (ms("min") - min).abs() <= nanosecond,
        "{name} min {} vs {min}",
        ms("min")
    );
    assert!(
        (ms("max") - max).abs() <= nanosecond,
        "{name} max {} vs {max}",
        ms("max")
    );
    for (q, key) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
        let (low, high) = percentile_bounds(&values, q);
        let ours = ours["percentiles"][key].as_f64().unwrap() / 1e6;
        assert!(
            (low..=high).contains(&ours),
            "{name} {key}: ours {ours} ms, statsd's within {low}..={high} ms"
        );
    }
}

#[test]
fn the_same_lines_give_what_etsy_statsd_gives() {
    let Some(both) = both() else {
        return;
    };
    let mut lines: Vec<String> = Vec::new();
    for k in 1..=50 {
        lines.push(format!("c.plain:{k}|c"));
    }
    lines.extend((0..40).map(|_| "c.half:1|c|@0.5".to_string()));
    lines.extend((0..30).map(|_| "c.tenth:2|c|@0.1".to_string()));
    lines.extend((0..10).map(|_| "c.tagged:1|c|#env:prod,region:eu".to_string()));
    lines.push("g.abs:3|g".into());
    lines.push("g.abs:17.5|g".into());
    lines.push("g.rel:10|g".into());
    for delta in ["+5", "-3", "+0.25", "-20"] {
        lines.push(format!("g.rel:{delta}|g"));
    }
    for i in 1..=100 {
        lines.push(format!("t.even:{}|ms", f64::from(i) * 1.5));
    }
    for i in 0..80u32 {
        // A skewed spread, the way request times are.
        lines.push(format!(
            "t.skew:{}|ms",
            f64::from((i * 37) % 80 + 1).powf(1.6) / 10.0
        ));
    }
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for chunk in lines.chunks(20) {
        sender
            .send_to(chunk.join("\n").as_bytes(), ("127.0.0.1", both.tee.port))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let (statsd, _broker, series) = both.settle(lines.len() as u64);
    same_counters(
        &statsd,
        &series,
        &[
            "c.plain",
            "c.half",
            "c.tenth",
            "c.tagged;env=prod;region=eu",
        ],
    );
    for name in ["g.abs", "g.rel"] {
        assert_eq!(
            series[name]["last"].as_f64(),
            statsd.gauge(name),
            "gauge {name}"
        );
    }
    same_timer(&statsd, &series, "t.even");
    same_timer(&statsd, &series, "t.skew");
}

#[test]
fn pystatsd_and_hot_shots_feed_it_as_they_feed_statsd() {
    let (Some(python), Some(modules)) = (require_pystatsd(), require_hotshots()) else {
        return;
    };
    let Some(both) = both() else {
        return;
    };
    let port = both.tee.port.to_string();
    let pystatsd = r#"
import sys, time, statsd
c = statsd.StatsClient("127.0.0.1", int(sys.argv[1]))
for i in range(200):
    # A datagram a line: paced, so that node's statsd keeps up through the tee.
    time.sleep(0.001)
    c.incr("py.calls")
    c.incr("py.sampled", 2, rate=0.5)
    if i % 2 == 0:
        c.timing("py.latency", 3 + i % 17)
c.gauge("py.depth", 10)
c.gauge("py.depth", 4, delta=True)
c.gauge("py.depth", -1, delta=True)
with c.pipeline() as pipe:
    for i in range(30):
        pipe.incr("py.piped")
"#;
    let out = Command::new(&python)
        .args(["-c", pystatsd, &port])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hotshots = r#"
const StatsD = require("hot-shots");
// Lines buffered into datagrams of up to 1 KB, as hot-shots is usually run.
const c = new StatsD({
  host: "127.0.0.1", port: Number(process.argv.at(-1)), globalTags: { team: "web" },
  maxBufferSize: 1000, bufferFlushInterval: 5,
});
for (let i = 0; i < 100; i++) {
  c.increment("js.hits", 1, 0.25, ["route:home"]);
  c.timing("js.render", 5 + (i % 11), ["route:home"]);
  c.histogram("js.size", 100 + i);
  c.distribution("js.dist", i);
}
c.gauge("js.queue", 7, ["host:web-7"]);
c.set("js.users", "alice");
c.event("deploy", "v2");
c.close(() => {});
"#;
    let out = Command::new("node")
        .args(["-e", hotshots, &port])
        .env("NODE_PATH", &modules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every line statsd counts as a metric: pystatsd's 500 + 3 + 30 lines in their
    // datagrams, hot-shots' sampled increments only when sent.
    wait_until("the clients' lines at statsd", WAIT, || {
        statsd_has(&both.statsd, "py.piped", 30.0)
            && both.statsd.gauge("js.queue;team=web;host=web-7").is_some()
    });
    let lines = both.statsd.metrics_received();
    let (statsd, broker, series) = both.settle(lines);
    same_counters(
        &statsd,
        &series,
        &[
            "py.calls",
            "py.sampled",
            "py.piped",
            "js.hits;team=web;route=home",
        ],
    );
    assert_eq!(
        series["py.depth"]["last"].as_f64(),
        statsd.gauge("py.depth")
    );
    assert_eq!(series["py.depth"]["last"].as_f64(), Some(13.0));
    // hot-shots' host tag is the source at Zibrato (statsd keeps it in the name).
    let queue = &series["js.queue;team=web"];
    assert_eq!(
        (queue["source"].as_str(), queue["last"].as_f64()),
        (Some("web-7"), Some(7.0))
    );
    same_timer(&statsd, &series, "py.latency");
    same_timer(&statsd, &series, "js.render;team=web;route=home");
    // DogStatsD's histograms and distributions are timers here.
    for name in ["js.size;team=web", "js.dist;team=web"] {
        assert_eq!(series[name]["kind"], "timer", "{name}");
        assert_eq!(series[name]["count"], 100, "{name}");
    }
    // The set and the event are refused, counted.
    assert_eq!(broker.broker_total("statsd_refused_unsupported"), 2);
    assert_eq!(broker.broker_total("statsd_refused_unparsable"), 0);
}

fn statsd_has(statsd: &Statsd, counter: &str, value: f64) -> bool {
    statsd.counter(counter) == Some(value)
}
