//! The spool's format is a promise to the next version of the worker: a window file
//! written by this one must be read back by it. `golden/window-ZBSPOOL2.window` was
//! written by this version from the window below; it is decoded here, and the window
//! encoded again must give the same bytes.
//!
//! When this test fails, `Window` (or something inside it) changed how it serialises:
//! step the magic (`ZBSPOOL2` → `ZBSPOOL3`) so that older files are reported as another
//! version instead of being misread, keep reading the old version if it can be read,
//! and add a golden file for the new one (`ZIBRATO_BLESS=1 cargo test -p zibrato-worker
//! --test spool_format` writes it).

use std::path::PathBuf;
use std::time::Duration;

use zibrato_worker::spool::{decode, encode};
use zibrato_worker::{DurationSketch, Kind, Readings, SeriesSummary, Summary, Window};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/window-ZBSPOOL2.window")
}

/// A window with one series of every kind, every field set to something other than
/// its default.
fn window() -> Window {
    let mut gauge = Readings::of(0.25);
    gauge.add(-3.5);
    gauge.add(1e300);
    let mut stats = Readings::of(1_500_000.0);
    let mut sketch = DurationSketch::default();
    for ns in [1_500_000, 2_000_000, 90, 7_000_000_000] {
        sketch.add(ns);
    }
    for ns in [2_000_000.0, 90.0, 7_000_000_000.0] {
        stats.add(ns);
    }
    Window::new(
        1_765_000_000,
        Duration::from_millis(10_500),
        vec![
            SeriesSummary::new(
                "info",
                Kind::Counter,
                "api.hits",
                "web-1",
                Summary::Counter { sum: -42 },
            ),
            SeriesSummary::new(
                "crit",
                Kind::Gauge,
                "queue.depth;team=core",
                "not_specified",
                Summary::Gauge(gauge),
            ),
            SeriesSummary::new(
                "info",
                Kind::Timer,
                "db.query",
                "db-7",
                Summary::Timer {
                    stats,
                    percentiles: vec![(0.5, 1_750_000.0), (0.99, 7_000_000_000.0)],
                    values: vec![1_500_000, 2_000_000, 90, 7_000_000_000],
                    sketch: Some(sketch),
                },
            ),
        ],
    )
}

#[test]
fn a_window_file_of_this_version_reads_back_and_encodes_the_same() {
    let encoded = encode(&window()).unwrap();
    if std::env::var_os("ZIBRATO_BLESS").is_some() {
        std::fs::write(golden_path(), &encoded).unwrap();
    }
    let golden = std::fs::read(golden_path()).expect("the golden window file");
    assert_eq!(
        decode(&golden).unwrap(),
        window(),
        "the golden file decodes to the window"
    );
    assert_eq!(
        encoded, golden,
        "Window's encoding changed: step the spool's magic (see this file's docs)"
    );
}
