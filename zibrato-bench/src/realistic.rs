//! A realistic event stream over many series, shared by the benchmarks.

use zibrato_wire::{FrameBuilder, Header, Kind, Level, Value};

/// One event: which series (an index into [`series_name`]) and its value.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Series index.
    pub series: usize,
    /// The value.
    pub value: Value,
}

/// The kind of series `i`: 45 % counters, 45 % timers, 10 % gauges.
pub fn series_kind(i: usize) -> Kind {
    match i % 20 {
        0 | 1 => Kind::Gauge,
        n if n % 2 == 0 => Kind::Counter,
        _ => Kind::Timer,
    }
}

/// The name of series `i`: `svc<i/100>.<metric><i%100>`.
pub fn series_name(i: usize) -> String {
    let metric = match series_kind(i) {
        Kind::Counter => "requests",
        Kind::Timer => "latency",
        Kind::Gauge => "depth",
    };
    format!("svc{}.{metric}{}", i / 100, i % 100)
}

/// `count` events over `series` series, deterministic.
pub fn events(series: usize, count: usize) -> Vec<Event> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = state >> 17;
            let series = (r as usize) % series;
            let value = match series_kind(series) {
                Kind::Counter => Value::Counter(1),
                Kind::Timer => Value::Timer(20_000 + (r % 5_000_000)),
                Kind::Gauge => Value::Gauge((r % 1000) as f64),
            };
            Event { series, value }
        })
        .collect()
}

/// The statsd line of an event (timers in milliseconds).
pub fn statsd_line(e: &Event, out: &mut String) {
    use std::fmt::Write;
    let name = series_name(e.series);
    let _ = match e.value {
        Value::Counter(n) => writeln!(out, "{name}:{n}|c"),
        Value::Gauge(v) => writeln!(out, "{name}:{v}|g"),
        Value::Timer(ns) => writeln!(out, "{name}:{}|ms", ns as f64 / 1e6),
    };
}

/// The statsd lines of `events`, each ending in a newline; with `tags`, DogStatsD tags
/// (`|#env:prod,region:eu`) on each.
pub fn statsd_lines(events: &[Event], tags: bool) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut line = String::new();
            statsd_line(e, &mut line);
            if tags {
                line.pop();
                line.push_str("|#env:prod,region:eu\n");
            }
            line
        })
        .collect()
}

/// Encodes `events` into frames of at most `per_frame` measurements, as a publisher
/// would, with source `web-1` on level `info`.
pub fn frames(events: &[Event], per_frame: usize) -> Vec<Vec<u8>> {
    let names: Vec<String> = (0..events.iter().map(|e| e.series).max().unwrap_or(0) + 1)
        .map(series_name)
        .collect();
    let level = Level::new("info").expect("level");
    events
        .chunks(per_frame)
        .enumerate()
        .map(|(sequence, chunk)| {
            let mut b = Box::new(FrameBuilder::<&str, 8192, 4096, 4096>::new());
            let source = b.add_string("web-1").expect("valid");
            let mut ids = std::collections::HashMap::new();
            for e in chunk {
                let id = *ids.entry(e.series).or_insert_with(|| {
                    let name = b.add_string(&names[e.series]).expect("valid");
                    b.add_series(e.value.kind(), name, Some(source))
                        .expect("fits")
                });
                b.push_value(id, e.value).expect("fits");
            }
            let header = Header {
                publisher: 1,
                sequence: sequence as u64,
                time_us: 0,
            };
            let mut buf = vec![0; b.encoded_len(level, &header)];
            let len = b.encode(level, &header, &mut buf).expect("encodes").len();
            buf.truncate(len);
            buf
        })
        .collect()
}

/// One flushed window of `series` realistic series (20 events each), aggregated by
/// the real worker core with four percentiles, and each timer's sketch kept when
/// `sketches` (as the OTLP worker asks).
pub fn window(series: usize, sketches: bool) -> zibrato_worker::Window {
    use std::time::{Duration, Instant};
    let stream = events(series, series * 20);
    let mut aggregator = zibrato_worker::internals::Aggregator::new(
        vec![0.5, 0.9, 0.95, 0.99],
        Duration::from_secs(300),
    )
    .with_timer_sketch(sketches);
    for bytes in frames(&stream, 1024) {
        aggregator.ingest(
            &zibrato_wire::Frame::decode(&bytes).expect("valid"),
            Instant::now(),
        );
    }
    zibrato_worker::Window::new(
        1_764_158_400,
        Duration::from_secs(10),
        aggregator.flush(Instant::now()),
    )
}
