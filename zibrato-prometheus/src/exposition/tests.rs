//! The exposition's rules: windows merged, names and kinds, staleness.

use std::sync::Arc;

use zibrato_worker::{Readings, SeriesSummary};

use super::*;

fn series(kind: Kind, name: &str, summary: Summary) -> SeriesSummary {
    SeriesSummary::new(
        Arc::from("info"),
        kind,
        Arc::from(name),
        Arc::from("web-1"),
        summary,
    )
}

fn window(series: Vec<SeriesSummary>) -> Window {
    Window::new(0, Duration::from_secs(1), series)
}

#[test]
fn counters_rise_across_windows_and_never_fall() {
    let mut e = Exposition::new("", Duration::from_secs(60));
    for sum in [4, -3, 0, 2] {
        e.merge(&window(vec![series(
            Kind::Counter,
            "jobs",
            Summary::Counter { sum },
        )]));
    }
    let text = e.render();
    assert!(
        text.contains("jobs_total{level=\"info\",source=\"web-1\"} 6\n"),
        "{text}"
    );
    assert!(
        text.contains("zibrato_prometheus_negative_increments_total 1\n"),
        "{text}"
    );
}

#[test]
fn timers_are_summaries_in_seconds() {
    let mut e = Exposition::new("app_", Duration::from_secs(60));
    let timer = |values: &[f64]| {
        let mut stats = Readings::of(values[0]);
        values[1..].iter().for_each(|&v| stats.add(v));
        Summary::Timer {
            stats,
            percentiles: vec![(0.5, values[0]), (0.99, values[values.len() - 1])],
            values: vec![],
            sketch: None,
        }
    };
    e.merge(&window(vec![series(
        Kind::Timer,
        "db.query",
        timer(&[1e6, 3e6]),
    )]));
    e.merge(&window(vec![series(
        Kind::Timer,
        "db.query",
        timer(&[5e8]),
    )]));
    let text = e.render();
    for line in [
        "# TYPE app_db_query_seconds summary",
        "app_db_query_seconds{level=\"info\",source=\"web-1\",quantile=\"0.5\"} 0.5",
        "app_db_query_seconds{level=\"info\",source=\"web-1\",quantile=\"0.99\"} 0.5",
        "app_db_query_seconds_sum{level=\"info\",source=\"web-1\"} 0.504",
        "app_db_query_seconds_count{level=\"info\",source=\"web-1\"} 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

#[test]
fn families_of_different_kinds_never_share_a_sample_name() {
    let mut e = Exposition::new("", Duration::from_secs(60));
    e.merge(&window(vec![
        series(Kind::Counter, "x", Summary::Counter { sum: 1 }),
        series(Kind::Gauge, "x_total", Summary::Gauge(Readings::of(2.0))),
        series(
            Kind::Gauge,
            "y_seconds_count",
            Summary::Gauge(Readings::of(3.0)),
        ),
        series(
            Kind::Timer,
            "y",
            Summary::Timer {
                stats: Readings::of(1e9),
                percentiles: vec![],
                values: vec![],
                sketch: None,
            },
        ),
    ]));
    let text = e.render();
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    let names: HashSet<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    assert_eq!(names.len(), types.len(), "{text}");
    assert!(text.contains("x_total{"), "{text}");
    assert!(text.contains("x_total_gauge{"), "{text}");
}

#[test]
fn stale_series_disappear() {
    let start = Instant::now();
    let mut e = Exposition::new("", Duration::from_secs(300));
    let gauge = || {
        window(vec![series(
            Kind::Gauge,
            "g",
            Summary::Gauge(Readings::of(1.0)),
        )])
    };
    e.merge_at(&gauge(), start);
    // Brought again within the staleness, it stays: staleness counts from the last.
    e.merge_at(&gauge(), start + Duration::from_secs(200));
    assert!(
        e.render_at(start + Duration::from_secs(499))
            .contains("\ng{")
    );
    assert_eq!(e.len(), 1);
    let text = e.render_at(start + Duration::from_secs(500));
    assert!(e.is_empty());
    assert!(!text.contains("\ng{"), "{text}");
    assert!(
        text.contains("zibrato_prometheus_expired_series_total 1\n"),
        "{text}"
    );
}
