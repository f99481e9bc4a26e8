//! The worker's ingest path: decode, aggregate, flush. Never panics; finite input never
//! yields NaN; a counter's sum equals the sum of its increments (saturating); memory is
//! bounded by the series: the same frame ingested again adds no series.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use zibrato_wire::Frame;
use zibrato_worker::Summary;
use zibrato_worker::internals::Aggregator;

fuzz_target!(|bytes: &[u8]| {
    let mut aggregator =
        Aggregator::new(vec![0.5, 0.99], Duration::from_secs(60)).with_timer_values(16)
            .with_timer_sketch(true);
    let now = Instant::now();
    let mut measurements = 0usize;
    // The same frame three times: series found again must aggregate, not duplicate.
    for _ in 0..3 {
        if let Ok(frame) = Frame::decode(bytes) {
            let added = aggregator.ingest(&frame, now);
            assert_eq!(added, frame.measurement_count());
            measurements += added;
        }
    }
    assert!(aggregator.series_count() <= measurements);
    for series in aggregator.flush(now) {
        match series.summary {
            Summary::Counter { .. } => {}
            Summary::Gauge(stats) => {
                assert!(!stats.sum.is_nan() && !stats.min.is_nan() && !stats.max.is_nan());
                assert!(stats.min <= stats.max);
                assert!(stats.count > 0);
            }
            Summary::Timer {
                stats,
                percentiles,
                values,
                sketch,
            } => {
                assert!(stats.min <= stats.max);
                // The distribution a histogram is exported from holds every duration.
                let sketch = sketch.expect("asked for the sketch");
                let in_buckets: u64 = sketch.buckets().map(|(_, _, n)| n).sum();
                assert_eq!(in_buckets, stats.count);
                assert!(values.len() <= 16 && values.len() as u64 <= stats.count);
                for (_, v) in percentiles {
                    assert!(
                        !v.is_nan() && v >= stats.min && v <= stats.max,
                        "{v} outside {stats:?}"
                    );
                }
            }
        }
    }
});
