//! The real `zibrato-broker` binary between real ZeroMQ peers on 127.0.0.1.

use std::time::Duration;

use zibrato_testkit::{Daemon, Publisher, Subscriber, frame, free_ports};
use zibrato_wire::{Frame, Header, Measurement, Value};

const BROKER: &str = env!("CARGO_BIN_EXE_zibrato-broker");
const WAIT: Duration = Duration::from_secs(10);

fn start_broker(port: u16, extra: &[&str]) -> Daemon {
    let port_arg = port.to_string();
    let mut args = vec![
        "--port",
        &port_arg,
        "--stats-interval",
        "0.2",
        "--log-level",
        "debug",
    ];
    args.extend_from_slice(extra);
    let broker = Daemon::start(BROKER, &args);
    broker.wait_for_output("broker listening", WAIT);
    broker
}

fn header(sequence: u64) -> Header {
    Header {
        publisher: 99,
        sequence,
        time_us: 1,
    }
}

fn counter(level: &str, sequence: u64, name: &str) -> Vec<u8> {
    let m = Measurement::new(name, None, Value::Counter(1)).unwrap();
    frame(level, header(sequence), &[m])
}

/// A valid frame of exactly `len` bytes: zero increments (one byte each) are added
/// until the frame is that long.
fn frame_of_exactly(len: usize, sequence: u64) -> Vec<u8> {
    let m = Measurement::new("good", None, Value::Counter(0)).unwrap();
    let mut count = 1;
    loop {
        let bytes = frame("info", header(sequence), &vec![m; count]);
        match bytes.len().cmp(&len) {
            std::cmp::Ordering::Equal => return bytes,
            std::cmp::Ordering::Less => count += (len - bytes.len()).max(1),
            std::cmp::Ordering::Greater => count -= 1,
        }
    }
}

fn levels_of(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| Frame::decode(m).unwrap().level().as_str().to_string())
        .collect()
}

#[test]
fn each_subscriber_receives_exactly_its_levels() {
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let info = Subscriber::connect(port + 1, &["info"]);
    let others = Subscriber::connect(port + 1, &["information", "crit"]);
    let mut publisher = Publisher::connect(port);
    for level in ["info", "information", "crit"] {
        publisher.wait_for_subscription(
            zibrato_wire::Level::new(level).unwrap().topic().as_bytes(),
            WAIT,
        );
    }
    for (i, level) in ["info", "information", "info2", "crit", "debug", "info"]
        .iter()
        .enumerate()
    {
        publisher.send(&counter(level, i as u64, "hits"));
    }
    assert_eq!(
        levels_of(&info.drain(Duration::from_millis(500))),
        ["info", "info"]
    );
    assert_eq!(
        levels_of(&others.drain(Duration::from_millis(200))),
        ["information", "crit"]
    );
}

