//! Workers' subscriptions through the real broker: only level topics reach
//! publishers, and no more than `--max-subscriptions` of them, whatever a subscriber
//! sends.

use std::time::Duration;

use zibrato_testkit::{Publisher, Subscriber, free_ports, start_broker};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn a_subscriber_with_endless_topics_reaches_publishers_only_up_to_the_bound() {
    let port = free_ports();
    let mut broker = start_broker(port, &["--max-subscriptions", "50"]);
    let mut publisher = Publisher::connect(port);

    // A well-behaved worker first.
    let worker = Subscriber::routed(port, &["info"], WAIT);

    // Then one that subscribes to 2 000 made-up levels and some malformed topics.
    let topics: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("lvl{i}\0").into_bytes())
        .collect();
    let mut raw: Vec<&[u8]> = topics.iter().map(Vec::as_slice).collect();
    raw.extend([&b"inf"[..], b"info\0trailing", b"bad level\0"]);
    let flood = Subscriber::connect_raw(port + 1, &raw);
    let _ = flood.recv(Duration::from_millis(200));
    broker.wait_for_output("refused a subscription", WAIT);

    // The publisher saw at most 50 topics, all of them levels.
    assert!(publisher.has_subscription(b"lvl0\0", WAIT));
    for malformed in [&b"inf"[..], b"info\0trailing", b"bad level\0"] {
        assert!(!publisher.has_subscription(malformed, Duration::from_millis(50)));
    }
    assert!(!publisher.has_subscription(b"lvl1999\0", Duration::from_millis(300)));
    let seen = publisher.subscribed_topics();
    assert!(
        seen.len() <= 50,
        "{} topics reached the publisher",
        seen.len()
    );
    assert!(seen.iter().any(|t| t == b"info\0"));

    // Frames still flow to the well-behaved worker.
    publisher.send(&zibrato_testkit::frame(
        "info",
        Default::default(),
        &[zibrato_wire::Measurement::new("ok", None, zibrato_wire::Value::Counter(1)).unwrap()],
    ));
    worker.recv_until(WAIT, |f| f.level().as_str() == "info");

    // When the flood goes, its topics are withdrawn and there is room again.
    drop(flood);
    let late = Subscriber::connect(port + 1, &["late"]);
    let deadline = std::time::Instant::now() + WAIT;
    while !publisher.has_subscription(b"late\0", Duration::from_millis(50)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no room after the flood left"
        );
        let _ = late.recv(Duration::from_millis(1));
    }
    assert!(
        broker.wait_exit(Duration::ZERO).is_none(),
        "the broker outlived the flood: {}",
        broker.output()
    );
    assert!(broker.stop("TERM").success());
}
