//! The wall clock stepped back an hour, then forward a day, under a running worker
//! (libfaketime moves only the wall clock; the monotonic clock runs on): windows keep
//! closing once a second, neither stopping nor flooding, their stamps only move
//! forward, and every increment is delivered once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato_testkit::{
    connected_client, free_ports, require_libfaketime, start_broker, start_worker,
};

const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-console");

#[test]
fn a_stepped_wall_clock_neither_stops_nor_floods_windows() {
    let Some(preload) = require_libfaketime() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("zibrato-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let offset = dir.join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();

    let port = free_ports();
    let _broker = start_broker(port, &[]);
    let preload = preload.to_string_lossy().into_owned();
    let offset_path = offset.to_string_lossy().into_owned();
    let mut worker = start_worker(
        WORKER,
        port,
        &["--levels", "info", "--flush", "1", "--format", "json"],
        &[
            ("LD_PRELOAD", &preload),
            ("FAKETIME_TIMESTAMP_FILE", &offset_path),
            ("FAKETIME_NO_CACHE", "1"),
            ("DONT_FAKE_MONOTONIC", "1"),
        ],
        "info",
    );
    let z = connected_client(port);

    // Three phases of 4 s: as it is, an hour back, a day forward.
    let mut ticks = 0;
    let mut phases = Vec::new();
    for step in ["+0", "-3600", "+86400"] {
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        let started = Instant::now();
        let before = worker.output().lines().count();
        while started.elapsed() < Duration::from_secs(4) {
            z.count("info", "tick");
            ticks += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        let windows = worker
            .output()
            .lines()
            .skip(before)
            .filter(|l| l.contains("\"name\":\"tick\""))
            .count();
        phases.push((step, windows));
    }
    z.flush(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(worker.stop("TERM").success());

    eprintln!("windows per phase: {phases:?}");
    for (step, windows) in &phases {
        // About one window a second (4 s), give or take the phase's edges.
        assert!(
            (3..=5).contains(windows),
            "{windows} windows in 4 s after a step of {step} s: {phases:?}"
        );
    }
    let output = worker.output();
    let mut by_time = BTreeMap::new();
    let mut stamps = Vec::new();
    for line in output.lines().filter(|l| l.contains("\"name\":\"tick\"")) {
        let o: Json = serde_json::from_str(line).unwrap();
        let time = o["measure_time"].as_u64().unwrap();
        stamps.push(time);
        *by_time.entry(time).or_insert(0) += o["sum"].as_i64().unwrap();
    }
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "stamps only move forward: {stamps:?}"
    );
    assert_eq!(by_time.values().sum::<i64>(), ticks, "every increment once");
    let _ = std::fs::remove_dir_all(&dir);
}
