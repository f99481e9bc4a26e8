//! The worker's limits under a hostile stream: the series cap with its overflow series,
//! and the per-publisher sequence tracker. Typed input (operations), so the fuzzer
//! spends its time on ever-new names, made-up publishers and crafted sequence numbers
//! rather than on getting frames past the decoder.
//!
//! Asserts: live series never pass the cap plus one overflow series per level and kind;
//! every counter increment, gauge reading and timer duration ingested comes out of a
//! flush exactly once (in its own series or in the overflow); the tracker never holds
//! more pairs than its capacity, reports no gap larger than `MAX_SEQUENCE_GAP`, no loss for a
//! publisher's first frame and at most one (leaving the window) for the next number in
//! sequence, a total that never goes down and includes what each frame reported, and
//! a frame seen again right away (other than a frame 0, which starts a numbering) as a
//! duplicate, losing nothing.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement, Value};
use zibrato_worker::Summary;
use zibrato_worker::internals::{
    Aggregator, MAX_SEQUENCE_GAP, Observed, REORDER_ALLOWANCE, SequenceTracker,
};

#[derive(Debug, Arbitrary)]
enum Op {
    /// A frame on one of three levels.
    Frame { level: u8, measurements: Vec<(u16, Option<u8>, u8, i32)> },
    /// A frame header seen from a publisher.
    Observe { publisher: u16, level: u8, sequence: u64 },
    /// The last header seen, seen again.
    Repeat,
    /// A flush, `advance` seconds later.
    Flush { advance: u8 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_series: u8,
    tracker_capacity: u16,
    ops: Vec<Op>,
}

const LEVELS: [&str; 3] = ["info", "crit", "x"];

#[derive(Default, Debug, PartialEq)]
struct Totals {
    counter_sum: i64,
    gauges: u64,
    timers: u64,
}

fuzz_target!(|input: Input| {
    let max_series = usize::from(input.max_series % 32) + 1;
    let mut aggregator =
        Aggregator::new(vec![0.5], Duration::from_secs(30)).with_max_series(max_series);
    let mut tracker = SequenceTracker::with_capacity(usize::from(input.tracker_capacity % 512) + 2);
    let mut next_expected: HashMap<(u64, u16), u64> = HashMap::new();
    let mut reported = 0u64;
    let mut last: Option<(u64, u16, u64)> = None;
    let start = Instant::now();
    let mut now = start;
    let (mut ingested, mut flushed) = (Totals::default(), Totals::default());
    let mut names: Vec<String> = Vec::new();
    let flush = |aggregator: &mut Aggregator, now: Instant, flushed: &mut Totals| {
        for series in aggregator.flush(now) {
            match series.summary {
                Summary::Counter { sum } => flushed.counter_sum += sum,
                Summary::Gauge(stats) => flushed.gauges += stats.count,
                Summary::Timer { stats, .. } => flushed.timers += stats.count,
            }
        }
    };
    for op in input.ops {
        match op {
            Op::Frame { level, measurements } => {
                names.clear();
                names.extend(measurements.iter().map(|(n, ..)| format!("n.{n}")));
                let sources: Vec<String> = measurements
                    .iter()
                    .map(|(_, s, ..)| format!("s{}", s.unwrap_or(0)))
                    .collect();
                let mut builder = FrameBuilder::<&str, 64, 64, 256>::new();
                let mut added = Totals::default();
                for (i, &(_, source, kind, value)) in measurements.iter().enumerate() {
                    let value = match kind % 3 {
                        0 => Value::Counter(i64::from(value)),
                        1 => Value::Gauge(f64::from(value)),
                        _ => Value::Timer(u64::from(value.unsigned_abs())),
                    };
                    let source = source.map(|_| sources[i].as_str());
                    let Ok(m) = Measurement::new(&names[i], source, value) else { continue };
                    if builder.push(m).is_err() {
                        break;
                    }
                    match value {
                        Value::Counter(n) => added.counter_sum += n,
                        Value::Gauge(_) => added.gauges += 1,
                        Value::Timer(_) => added.timers += 1,
                    }
                }
                let level = Level::new(LEVELS[usize::from(level) % 3]).unwrap();
                let header = Header::default();
                let mut bytes = vec![0; builder.encoded_len(level, &header)];
                let Ok(encoded) = builder.encode(level, &header, &mut bytes) else { continue };
                let frame = Frame::decode(encoded).expect("a built frame decodes");
                aggregator.ingest(&frame, now);
                ingested.counter_sum += added.counter_sum;
                ingested.gauges += added.gauges;
                ingested.timers += added.timers;
                assert!(
                    aggregator.series_count() <= max_series + 3 * LEVELS.len(),
                    "{} series with a cap of {max_series}",
                    aggregator.series_count()
                );
            }
            Op::Observe { publisher, level, sequence } => {
                let (publisher, level) = (u64::from(publisher), u16::from(level % 4));
                last = Some((publisher, level, sequence));
                let before = tracker.lost;
                let Observed::New { lost } = tracker.observe(publisher, level, sequence, now) else {
                    assert!(next_expected.contains_key(&(publisher, level)), "a first frame is new");
                    assert!(tracker.lost >= before, "lost never goes down");
                    continue;
                };
                assert!(lost <= MAX_SEQUENCE_GAP);
                match next_expected.get(&(publisher, level)) {
                    None => assert_eq!(lost, 0, "a first frame loses nothing"),
                    Some(&expected) if expected == sequence => {
                        assert!(lost <= 1, "the next number loses at most the one leaving the window")
                    }
                    _ => {}
                }
                next_expected.insert((publisher, level), sequence.wrapping_add(1));
                // Evicting a generation counts what its pairs missed, besides `lost`.
                assert!(tracker.lost >= before.saturating_add(lost));
                reported = tracker.lost;
                assert!(tracker.len() <= tracker.capacity());
            }
            Op::Repeat => {
                let Some((publisher, level, sequence)) = last else { continue };
                let observed = tracker.observe(publisher, level, sequence, now);
                if sequence != 0 {
                    assert_eq!(observed, Observed::Duplicate, "seen again right away");
                }
                assert_eq!(tracker.lost, reported, "a repeat loses nothing");
            }
            Op::Flush { advance } => {
                now += Duration::from_secs(u64::from(advance));
                flush(&mut aggregator, now, &mut flushed);
                tracker.settle(now, REORDER_ALLOWANCE);
                tracker.expire(now, Duration::from_secs(30));
                assert!(tracker.lost >= reported, "lost never goes down");
                reported = tracker.lost;
                // The last publisher may be forgotten now: seen again, it is new.
                last = None;
            }
        }
    }
    flush(&mut aggregator, now, &mut flushed);
    assert_eq!(ingested, flushed, "every measurement comes out once");
});
