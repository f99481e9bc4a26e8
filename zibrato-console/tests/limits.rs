//! A publisher that never repeats a name (ids in metric names, the commonest mistake in
//! every metrics system), against the real broker and the real zibrato-console: the
//! worker's memory stays bounded, the overflow series and its counter account for
//! every refused measurement, and an ordinary series stays exact.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato_testkit::{Publisher, free_ports, rss, start_broker, start_worker};
use zibrato_wire::{FrameBuilder, Header, Level, Measurement, Value};

const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-console");
const NAMES_PER_FRAME: usize = 999;
const MAX_SERIES: usize = 5000;

/// One frame: the steady counter once, and `NAMES_PER_FRAME` names never seen before.
fn flood_frame(sequence: u64, first_name: u64, names: &mut Vec<String>) -> Vec<u8> {
    names.clear();
    names.extend((0..NAMES_PER_FRAME as u64).map(|i| format!("req.{}", first_name + i)));
    let mut builder = Box::new(FrameBuilder::<&str, 1024, 1024, 1024>::new());
    builder
        .push(Measurement::new("steady", Some("web"), Value::Counter(1)).unwrap())
        .unwrap();
    for name in names.iter() {
        builder
            .push(Measurement::new(name, Some("web"), Value::Counter(1)).unwrap())
            .unwrap();
    }
    let header = Header {
        publisher: 77,
        sequence,
        time_us: 0,
    };
    let level = Level::new("info").unwrap();
    let mut bytes = vec![0; builder.encoded_len(level, &header)];
    let len = builder.encode(level, &header, &mut bytes).unwrap().len();
    bytes.truncate(len);
    bytes
}

#[test]
fn ever_new_names_fold_into_the_overflow_series_in_bounded_memory() {
    let port = free_ports();
    // The broker's own self-metrics would join the overflow of the level `zibrato`.
    let _broker = start_broker(port, &["--stats-interval", "3600"]);
    let max_series = MAX_SERIES.to_string();
    let mut worker = start_worker(
        WORKER,
        port,
        &[
            "--levels",
            "info,zibrato",
            "--flush",
            "1",
            "--expire-after",
            "2",
            "--format",
            "json",
            "--max-series",
            &max_series,
        ],
        &[],
        "info",
    );
    let mut publisher = Publisher::connect(port);
    publisher.wait_for_subscription(b"info\0", Duration::from_secs(15));

    // 100 frames a second of 999 new names each, for 6 s: 600 000 distinct names.
    let frames = 600u64;
    let mut names = Vec::new();
    let start = Instant::now();
    let mut peaks = Vec::new();
    for sequence in 0..frames {
        publisher.send(&flood_frame(sequence, sequence * 1000, &mut names));
        let due = start + Duration::from_millis(10 * (sequence + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if sequence % 100 == 99 {
            peaks.push(rss(worker.pid()).0);
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (resident, peak) = rss(worker.pid());
    assert!(worker.stop("TERM").success(), "{}", tail(&worker.output()));

    let output = worker.output();
    let lines: Vec<Json> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sum_of = |pick: &dyn Fn(&Json) -> bool| -> i64 {
        lines
            .iter()
            .filter(|o| pick(o))
            .map(|o| o["sum"].as_i64().unwrap_or(0))
            .sum()
    };
    let lost = sum_of(&|o| o["name"] == "zibrato.worker.lost_frames");
    assert_eq!(lost, 0, "the test assumes nothing is lost in transit");
    assert_eq!(
        sum_of(&|o| o["name"] == "steady"),
        frames as i64,
        "an ordinary series stays exact"
    );
    let info_counters = |o: &Json| o["level"] == "info" && o["kind"] == "counter";
    assert_eq!(
        sum_of(&info_counters),
        (frames * 1000) as i64,
        "every increment is in its own series or in the overflow"
    );
    let overflow = sum_of(&|o| o["level"] == "info" && o["name"] == "zibrato.overflow");
    let reported = sum_of(&|o| o["name"] == "zibrato.worker.overflow_measurements");
    assert!(overflow > (frames as i64) * 900, "{overflow}");
    assert_eq!(overflow, reported, "the self-metric counts what was folded");
    let most_in_a_window = output
        .lines()
        .filter(|l| l.contains("\"level\":\"info\""))
        .fold(
            std::collections::HashMap::<u64, usize>::new(),
            |mut by, l| {
                let o: Json = serde_json::from_str(l).unwrap();
                *by.entry(o["measure_time"].as_u64().unwrap()).or_default() += 1;
                by
            },
        )
        .into_values()
        .max()
        .unwrap_or(0);
    assert!(
        most_in_a_window <= MAX_SERIES + 1,
        "{most_in_a_window} series in one window"
    );
    assert!(
        output.contains("series limit reached") && output.contains("example=req."),
        "a warning names a refused series: {}",
        tail(&output)
    );
    assert!(
        output.matches("series limit reached").count() <= 2,
        "warnings are rate-limited"
    );
    // Bounded: a worker that kept every name would hold hundreds of megabytes here.
    assert!(peak < 96 << 20, "peak RSS {} MiB", peak >> 20);
    let last = *peaks.last().unwrap();
    assert!(
        resident <= last + (16 << 20),
        "RSS still climbing: {peaks:?} then {resident}"
    );
}

/// The last lines of a daemon's output, for a failure message.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
