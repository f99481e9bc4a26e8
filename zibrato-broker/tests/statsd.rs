//! The broker's statsd ingress (`--statsd`): statsd and DogStatsD lines sent over UDP
//! and a Unix datagram socket reach a real console worker as the measurements they
//! mean; refused lines are counted by reason; a flood of names stays bounded.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use serde_json::Value as Json;
use zibrato_testkit::{
    Daemon, free_ports, free_udp_port, rss, start_broker, start_console_json, wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    broker: Daemon,
    worker: Daemon,
    sender: UdpSocket,
}

fn setup(extra: &[&str]) -> Setup {
    let port = free_ports();
    let statsd = format!("127.0.0.1:{}", free_udp_port());
    let mut args = vec!["--statsd", statsd.as_str(), "--stats-interval", "3600"];
    args.extend_from_slice(extra);
    let broker = start_broker(port, &args);
    let worker = start_console_json(port);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.connect(&statsd).unwrap();
    Setup {
        broker,
        worker,
        sender,
    }
}

/// Every JSON window series of `name` the worker printed.
fn series(worker: &Daemon, name: &str) -> Vec<Json> {
    worker
        .output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|o| o["name"] == name)
        .collect()
}

fn total(worker: &Daemon, name: &str, field: &str) -> f64 {
    series(worker, name)
        .iter()
        .map(|o| o[field].as_f64().unwrap_or(0.0))
        .sum()
}

#[test]
fn statsd_lines_become_the_measurements_they_mean() {
    let s = setup(&[]);
    let lines = [
        "hits:1|c",
        "hits:2|c|@0.5",
        "hits:1|c:3|c",
        "temp:20|g",
        "temp:+5|g",
        "temp:-2|g",
        "db.query:12.5|ms",
        "db.query:7|h|@0.5",
        "render:1:2:3|d",
        "req:1|c|#env:prod,host:web-1",
    ];
    s.sender.send(lines.join("\n").as_bytes()).unwrap();
    wait_until("the window with every series", WAIT, || {
        // 1, then 2 sampled at 0.5 (4), then the two samples 1 and 3.
        total(&s.worker, "hits", "sum") == 9.0 && !series(&s.worker, "render").is_empty()
    });
    let gauge = &series(&s.worker, "temp")[0];
    assert_eq!(
        gauge["last"], 23.0,
        "20, then +5, then −2: statsd's current value"
    );
    assert_eq!(gauge["count"], 3);
    let db = &series(&s.worker, "db.query")[0];
    assert_eq!(db["count"], 2);
    assert_eq!(db["sum"], 19.5e6, "milliseconds as nanoseconds");
    assert_eq!(db["min"], 7.0e6);
    let render = &series(&s.worker, "render")[0];
    assert_eq!(
        (render["count"].as_u64(), render["max"].as_f64()),
        (Some(3), Some(3.0e6))
    );
    wait_until("the tagged counter", WAIT, || {
        series(&s.worker, "req;env=prod")
            .iter()
            .any(|o| o["source"] == "web-1" && o["sum"] == 1.0)
    });
}

#[test]
fn a_gauge_keeps_its_value_across_windows_for_relative_changes() {
    let s = setup(&[]);
    s.sender.send(b"queue:10|g").unwrap();
    wait_until("the first window", WAIT, || {
        !series(&s.worker, "queue").is_empty()
    });
    std::thread::sleep(Duration::from_millis(1200));
    s.sender.send(b"queue:+3|g").unwrap();
    wait_until("the change", WAIT, || {
        series(&s.worker, "queue").iter().any(|o| o["last"] == 13.0)
    });
}

#[test]
fn a_level_tag_picks_only_an_allowed_level() {
    let port = free_ports();
    let statsd = format!("127.0.0.1:{}", free_udp_port());
    let _broker = start_broker(
        port,
        &[
            "--statsd",
            &statsd,
            "--statsd-levels",
            "crit",
            "--statsd-source",
            "gateway",
        ],
    );
    let worker = zibrato_testkit::start_worker(
        zibrato_testkit::bin_path("zibrato-console"),
        port,
        &["--levels", "info,crit", "--flush", "1", "--format", "json"],
        &[],
        "crit",
    );
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(
            b"paged:1|c|#level:crit\nnot.paged:1|c|#level:debug",
            &statsd,
        )
        .unwrap();
    wait_until("both series", WAIT, || {
        !series(&worker, "paged").is_empty() && !series(&worker, "not.paged;level=debug").is_empty()
    });
    let paged = &series(&worker, "paged")[0];
    assert_eq!(
        (paged["level"].as_str(), paged["source"].as_str()),
        (Some("crit"), Some("gateway"))
    );
    assert_eq!(series(&worker, "not.paged;level=debug")[0]["level"], "info");
}

