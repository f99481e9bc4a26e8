//! The aggregator's rules end to end: frames in, one window's summaries out.

use super::*;
use zibrato_wire::{FrameBuilder, Header, Level, Measurement};

fn frame_bytes(ms: &[Measurement<'_>]) -> Vec<u8> {
    let mut b = FrameBuilder::<&str, 16, 16, 256>::new();
    for m in ms {
        b.push(*m).unwrap();
    }
    let level = Level::new("info").unwrap();
    let header = Header::default();
    let mut buf = vec![0; b.encoded_len(level, &header)];
    b.encode(level, &header, &mut buf).unwrap();
    buf
}

fn find<'a>(out: &'a [SeriesSummary], name: &str) -> Option<&'a Summary> {
    out.iter().find(|s| &*s.name == name).map(|s| &s.summary)
}

#[test]
fn counters_sum_gauges_and_timers_summarise() {
    let mut agg = Aggregator::new(vec![0.5, 0.99], Duration::from_secs(60));
    let now = Instant::now();
    let bytes = frame_bytes(&[
        Measurement::new("c", None, Value::Counter(2)).unwrap(),
        Measurement::new("c", None, Value::Counter(3)).unwrap(),
        Measurement::new("g", Some("h"), Value::Gauge(1.0)).unwrap(),
        Measurement::new("g", Some("h"), Value::Gauge(3.0)).unwrap(),
        Measurement::new("t", None, Value::Timer(100)).unwrap(),
    ]);
    assert_eq!(agg.ingest(&Frame::decode(&bytes).unwrap(), now), 5);
    let out = agg.flush(now);
    assert_eq!(find(&out, "c"), Some(&Summary::Counter { sum: 5 }));
    let Some(Summary::Gauge(g)) = find(&out, "g") else {
        panic!()
    };
    assert_eq!(
        (g.count, g.sum, g.min, g.max, g.sum_squares, g.last),
        (2, 4.0, 1.0, 3.0, 10.0, 3.0)
    );
    assert_eq!(
        out.iter()
            .find(|s| &*s.name == "g")
            .unwrap()
            .source
            .as_ref(),
        "h"
    );
    assert_eq!(
        out.iter()
            .find(|s| &*s.name == "c")
            .unwrap()
            .source
            .as_ref(),
        DEFAULT_SOURCE
    );
    let Some(Summary::Timer {
        stats, percentiles, ..
    }) = find(&out, "t")
    else {
        panic!()
    };
    assert_eq!(stats.count, 1);
    assert_eq!(percentiles.len(), 2);
}

#[test]
fn expired_series_free_their_slots_and_strings() {
    let mut agg = Aggregator::new(vec![], Duration::from_secs(1));
    let start = Instant::now();
    let names: Vec<String> = (0..3000).map(|i| format!("old.{i}")).collect();
    for chunk in names.chunks(200) {
        let ms: Vec<_> = chunk
            .iter()
            .map(|n| Measurement::new(n, Some("src"), Value::Gauge(1.0)).unwrap())
            .collect();
        let mut b = FrameBuilder::<&str, 512, 256, 256>::new();
        for m in &ms {
            b.push(*m).unwrap();
        }
        let level = Level::new("info").unwrap();
        let mut buf = vec![0; b.encoded_len(level, &Header::default())];
        b.encode(level, &Header::default(), &mut buf).unwrap();
        agg.ingest(&Frame::decode(&buf).unwrap(), start);
    }
    assert_eq!(agg.flush(start).len(), 3000);
    assert!(agg.flush(start + Duration::from_secs(2)).is_empty());
    assert_eq!(agg.series_count(), 0);
    let later = start + Duration::from_secs(3);
    let bytes = frame_bytes(&[
        Measurement::new("new", Some("src"), Value::Counter(4)).unwrap(),
        Measurement::new("bare", None, Value::Counter(1)).unwrap(),
    ]);
    agg.ingest(&Frame::decode(&bytes).unwrap(), later);
    let mut out = agg.flush(later);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(out.len(), 2);
    assert_eq!(
        (&*out[1].name, &*out[1].source, &*out[1].level),
        ("new", "src", "info")
    );
    assert_eq!(out[1].summary, Summary::Counter { sum: 4 });
    // The table was rebuilt; a series without a source still reads as the default.
    assert_eq!((&*out[0].name, &*out[0].source), ("bare", DEFAULT_SOURCE));
    assert!(
        agg.strings.len() < 100,
        "strings of expired series were dropped"
    );
}