#[test]
fn hostile_publisher_does_not_disturb_a_good_one_and_drops_are_counted() {
    let port = free_ports();
    let broker = start_broker(port, &["--max-frame-bytes", "4096"]);
    let worker = Subscriber::connect(port + 1, &["info"]);
    // Subscribing to everything makes the hostile publisher's ZeroMQ send every
    // message, whatever its first bytes; the frames of level `zibrato` are the stats.
    let stats = Subscriber::connect_raw(port + 1, &[b""]);
    let mut good = Publisher::connect(port);
    good.wait_for_subscription(b"info\0", WAIT);
    let mut hostile = Publisher::connect(port);
    hostile.wait_for_subscription(b"info\0", WAIT);

    let valid = counter("info", 0, "hits");
    let mut future = valid.clone();
    future[6] = 2;
    let truncated = &valid[..valid.len() - 3];
    let garbage = b"info\0\xff\xff\xff garbage";
    let not_ours = b"\x01\x02\x03";
    const ROUNDS: u64 = 2000;
    for i in 0..ROUNDS {
        hostile.send(garbage);
        hostile.send(&future);
        hostile.send(truncated);
        hostile.send(not_ours);
        hostile.send_multipart(&[b"info\0", &valid[5..]]);
        good.send(&counter("info", i, "good"));
    }
    // Larger than --max-frame-bytes, within the format: dropped, counted and logged.
    hostile.send(&vec![b'x'; 10_000]);
    // Larger than any frame can be: ZeroMQ drops the connection, not the broker.
    hostile.send(&vec![b'x'; 2 << 20]);
    // Exactly the maximum size, and valid: forwarded.
    good.send(&frame_of_exactly(4096, ROUNDS));
    good.send(&counter("info", ROUNDS + 1, "good"));

    let received = worker.drain(Duration::from_millis(1000));
    assert_eq!(
        received.len() as u64,
        ROUNDS + 2,
        "every good frame and nothing else"
    );
    assert!(
        received.iter().any(|m| m.len() == 4096),
        "the maximum-size frame arrived"
    );
    for msg in &received {
        let frame = Frame::decode(msg).unwrap();
        assert_eq!(frame.measurements().next().unwrap().name, "good");
    }
    let (rss, _) = zibrato_testkit::rss(broker.pid());
    assert!(
        rss < 64 << 20,
        "the broker's memory stayed bounded: {rss} bytes"
    );

    // The self-metrics sum to what the hostile publisher sent.
    let mut dropped = std::collections::HashMap::<String, i64>::new();
    let want = [
        ("zibrato.broker.dropped.malformed", ROUNDS as i64),
        ("zibrato.broker.dropped.unknown_version", ROUNDS as i64),
        ("zibrato.broker.dropped.not_zibrato", ROUNDS as i64 * 2),
        ("zibrato.broker.publisher_disconnections", 1),
        ("zibrato.broker.dropped.multipart", ROUNDS as i64),
        ("zibrato.broker.dropped.oversized", 1),
    ];
    let deadline = std::time::Instant::now() + WAIT;
    while want.iter().any(|(name, n)| dropped.get(*name) != Some(n))
        && std::time::Instant::now() < deadline
    {
        let Some(msg) = stats.recv(Duration::from_millis(100)) else {
            continue;
        };
        let Ok(frame) = Frame::decode(&msg) else {
            continue;
        };
        if frame.level().as_str() != "zibrato" {
            continue;
        }
        for m in frame.measurements() {
            if let Value::Counter(n) = m.value {
                *dropped.entry(m.name.to_string()).or_default() += n;
            }
        }
    }
    for (name, n) in want {
        assert_eq!(
            dropped.get(name),
            Some(&n),
            "{name}: {dropped:?}\n{}",
            broker.output()
        );
    }
    assert!(broker.output().contains("dropped a frame"));
    assert!(
        broker
            .output()
            .contains("over --max-frame-bytes (4096 bytes)")
    );
    assert!(
        broker.output().contains("suppressed"),
        "warnings are rate-limited"
    );
}

#[test]
fn publishers_and_workers_reconnect_after_a_broker_restart() {
    let port = free_ports();
    let mut broker = start_broker(port, &[]);
    let worker = Subscriber::connect(port + 1, &["info"]);
    let mut publisher = Publisher::connect(port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    publisher.send(&counter("info", 0, "before"));
    assert!(worker.recv(WAIT).is_some());

    assert!(broker.stop("TERM").success());
    publisher.forget_subscriptions();
    let _broker = start_broker(port, &[]);
    // The worker's SUB socket resubscribes when it reconnects (on its next use, so
    // keep using it); the subscription reaches the publisher through the new broker.
    let deadline = std::time::Instant::now() + WAIT;
    while !publisher.has_subscription(b"info\0", Duration::from_millis(20)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no resubscription after restart"
        );
        let _ = worker.recv(Duration::from_millis(1));
    }
    publisher.send(&counter("info", 1, "after"));
    worker.recv_until(WAIT, |f| f.measurements().any(|m| m.name == "after"));
}

#[test]
fn each_stop_signal_ends_the_broker_cleanly_with_its_totals() {
    for signal in ["TERM", "INT", "QUIT"] {
        let port = free_ports();
        let mut broker = start_broker(port, &[]);
        let status = broker.stop(signal);
        assert!(
            status.success(),
            "SIG{signal}: {status:?}\n{}",
            broker.output()
        );
        let output = broker.output();
        assert!(output.contains("broker totals"), "{output}");
        assert!(output.contains(&format!("SIG{signal}")), "{output}");
    }
}