#[test]
fn refused_lines_are_counted_by_reason_and_nothing_else_is_lost() {
    let mut s = setup(&[]);
    let lines = [
        "good:1|c",
        "garbage",
        "x:abc|c",
        "x:-1|ms",
        "ä:1|c",
        "visitors:alice|s",
        "_e{5,4}:title|text",
        "_sc|check|0",
    ];
    let long = format!("{}:1|c", "n".repeat(300));
    s.sender.send(lines.join("\n").as_bytes()).unwrap();
    s.sender.send(long.as_bytes()).unwrap();
    wait_until("the good line", WAIT, || {
        total(&s.worker, "good", "sum") == 1.0
    });
    assert!(s.broker.stop("TERM").success());
    let t = |field: &str| s.broker.broker_total(field);
    assert_eq!(t("statsd_lines"), 9);
    assert_eq!(t("statsd_refused_unparsable"), 1);
    assert_eq!(t("statsd_refused_bad_value"), 2);
    assert_eq!(t("statsd_refused_bad_name"), 1);
    assert_eq!(t("statsd_refused_unsupported"), 3);
    assert_eq!(t("statsd_refused_too_long"), 1);
    assert_eq!(t("statsd_measurements"), 1);
    let output = s.broker.output();
    assert!(output.contains("refused a statsd line"), "{output}");
}

#[test]
fn a_unix_datagram_socket_takes_lines_as_dogstatsd_clients_send_them() {
    let port = free_ports();
    let path = std::env::temp_dir().join(format!("zibrato-dsd-{}.sock", std::process::id()));
    let listen = format!("unix://{}", path.display());
    let _broker = start_broker(port, &["--statsd", &listen]);
    let worker = start_console_json(port);
    let client = UnixDatagram::unbound().unwrap();
    client.send_to(b"from.unix:4|c|#team:a", &path).unwrap();
    wait_until("the counter", WAIT, || {
        total(&worker, "from.unix;team=a", "sum") == 4.0
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_flood_of_new_names_stays_within_memory_and_is_counted() {
    let mut s = setup(&["--statsd-max-keys", "1000"]);
    for batch in 0..2_000 {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("flood.{batch}.{i}:{i}|g"))
            .collect();
        s.sender.send(lines.join("\n").as_bytes()).unwrap();
        if batch % 100 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let (_, peak) = rss(s.broker.pid());
    assert!(peak < 64 << 20, "broker peak RSS {peak}");
    assert!(s.broker.stop("TERM").code().is_some());
    assert!(s.broker.broker_total("statsd_keys_forgotten") > 30_000);
    assert!(s.worker.stop("TERM").success());
}

#[test]
fn what_the_kernel_drops_at_a_full_buffer_is_counted_and_the_rest_arrives() {
    // A 4 KiB buffer (the kernel's floor is near it) overflows within a burst.
    let mut s = setup(&["--statsd-receive-buffer", "4096"]);
    let datagram = vec!["burst:1|c"; 20].join("\n");
    let sent = 5_000;
    for _ in 0..sent {
        s.sender.send(datagram.as_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(s.broker.stop("TERM").success());
    assert!(s.worker.stop("TERM").success());
    let t = |field: &str| s.broker.broker_total(field);
    let (received, dropped) = (t("statsd_datagrams"), t("statsd_kernel_dropped"));
    assert!(dropped > 0, "a burst into a 4 KiB buffer loses datagrams");
    assert_eq!(
        received + dropped,
        sent,
        "every datagram arrived or was counted"
    );
    assert_eq!(total(&s.worker, "burst", "sum"), (received * 20) as f64);
    assert!(
        s.broker.output().contains("granted="),
        "the start-up log says the buffer"
    );
}
