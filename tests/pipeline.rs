//! The client through the real broker binary to a real subscriber on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::Duration;

use zibrato::{Value, Zibrato};
use zibrato_testkit::{Daemon, Subscriber, free_ports, start_broker};
use zibrato_wire::Frame;

const WAIT: Duration = Duration::from_secs(10);

fn broker(port: u16) -> Daemon {
    start_broker(port, &["--stats-interval", "3600"])
}

type Seen = BTreeMap<(String, String, Option<String>), Vec<Value>>;

fn collect(messages: &[Vec<u8>]) -> Seen {
    let mut seen = Seen::new();
    for msg in messages {
        let frame = Frame::decode(msg).expect("valid frame");
        let level = frame.level().as_str().to_string();
        for m in frame.measurements() {
            seen.entry((
                level.clone(),
                m.name.to_string(),
                m.source.map(str::to_string),
            ))
            .or_default()
            .push(m.value);
        }
    }
    seen
}

#[test]
fn a_subscriber_receives_exactly_what_several_threads_recorded() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info", "crit"], WAIT);

    let z = Zibrato::builder().port(port).build().unwrap();
    const PER_THREAD: i64 = 500;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let z = z.with_source(&format!("thread-{t}"));
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    z.count("info", "requests");
                    z.count_by("crit", "errors", i % 3);
                    z.gauge("info", "depth", i as f64 / 2.0);
                    z.time_ns("info", "latency", 1_000 + i as u64);
                }
            });
        }
    });
    z.flush(WAIT).unwrap();
    let seen = collect(&sub.drain(Duration::from_millis(500)));

    for t in 0..4 {
        let source = Some(format!("thread-{t}"));
        let get =
            |level: &str, name: &str| &seen[&(level.to_string(), name.to_string(), source.clone())];
        assert_eq!(
            get("info", "requests"),
            &vec![Value::Counter(1); PER_THREAD as usize]
        );
        let errors: Vec<Value> = (0..PER_THREAD).map(|i| Value::Counter(i % 3)).collect();
        assert_eq!(
            get("crit", "errors"),
            &errors,
            "zero increments are sent as 0"
        );
        let depth: Vec<Value> = (0..PER_THREAD)
            .map(|i| Value::Gauge(i as f64 / 2.0))
            .collect();
        assert_eq!(get("info", "depth"), &depth);
        let latency: Vec<Value> = (0..PER_THREAD)
            .map(|i| Value::Timer(1_000 + i as u64))
            .collect();
        assert_eq!(get("info", "latency"), &latency);
    }
    assert_eq!(seen.len(), 16, "nothing else arrived: {:?}", seen.keys());
    let stats = z.stats();
    assert_eq!(stats.recorded, 4 * 4 * PER_THREAD as u64);
    assert_eq!(stats.measurements_sent, stats.recorded);
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn levels_match_exactly_and_unsubscribed_levels_never_leave_the_process() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);

    let z = Zibrato::builder().port(port).build().unwrap();
    // Wait until connected, so the client knows what is subscribed.
    let deadline = std::time::Instant::now() + WAIT;
    while !z.stats().connected {
        assert!(std::time::Instant::now() < deadline, "never connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..100 {
        z.count("info", "wanted");
        z.count("information", "prefix.of.info");
        z.count("info2", "also.not.info");
    }
    z.flush(WAIT).unwrap();
    let seen = collect(&sub.drain(Duration::from_millis(500)));
    assert_eq!(
        seen.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(),
        ["wanted"]
    );
    let stats = z.stats();
    assert_eq!(stats.measurements_sent, 100);
    assert_eq!(
        stats.filtered, 200,
        "filtered in the client, before any network"
    );
}

#[test]
fn dropping_the_last_handle_delivers_the_last_batch() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);

    // A linger far longer than the test: only the drop can send this frame.
    let z = Zibrato::builder()
        .port(port)
        .linger(Duration::from_secs(3600))
        .close_timeout(WAIT)
        .build()
        .unwrap();
    z.count_by("info", "last.words", 7);
    drop(z);
    let seen = collect(&sub.drain(Duration::from_millis(500)));
    let key = ("info".to_string(), "last.words".to_string(), None);
    assert_eq!(seen.get(&key), Some(&vec![Value::Counter(7)]));
}

