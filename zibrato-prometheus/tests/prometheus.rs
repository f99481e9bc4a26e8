//! Code instrumented with the `metrics` facade → Zibrato client → real broker → real
//! zibrato-prometheus, scraped over HTTP, checked by `promtool` and by a real
//! Prometheus server (Debian's `prometheus` package) that stores what it scraped.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato_client::{MetricsRecorder, Zibrato};
use zibrato_testkit::{
    Daemon, assert_bad_command_lines, connected_client, free_ports, http_get, http_request,
    require_tool, start_broker, start_worker,
};

const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-prometheus");
const WAIT: Duration = Duration::from_secs(20);
const PROMETHEUS_HINT: &str = "apt-get install prometheus";

struct Pipeline {
    _broker: Daemon,
    worker: Daemon,
    http_port: u16,
    client: Zibrato,
    recorder: MetricsRecorder,
}

fn pipeline(extra: &[&str]) -> Pipeline {
    let port = free_ports();
    let broker = start_broker(port, &[]);
    let http_port = free_ports();
    let listen = format!("127.0.0.1:{http_port}");
    let mut args = vec!["--levels", "info", "--flush", "0.5", "--listen", &listen];
    args.extend_from_slice(extra);
    let worker = start_worker(WORKER, port, &args, &[], "info");
    worker.wait_for_output("serving the series", WAIT);
    let client = connected_client(port);
    let recorder = MetricsRecorder::builder(client.clone()).build().unwrap();
    Pipeline {
        _broker: broker,
        worker,
        http_port,
        client,
        recorder,
    }
}

impl Pipeline {
    fn scrape(&self) -> String {
        let answer = http_get(self.http_port, "/metrics").expect("scrape");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.header("Content-Type"),
            Some(zibrato_prometheus::CONTENT_TYPE)
        );
        answer.body
    }

    /// Scrapes until `line` is served, and returns that exposition.
    fn wait_for_line(&self, line: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.scrape();
            if text.lines().any(|l| l == line) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "never served {line:?}; last exposition:\n{text}\nworker:\n{}",
                self.worker.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Two flush windows of traffic, recorded only through `metrics` macros.
    fn record_two_windows(&self) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            for _ in 0..4 {
                metrics::counter!("http.requests", "method" => "GET", "status" => "200", "source" => "web-1").increment(1);
            }
            metrics::counter!("http.requests", "method" => "POST", "status" => "500", "source" => "web-1").increment(1);
            metrics::gauge!("queue.depth").set(7.0);
            metrics::histogram!("db.query").record(0.002);
            metrics::histogram!("db.query").record(0.002);
        });
        self.client.flush(WAIT).unwrap();
        self.wait_for_line(
            r#"http_requests_total{level="info",method="GET",source="web-1",status="200"} 4"#,
        );
        metrics::with_local_recorder(&self.recorder, || {
            for _ in 0..2 {
                metrics::counter!("http.requests", "method" => "GET", "status" => "200", "source" => "web-1").increment(1);
            }
            metrics::gauge!("queue.depth").set(3.0);
            metrics::histogram!("db.query").record(0.004);
        });
        self.client.flush(WAIT).unwrap();
        self.wait_for_line(r#"db_query_seconds_count{level="info",source="not_specified"} 3"#)
    }
}