#[test]
fn absurdly_long_durations_neither_panic_nor_wrap() {
    let port = free_ports();
    let port_arg = port.to_string();
    let args = [
        "--port",
        port_arg.as_str(),
        "--stats-interval",
        "1e19",
        "--grace",
        "1e19",
    ];
    let mut broker = Daemon::start(BROKER, &args);
    broker.wait_for_output("broker listening", WAIT);
    let worker = Subscriber::routed(port, &["info"], WAIT);
    let mut publisher = Publisher::connect(port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    publisher.send(&counter("info", 0, "still.forwarded"));
    assert_eq!(
        levels_of(&worker.drain(Duration::from_millis(500))),
        ["info"]
    );
    assert!(broker.stop("TERM").success(), "{}", broker.output());
}

#[test]
fn a_busy_port_is_a_one_line_error_and_a_failure_exit() {
    let port = free_ports();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    let mut broker = Daemon::start(BROKER, &["--port", &port.to_string()]);
    let status = broker.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    let output = broker.output();
    assert!(
        output.contains(&format!(
            "port {} is in use on 127.0.0.1 (worker port)",
            port + 1
        )),
        "{output}"
    );
}

#[test]
fn bad_flags_are_named_with_a_usage_exit() {
    zibrato_testkit::assert_bad_command_lines(
        BROKER,
        &[
            (&["--port", "65534"], "no room for the worker port"),
            (&["--port", "http"], "not a port number"),
            (&["--host", "example.com"], "invalid IP address"),
            (&["--stats-interval", "soon"], "not a number of seconds"),
            (&["--upstream", "127.0.0.1:5550"], "tcp://HOST:PORT"),
            (&["--no-such-flag"], "unexpected argument"),
            (&["--log-level", "loud=="], "invalid log filter"),
            // Exposed without keys: a command line to correct, said before binding.
            (&["--host", "0.0.0.0"], "refusing to bind 0.0.0.0"),
            (
                &["--statsd", "0.0.0.0:0"],
                "refusing to listen for statsd on 0.0.0.0:0",
            ),
            (
                &["--upstream", "tcp://192.0.2.1:5552"],
                "refusing to link to the upstream tcp://192.0.2.1:5552",
            ),
        ],
    );
}

#[test]
fn a_local_broker_feeds_a_central_one_and_subscriptions_flow_down() {
    let central_port = free_ports();
    let _central = start_broker(central_port, &[]);
    let local_port = free_ports();
    let upstream = format!("tcp://127.0.0.1:{}", central_port + 2);
    let _local = start_broker(local_port, &["--upstream", &upstream]);

    let worker = Subscriber::connect(central_port + 1, &["info"]);
    let mut publisher = Publisher::connect(local_port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    publisher.send(&counter("info", 0, "via.upstream"));
    publisher.send(&counter("debug", 0, "unsubscribed"));
    let got = worker.drain(Duration::from_millis(500));
    assert_eq!(levels_of(&got), ["info"]);
}

#[test]
fn a_level_wanted_both_here_and_upstream_stays_wanted_when_one_leaves() {
    let central_port = free_ports();
    let _central = start_broker(central_port, &[]);
    let local_port = free_ports();
    let upstream = format!("tcp://127.0.0.1:{}", central_port + 2);
    let _local = start_broker(local_port, &["--upstream", &upstream]);

    let central_worker = Subscriber::routed(central_port, &["info"], WAIT);
    let mut publisher = Publisher::connect(local_port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    let local_worker = Subscriber::routed(local_port, &["info"], WAIT);
    // The local worker leaves: the central one still wants `info`, so the publisher
    // must keep the subscription.
    drop(local_worker);
    assert!(
        !publisher.has_unsubscription(b"info\0", Duration::from_millis(1500)),
        "the publisher was told nobody wants info"
    );
    publisher.send(&counter("info", 0, "still.wanted"));
    let got = central_worker.drain(Duration::from_millis(500));
    assert_eq!(levels_of(&got), ["info"]);
}

#[test]
fn a_subscriber_that_never_reads_does_not_hold_up_the_others() {
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    // Connects, subscribes, and never reads again: its queue at the broker fills up
    // (--worker-hwm) and frames are then dropped for it alone.
    let stuck = Subscriber::connect(port + 1, &["info"]);
    let reader = Subscriber::connect(port + 1, &["info"]);
    let mut publisher = Publisher::connect(port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    std::thread::sleep(Duration::from_millis(200)); // both subscriptions are in place
    let received = std::thread::spawn(move || reader.drain(Duration::from_millis(1000)).len());
    const FRAMES: u64 = 20_000;
    for i in 0..FRAMES {
        publisher.send(&counter("info", i, "flood"));
    }
    assert_eq!(
        received.join().unwrap() as u64,
        FRAMES,
        "the reading worker got every frame"
    );
    drop(stuck);
}