#[test]
fn past_the_limit_new_series_fold_into_overflow_and_keep_no_strings() {
    let mut agg = Aggregator::new(vec![0.5], Duration::from_secs(1)).with_max_series(10);
    let start = Instant::now();
    let names: Vec<String> = (0..1000).map(|i| format!("req.{i}")).collect();
    for round in 0..3 {
        for chunk in names.chunks(100) {
            let mut ms = vec![Measurement::new("steady", None, Value::Counter(1)).unwrap()];
            ms.extend(
                chunk
                    .iter()
                    .map(|n| Measurement::new(n, Some("web"), Value::Counter(2)).unwrap()),
            );
            ms.push(Measurement::new(&chunk[0], None, Value::Timer(1000)).unwrap());
            let mut b = FrameBuilder::<&str, 256, 256, 256>::new();
            for m in &ms {
                b.push(*m).unwrap();
            }
            let level = Level::new("info").unwrap();
            let mut buf = vec![0; b.encoded_len(level, &Header::default())];
            b.encode(level, &Header::default(), &mut buf).unwrap();
            assert_eq!(agg.ingest(&Frame::decode(&buf).unwrap(), start), 102);
        }
        assert!(
            agg.series_count() <= 10 + 2,
            "round {round}: {}",
            agg.series_count()
        );
        assert!(agg.strings.len() < 40, "refused names are not interned");
        let refused = agg.take_refused().expect("a refused series is named");
        assert!(refused.name.starts_with("req."), "{refused:?}");
        let out = agg.flush(start);
        let sum: i64 = out
            .iter()
            .filter_map(|s| match s.summary {
                Summary::Counter { sum } => Some(sum),
                _ => None,
            })
            .sum();
        assert_eq!(sum, 10 + 2000, "every increment is somewhere");
        assert_eq!(find(&out, "steady"), Some(&Summary::Counter { sum: 10 }));
        let overflow = out
            .iter()
            .find(|s| &*s.name == OVERFLOW_NAME && s.kind == Kind::Counter)
            .expect("an overflow counter");
        assert_eq!(&*overflow.level, "info");
        let Summary::Counter { sum: folded } = overflow.summary else {
            panic!()
        };
        assert!(folded >= 2 * 990 - 2 * 9, "{folded}");
    }
    assert!(agg.overflowed() > 0);
    // Once the series expire, new ones get their own series again.
    agg.flush(start + Duration::from_secs(5));
    assert_eq!(agg.series_count(), 0);
    let bytes = frame_bytes(&[Measurement::new("fresh", None, Value::Counter(4)).unwrap()]);
    agg.ingest(
        &Frame::decode(&bytes).unwrap(),
        start + Duration::from_secs(6),
    );
    let out = agg.flush(start + Duration::from_secs(6));
    assert_eq!(find(&out, "fresh"), Some(&Summary::Counter { sum: 4 }));
}

#[test]
fn slots_freed_at_the_end_are_not_reused_past_it() {
    // Found by the worker_limits fuzz target: expired series at the end of the
    // slot table were given back, but their slot numbers stayed on the free list.
    let mut agg = Aggregator::new(vec![], Duration::from_secs(1));
    let start = Instant::now();
    let all = frame_bytes(&[
        Measurement::new("a", None, Value::Counter(1)).unwrap(),
        Measurement::new("b", None, Value::Counter(1)).unwrap(),
        Measurement::new("c", None, Value::Counter(1)).unwrap(),
    ]);
    agg.ingest(&Frame::decode(&all).unwrap(), start);
    let later = start + Duration::from_secs(5);
    let a = frame_bytes(&[Measurement::new("a", None, Value::Counter(1)).unwrap()]);
    agg.ingest(&Frame::decode(&a).unwrap(), later);
    agg.flush(later);
    assert_eq!(agg.series_count(), 1);
    let new = frame_bytes(&[
        Measurement::new("d", None, Value::Counter(2)).unwrap(),
        Measurement::new("e", None, Value::Counter(3)).unwrap(),
    ]);
    agg.ingest(&Frame::decode(&new).unwrap(), later);
    let out = agg.flush(later);
    assert_eq!(find(&out, "e"), Some(&Summary::Counter { sum: 3 }));
}

#[test]
fn idle_counters_report_zero_until_they_expire_and_others_report_nothing() {
    let mut agg = Aggregator::new(vec![], Duration::from_secs(10));
    let start = Instant::now();
    let bytes = frame_bytes(&[
        Measurement::new("c", None, Value::Counter(1)).unwrap(),
        Measurement::new("g", None, Value::Gauge(1.0)).unwrap(),
    ]);
    agg.ingest(&Frame::decode(&bytes).unwrap(), start);
    assert_eq!(agg.flush(start).len(), 2);
    let idle = agg.flush(start + Duration::from_secs(5));
    assert_eq!(idle.len(), 1);
    assert_eq!(find(&idle, "c"), Some(&Summary::Counter { sum: 0 }));
    assert!(agg.flush(start + Duration::from_secs(11)).is_empty());
    assert_eq!(agg.series_count(), 0);
}