#[test]
fn with_no_broker_recording_goes_on_memory_stays_bounded_and_drops_are_counted() {
    let port = free_ports(); // nothing listens here
    let z = Zibrato::builder()
        .port(port)
        .max_frame_bytes(4096)
        .max_backlog_bytes(64 * 1024)
        .thread_buffer(1024)
        .close_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    const N: u64 = 1_000_000;
    for i in 0..N {
        z.time_ns("info", "work", i);
    }
    let err = z.flush(Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().contains("still queued"), "{err}");
    let stats = z.stats();
    assert!(!stats.connected);
    assert!(stats.queued_bytes <= 64 * 1024, "bounded: {stats:?}");
    assert_eq!(stats.recorded + stats.dropped_buffer_full, N, "{stats:?}");
    assert!(stats.dropped() > 0, "{stats:?}");
    assert_eq!(stats.measurements_sent, 0);
}

#[test]
fn an_unresolvable_host_is_an_error_at_build() {
    // An empty host fails in the resolver without any query leaving the machine.
    let err = Zibrato::builder().host("").build().unwrap_err();
    assert!(matches!(err, zibrato::Error::Resolve { .. }), "{err}");
    assert!(
        err.to_string().starts_with("cannot resolve host \"\""),
        "{err}"
    );
}

#[test]
fn after_a_broker_restart_the_client_reconnects_and_reports_what_it_dropped() {
    let port = free_ports();
    let mut first = broker(port);
    let sub = Subscriber::routed(port, &["info", "zibrato"], WAIT);
    let z = Zibrato::builder()
        .port(port)
        .source("restarted")
        .max_frame_bytes(4096)
        .max_backlog_bytes(8192)
        .stats_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    z.count("info", "before");
    z.flush(WAIT).unwrap();

    assert!(first.stop("TERM").success());
    // The broker is gone: a burst that cannot fit the 8 KiB backlog.
    for i in 0..50_000 {
        z.time_ns("info", "while.down", i);
    }
    let deadline = std::time::Instant::now() + WAIT;
    while z.stats().dropped_backlog == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no drop counted: {:?}",
            z.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let _second = broker(port);
    let mut after_seen = false;
    let mut reported = 0i64;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        z.count("info", "after");
        let dropped = z.stats().dropped_backlog as i64;
        if after_seen && reported == dropped {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after: {after_seen}, reported {reported} of {dropped} dropped; {:?}",
            z.stats()
        );
        while let Some(msg) = sub.recv(Duration::from_millis(50)) {
            let frame = Frame::decode(&msg).unwrap();
            for m in frame.measurements() {
                after_seen |= m.name == "after";
                if m.name == "zibrato.client.dropped.backlog" {
                    assert_eq!(m.source, Some("restarted"));
                    if let Value::Counter(n) = m.value {
                        reported += n;
                    }
                }
            }
        }
    }
}

/// Records the timer values `0..n` with the broker away, starts it, and returns the
/// values that reach a subscriber.
fn values_kept_while_away(policy: zibrato::OverflowPolicy, n: u64) -> Vec<u64> {
    let port = free_ports();
    let z = Zibrato::builder()
        .port(port)
        .max_frame_bytes(4096)
        .max_backlog_bytes(16 * 1024)
        .thread_buffer(1 << 20)
        .overflow(policy)
        .build()
        .unwrap();
    for i in 0..n {
        z.time_ns("info", "sequence", i);
    }
    let deadline = std::time::Instant::now() + WAIT;
    while z.stats().recorded < n {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);
    z.flush(WAIT).unwrap();
    let mut values: Vec<u64> = collect(&sub.drain(Duration::from_millis(500)))
        .into_values()
        .flatten()
        .map(|v| match v {
            Value::Timer(ns) => ns,
            other => panic!("{other:?}"),
        })
        .collect();
    values.sort_unstable();
    let stats = z.stats();
    assert_eq!(
        stats.measurements_sent + stats.dropped_backlog,
        n,
        "{stats:?}"
    );
    values
}

