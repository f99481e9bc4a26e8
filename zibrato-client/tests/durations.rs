//! Every `Duration` a user can hand the client, at its extremes: never a panic, never
//! a wrap, and `Duration::MAX` means "as long as it takes".

use std::time::Duration;

use zibrato_client::{OverflowPolicy, Spy, Zibrato};

#[test]
fn the_longest_durations_mean_no_deadline_and_never_panic() {
    let spy = Spy::default();
    let z = Zibrato::builder()
        .linger(Duration::MAX)
        .close_timeout(Duration::MAX)
        .stats_interval(Duration::MAX)
        .connect_grace(Duration::MAX)
        .overflow(OverflowPolicy::Block(Duration::MAX))
        .thread_buffer(4)
        .spy(spy.clone())
        .build()
        .unwrap();
    for _ in 0..1000 {
        z.count("info", "n");
    }
    z.time("info", "t", Duration::MAX);
    z.flush(Duration::MAX).unwrap();
    assert_eq!(
        z.stats().dropped_buffer_full,
        0,
        "Block waited instead of dropping"
    );
    drop(z);
    let sum: i64 = spy
        .measurements()
        .iter()
        .filter(|m| m.name == "n")
        .map(|m| match m.value {
            zibrato_wire::Value::Counter(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(sum, 1000);
}

#[test]
fn a_long_linger_and_short_close_end_promptly_without_a_broker() {
    let z = Zibrato::builder()
        .port(1) // nothing listens there
        .linger(Duration::MAX)
        .close_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    z.count("info", "n");
    assert!(z.flush(Duration::ZERO).is_err());
    assert!(z.flush(Duration::from_millis(20)).is_err());
    // With no broker, closing gives up after its close timeout, however long the
    // batch linger; a thread with a generous bound tells a hang from a slow machine.
    let (done, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(z);
        let _ = done.send(());
    });
    assert!(
        closed.recv_timeout(Duration::from_secs(60)).is_ok(),
        "dropping the client never returned"
    );
}
