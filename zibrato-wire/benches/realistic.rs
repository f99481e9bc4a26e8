//! The "realistic frame" used by the codec bench and the frame-size report: 64
//! measurements over 8 series of one web service, with deterministic values.

use zibrato_wire::{Kind, Measurement, Value};

/// The eight series: three counters, three timers, two gauges, all from one source.
pub const SERIES: [(&str, Kind); 8] = [
    ("api.requests", Kind::Counter),
    ("api.errors", Kind::Counter),
    ("cache.misses", Kind::Counter),
    ("api.latency", Kind::Timer),
    ("db.query", Kind::Timer),
    ("render.page", Kind::Timer),
    ("queue.depth", Kind::Gauge),
    ("cpu.load", Kind::Gauge),
];

/// The source every measurement of the frame carries.
pub const SOURCE: &str = "web-1";

/// `count` measurements cycling through the mix: mostly counters and timers (as
/// instrumented code produces them), gauges now and then.
pub fn measurements(count: usize) -> Vec<Measurement<'static>> {
    // A small LCG so the figures never change between runs.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        state >> 33
    };
    // How often each series appears in 32 measurements: counters and timers dominate.
    let weights = [8u64, 1, 3, 8, 6, 3, 2, 1];
    let total: u64 = weights.iter().sum();
    (0..count)
        .map(|_| {
            let mut pick = next() % total;
            let index = weights.iter().position(|&w| {
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            });
            let (name, kind) = SERIES[index.unwrap_or(0)];
            let value = match kind {
                Kind::Counter => Value::Counter(1),
                // 50 µs to about 26 ms.
                Kind::Timer => Value::Timer(50_000 + (next() % 512) * (next() % 512) * 100),
                Kind::Gauge if name == "queue.depth" => Value::Gauge((next() % 200) as f64),
                Kind::Gauge => Value::Gauge((next() % 10_000) as f64 / 100.0),
            };
            Measurement {
                name,
                source: Some(SOURCE),
                value,
            }
        })
        .collect()
}

/// The statsd line for a measurement (timers in milliseconds, as statsd wants them).
#[allow(dead_code)]
pub fn statsd_line(m: &Measurement<'_>) -> String {
    match m.value {
        Value::Counter(n) => format!("{}:{}|c", m.name, n),
        Value::Gauge(v) => format!("{}:{}|g", m.name, v),
        Value::Timer(ns) => format!("{}:{}|ms", m.name, ns as f64 / 1e6),
    }
}

/// The original Python library's text message for a measurement, as we model it: the
/// level as topic, then pipe-delimited kind, name, value, source and a wall-clock
/// timestamp.
#[allow(dead_code)]
pub fn original_line(level: &str, m: &Measurement<'_>) -> String {
    let (kind, value) = match m.value {
        Value::Counter(n) => ("Counter", n.to_string()),
        Value::Gauge(v) => ("Gauge", v.to_string()),
        Value::Timer(ns) => ("Timer", format!("{:.6}", ns as f64 / 1e9)),
    };
    format!(
        "{level} {kind}|{}|{value}|{}|1764158400",
        m.name,
        m.source_or_default()
    )
}