#[test]
fn drop_newest_keeps_the_first_measurements_and_drop_oldest_the_last() {
    const N: u64 = 100_000;
    let newest_dropped = values_kept_while_away(zibrato::OverflowPolicy::DropNewest, N);
    assert!(!newest_dropped.is_empty() && (newest_dropped.len() as u64) < N);
    assert_eq!(newest_dropped[0], 0, "the first measurements were kept");
    let oldest_dropped = values_kept_while_away(zibrato::OverflowPolicy::DropOldest, N);
    assert!(!oldest_dropped.is_empty() && (oldest_dropped.len() as u64) < N);
    assert_eq!(
        *oldest_dropped.last().unwrap(),
        N - 1,
        "the last measurements were kept"
    );
    assert!(oldest_dropped[0] > 0, "the first ones were dropped");
}

#[test]
fn the_block_policy_applies_backpressure_instead_of_dropping() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);
    // A buffer of 64 cannot absorb a burst of 100 000: only waiting avoids loss.
    let z = Zibrato::builder()
        .port(port)
        .thread_buffer(64)
        .overflow(zibrato::OverflowPolicy::Block(Duration::from_secs(5)))
        .build()
        .unwrap();
    const N: i64 = 100_000;
    let receiver = std::thread::spawn(move || {
        let mut total = 0i64;
        let mut count = 0;
        while let Some(msg) = sub.recv(Duration::from_secs(2)) {
            for m in Frame::decode(&msg).unwrap().measurements() {
                if let Value::Counter(n) = m.value {
                    total += n;
                    count += 1;
                }
            }
            if count == N {
                break;
            }
        }
        (count, total)
    });
    for i in 0..N {
        z.count_by("info", "pressure", i);
    }
    z.flush(WAIT).unwrap();
    let stats = z.stats();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.recorded, N as u64);
    assert_eq!(receiver.join().unwrap(), (N, N * (N - 1) / 2));
}

#[test]
fn frames_stay_within_max_frame_bytes_even_with_long_names() {
    // The broker drops the connection of a publisher that sends a frame over its
    // limit, so any frame over 4096 bytes would lose measurements here.
    let port = free_ports();
    let _broker = start_broker(port, &["--max-frame-bytes", "4096"]);
    let sub = Subscriber::routed(port, &["info"], WAIT);
    let z = Zibrato::builder()
        .port(port)
        .max_frame_bytes(4096)
        .linger(Duration::from_secs(3600))
        .build()
        .unwrap();
    let names: Vec<String> = (0..200)
        .map(|i| format!("{i:03}.{}", "n".repeat(240)))
        .collect();
    for name in &names {
        z.with_source(&"s".repeat(200)).gauge("info", name, 1.5);
    }
    z.flush(WAIT).unwrap();
    let messages = sub.drain(Duration::from_millis(500));
    assert!(messages.len() > 1, "split into several frames");
    assert!(messages.iter().all(|m| m.len() <= 4096));
    let seen = collect(&messages);
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), names.len());
}

#[test]
fn the_reserved_source_is_sent_as_no_source() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);

    let z = Zibrato::builder().port(port).build().unwrap();
    z.count_by("info", "jobs", 2);
    z.with_source("not_specified").count_by("info", "jobs", 3);
    z.flush(WAIT).unwrap();
    let messages = sub.drain(Duration::from_millis(500));

    assert!(
        !messages
            .iter()
            .any(|m| m.windows(13).any(|w| w == b"not_specified")),
        "the text `not_specified` is never written: the spec reserves it for no source"
    );
    let seen = collect(&messages);
    let key = ("info".to_string(), "jobs".to_string(), None);
    assert_eq!(seen[&key], [Value::Counter(2), Value::Counter(3)]);
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[test]
fn close_sends_what_was_recorded_and_later_records_are_counted_not_sent() {
    let port = free_ports();
    let _broker = broker(port);
    let sub = Subscriber::routed(port, &["info"], WAIT);

    let z = Zibrato::builder().port(port).build().unwrap();
    for _ in 0..100 {
        z.count("info", "before.close");
    }
    z.close();
    z.close(); // a second call does nothing
    z.count("info", "after.close");
    let seen = collect(&sub.drain(Duration::from_millis(500)));
    let key = ("info".to_string(), "before.close".to_string(), None);
    assert_eq!(seen[&key].len(), 100);
    assert!(!seen.keys().any(|(_, name, _)| name == "after.close"));
    assert_eq!(z.stats().measurements_sent, 100);
}