fn value_of(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {sample} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn the_exposition_carries_totals_gauges_and_summaries_and_passes_promtool() {
    let p = pipeline(&[]);
    let text = p.record_two_windows();

    // Counters are running totals across windows; labels come from the facade's labels.
    let get = r#"http_requests_total{level="info",method="GET",source="web-1",status="200"}"#;
    let post = r#"http_requests_total{level="info",method="POST",source="web-1",status="500"}"#;
    assert_eq!(value_of(&text, get), 6.0);
    assert_eq!(value_of(&text, post), 1.0);
    assert!(
        text.contains("# TYPE http_requests_total counter\n"),
        "{text}"
    );
    // Gauges: the last reading.
    assert_eq!(
        value_of(&text, r#"queue_depth{level="info",source="not_specified"}"#),
        3.0
    );
    // Timers: summaries in seconds; quantiles of the last window, sum and count of all.
    let labels = r#"{level="info",source="not_specified""#;
    assert!(text.contains("# TYPE db_query_seconds summary\n"), "{text}");
    let sum = value_of(&text, &format!("db_query_seconds_sum{labels}}}"));
    assert!((sum - 0.008).abs() < 1e-9, "{sum}");
    for q in ["0.5", "0.9", "0.95", "0.99"] {
        let v = value_of(
            &text,
            &format!("db_query_seconds{labels},quantile=\"{q}\"}}"),
        );
        assert!((v - 0.004).abs() <= 0.004 * 0.01, "p{q} = {v}");
    }
    assert!(value_of(&text, "zibrato_prometheus_windows_total") >= 2.0);

    // Anything but GET /metrics is answered plainly.
    assert_eq!(http_get(p.http_port, "/nothing").unwrap().status, 404);
    assert_eq!(
        http_request(p.http_port, "POST", "/metrics")
            .unwrap()
            .status,
        405
    );

    if require_tool("promtool", PROMETHEUS_HINT) {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `%`-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus server scraping `target` every second from a fresh data folder.
struct PrometheusServer {
    daemon: Daemon,
    port: u16,
    dir: PathBuf,
}

impl PrometheusServer {
    fn start(target: u16) -> PrometheusServer {
        let port = free_ports();
        let dir =
            std::env::temp_dir().join(format!("zibrato-prometheus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: zibrato\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let daemon = Daemon::start(
            "prometheus",
            &[
                &format!("--config.file={}", config.display()),
                &format!("--storage.tsdb.path={}", dir.join("data").display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
            ],
        );
        daemon.wait_for_output("Server is ready to receive web requests", WAIT);
        PrometheusServer { daemon, port, dir }
    }

    /// The value of the instant query `query`, once it has exactly one result equal to
    /// `expected`.
    fn wait_for(&self, query: &str, expected: f64) -> Json {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = http_get(self.port, &format!("/api/v1/query?query={}", encode(query)))
                .expect("query Prometheus");
            let json: Json = serde_json::from_str(&answer.body).unwrap_or(Json::Null);
            let results = json["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let value = results
                .first()
                .and_then(|r| r["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok());
            if results.len() == 1 && value == Some(expected) {
                return results[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{query}: expected {expected}, Prometheus answered {}\n{}",
                answer.body,
                self.daemon.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.daemon.stop("TERM");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_real_prometheus_server_scrapes_and_stores_the_series() {
    if !require_tool("prometheus", PROMETHEUS_HINT) {
        return;
    }
    let p = pipeline(&[]);
    p.record_two_windows();
    let server = PrometheusServer::start(p.http_port);

    let stored = server.wait_for(r#"http_requests_total{method="GET",status="200"}"#, 6.0);
    let labels = &stored["metric"];
    assert_eq!(labels["source"], "web-1");
    assert_eq!(labels["level"], "info");
    assert_eq!(labels["job"], "zibrato");
    server.wait_for(r#"queue_depth"#, 3.0);
    server.wait_for(r#"db_query_seconds_count"#, 3.0);
    server.wait_for(r#"up{job="zibrato"}"#, 1.0);

    // More traffic: the stored counter keeps rising.
    metrics::with_local_recorder(&p.recorder, || {
        metrics::counter!("http.requests", "method" => "GET", "status" => "200", "source" => "web-1").increment(10);
    });
    p.client.flush(WAIT).unwrap();
    server.wait_for(r#"http_requests_total{method="GET",status="200"}"#, 16.0);
}

#[test]
fn series_no_window_brings_expire() {
    let p = pipeline(&["--stale-after", "1.5", "--expire-after", "0.5"]);
    p.client.gauge("info", "door.open", 1.0);
    p.client.count("info", "door.knocks");
    p.client.flush(WAIT).unwrap();
    p.wait_for_line(r#"door_open{level="info",source="not_specified"} 1"#);
    let deadline = Instant::now() + WAIT;
    loop {
        let text = p.scrape();
        if !text.contains("door_") {
            assert!(
                value_of(&text, "zibrato_prometheus_expired_series_total") >= 2.0,
                "{text}"
            );
            assert_eq!(value_of(&text, "zibrato_prometheus_series"), 0.0, "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "never expired:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_busy_listen_address_stops_the_worker_with_a_clear_message() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let mut worker = Daemon::start(WORKER, &["--levels", "info", "--listen", &listen]);
    let status = worker.wait_exit(WAIT).expect("the worker exits");
    let output = worker.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!("cannot listen on {listen}")),
        "{output}"
    );
}

#[test]
fn bad_command_lines_are_named() {
    assert_bad_command_lines(
        WORKER,
        &[
            (&["--listen", "127.0.0.1:9102"], "--levels"),
            (
                &["--levels", "info", "--listen", "nowhere"],
                "invalid value 'nowhere'",
            ),
            (
                &["--levels", "info", "--flush", "10", "--stale-after", "5"],
                "must be longer than --flush",
            ),
            (
                &["--levels", "info", "--stale-after", "soon"],
                "not a number of seconds",
            ),
        ],
    );
}

/// A scrape with a deadline: the answer must come within `within`.
fn scrape_within(port: u16, within: Duration) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(within))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")?;
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer)?;
    Ok(answer)
}

#[test]
fn hundreds_of_slow_and_idle_clients_do_not_blind_the_scraper() {
    let http_port = free_ports();
    let listen = format!("127.0.0.1:{http_port}");
    let worker = Daemon::start(WORKER, &["--levels", "info", "--listen", &listen]);
    worker.wait_for_output("serving the series", WAIT);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 150 connections that never send anything, and 150 that trickle a request head
    // one byte every half second, reconnecting whenever the server gives up on them.
    let idle: Vec<std::net::TcpStream> = (0..150)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap())
        .collect();
    let trickler = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n";
            let connect = || std::net::TcpStream::connect(("127.0.0.1", http_port)).ok();
            let mut slow: Vec<(Option<std::net::TcpStream>, usize)> =
                (0..150).map(|_| (connect(), 0)).collect();
            let mut reconnects = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (stream, sent) in &mut slow {
                    let ok = stream
                        .as_mut()
                        .is_some_and(|s| s.write_all(&head[*sent % head.len()..][..1]).is_ok());
                    *sent += 1;
                    if !ok {
                        *stream = connect();
                        reconnects += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            reconnects
        })
    };
    // Scrape every 200 ms for 8 s (past the 5 s head deadline): every answer comes.
    let started = Instant::now();
    let mut scrapes = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let answer = scrape_within(http_port, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("scrape {scrapes} failed: {e}"));
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{answer:?}"
        );
        scrapes += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reconnects = trickler.join().unwrap();
    assert!(
        reconnects > 0,
        "the server cut the trickling clients at the deadline"
    );
    drop(idle);
    assert!(scrapes >= 20);
}

#[test]
fn idle_and_half_sent_connections_do_not_hold_up_a_scrape() {
    let http_port = free_ports();
    let listen = format!("127.0.0.1:{http_port}");
    let worker = Daemon::start(WORKER, &["--levels", "info", "--listen", &listen]);
    worker.wait_for_output("serving the series", WAIT);
    // Connections that never send a request, or stop halfway through one.
    let mut idle: Vec<std::net::TcpStream> = (0..16)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap())
        .collect();
    for stream in idle.iter_mut().take(8) {
        stream.write_all(b"GET /metr").unwrap();
    }
    let answer = http_get(http_port, "/metrics").expect("scrape beside idle connections");
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains("zibrato_prometheus_scrapes_total 1\n"),
        "{}",
        answer.body
    );

    // HEAD: the headers only.
    let head = http_request(http_port, "HEAD", "/metrics").unwrap();
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    // A request head past 8 KiB is refused rather than buffered.
    let mut huge = std::net::TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    let request = format!("GET /metrics HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let _ = huge.write_all(request.as_bytes());
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut huge, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}
