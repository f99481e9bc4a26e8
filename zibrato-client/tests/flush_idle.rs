//! A flush that cannot finish (no broker) waits for the link without spinning: the
//! publisher thread sleeps between attempts instead of burning a core until the
//! flush's timeout.

#![cfg(all(target_os = "linux", feature = "zmq"))]

use std::time::Duration;

/// CPU time, in clock ticks, of this process's thread named `name`.
fn thread_ticks(name: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
        // Fields after the command's closing parenthesis: utime and stime are the
        // 12th and 13th of them.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}

#[test]
fn a_flush_that_cannot_finish_does_not_spin_the_publisher() {
    // A port nothing listens on: the frames wait in the backlog.
    let port = zibrato_testkit::free_ports();
    let z = zibrato_client::Zibrato::builder()
        .port(port)
        .build()
        .unwrap();
    z.count("info", "waiting");
    let before = thread_ticks("zibrato-publish");
    assert!(
        z.flush(Duration::from_secs(2)).is_err(),
        "nothing can be delivered"
    );
    let spent = thread_ticks("zibrato-publish") - before;
    // Spinning costs about the whole 2 s (some 200 ticks at 100 Hz); waiting, a tick
    // or two. The bound is far from both.
    assert!(
        spent < 60,
        "the publisher spent {spent} ticks in a 2 s flush"
    );
}
