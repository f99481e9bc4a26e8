//! The worker core's spool, through the real Librato worker: a `kill -9` in the middle
//! of an outage loses no window that was spooled, and a spool directory that is
//! damaged, unusable, full or taken is reported and never crashes the worker.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zibrato_testkit::{
    Answer, Daemon, LibratoStandIn, connected_client, free_ports, start_broker, start_worker,
};

mod common;

use common::*;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("zibrato-spool-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The measure_times of the window files in `dir`.
fn spooled(dir: &Path) -> Vec<u64> {
    let mut times: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "window"))
                .filter_map(|e| e.file_name().to_str()?.split('-').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    times.sort_unstable();
    times
}

fn worker(port: u16, librato: &LibratoStandIn, dir: &Path, extra: &[&str]) -> Daemon {
    let url = librato.url();
    let dir = dir.to_str().unwrap();
    let mut args = vec![
        "--levels",
        "info",
        "--flush",
        "1",
        "--username",
        USER,
        "--api-url",
        &url,
        "--spool-dir",
        dir,
    ];
    args.extend_from_slice(extra);
    start_worker(WORKER, port, &args, &[("LIBRATO_TOKEN", TOKEN)], "info")
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_kill_9_in_an_outage_loses_no_spooled_window_and_a_restart_delivers_each_once() {
    let dir = scratch("kill");
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let librato = LibratoStandIn::start(USER, TOKEN);
    librato.answer(Answer::ServerError);
    let mut first = worker(port, &librato, &dir, &[]);
    let z = connected_client(port);
    let mut sent = 0;
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        z.count("info", "spooled");
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    z.flush(WAIT).unwrap();
    // Every increment is in a closed window, on disk, before the kill.
    let last = now_seconds();
    wait_until("the last window spooled", SETTLE, || {
        spooled(&dir).last().is_some_and(|&t| t > last)
    });
    let windows = spooled(&dir).len();
    assert!(windows >= 4, "{windows} windows spooled");
    first.signal("KILL");
    first.wait_exit(WAIT).expect("killed");
    assert!(
        librato.gauges().is_empty(),
        "nothing was accepted during the outage"
    );

    librato.answer(Answer::Accept);
    let second = worker(port, &librato, &dir, &[]);
    second.wait_for_output(
        "replaying the windows a previous run left in the spool",
        WAIT,
    );
    wait_until("every spooled window", SETTLE, || {
        sum_values(&librato.gauges(), "spooled", NO_SOURCE) >= sent as f64
    });
    wait_until("the spool emptied", SETTLE, || spooled(&dir).is_empty());
    let stored = librato.stored();
    assert_eq!(
        sum_values(&librato.gauges(), "spooled", NO_SOURCE),
        sent as f64
    );
    for (key, postings) in &stored {
        assert_eq!(
            postings.len(),
            1,
            "{key:?} delivered {} times",
            postings.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_unusable_full_or_taken_spool_is_reported_and_never_crashes_the_worker() {
    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let librato = LibratoStandIn::start(USER, TOKEN);

    // A damaged file: set aside and reported; live windows are delivered.
    let damaged = scratch("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    let bad = damaged.join("00000000000000000001-00000000000000000000.window");
    std::fs::write(&bad, b"ZBSPOOL2 and then nonsense").unwrap();
    let mut w = worker(port, &librato, &damaged, &[]);
    w.wait_for_output("cannot be read back", WAIT);
    assert!(bad.with_extension("corrupt").exists());
    let z = connected_client(port);
    z.count("info", "after.damage");
    z.flush(WAIT).unwrap();
    librato.wait_for(WAIT, |g| sum_values(g, "after.damage", NO_SOURCE) == 1.0);

    // Taken: a second worker on the same directory refuses to start.
    let url = librato.url();
    let mut second = Daemon::start_with_env(
        WORKER,
        &[
            "--levels",
            "info",
            "--port",
            &(port + 1).to_string(),
            "--username",
            USER,
            "--api-url",
            &url,
            "--spool-dir",
            damaged.to_str().unwrap(),
        ],
        &[("LIBRATO_TOKEN", TOKEN)],
    );
    let status = second.wait_exit(WAIT).expect("the second worker exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        second.output().contains("in use by another worker"),
        "{}",
        second.output()
    );
    w.stop("TERM");

    // Unusable (a path through a regular file, which even root cannot create): memory
    // only, said so, and delivery goes on.
    let file = scratch("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let mut w = worker(port, &librato, &file.join("spool"), &[]);
    w.wait_for_output("windows are kept in memory only", WAIT);
    let z = connected_client(port);
    z.count("info", "memory.only");
    z.flush(WAIT).unwrap();
    librato.wait_for(WAIT, |g| sum_values(g, "memory.only", NO_SOURCE) == 1.0);
    w.stop("TERM");

    // Full: past --spool-max-bytes the oldest windows are dropped and counted; the
    // newest are delivered after the outage.
    let full = scratch("full");
    librato.answer(Answer::ServerError);
    let w = worker(port, &librato, &full, &["--spool-max-bytes", "400"]);
    let z = connected_client(port);
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        z.count("info", "in.full.spool");
        std::thread::sleep(Duration::from_millis(100));
    }
    z.flush(WAIT).unwrap();
    w.wait_for_output("the spool is full (--spool-max-bytes)", WAIT);
    let bytes: u64 = std::fs::read_dir(&full)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "window"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(bytes <= 400, "{bytes} bytes spooled");
    librato.answer(Answer::Accept);
    librato.wait_for(WAIT, |g| sum_values(g, "in.full.spool", NO_SOURCE) > 0.0);
    for dir in [damaged, file, full] {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&dir);
    }
}
