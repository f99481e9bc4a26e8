//! The JSON of Librato's source-based `POST /v1/metrics`.

use serde_json::{Value as Json, json};
use zibrato_worker::{SeriesSummary, Stats, Summary};

use crate::names::Sanitizer;

/// The gauge entries of one series: counters as a `value` (their sum, as the original
/// library sent them), gauges as a summary, timers as a summary in seconds plus one
/// `value` gauge per percentile, named `<name>.p50`, `<name>.p99`, ….
pub fn entries(series: &SeriesSummary, measure_time: u64, names: &mut Sanitizer) -> Vec<Json> {
    let name = names.clean(&series.name).into_owned();
    let source = names.clean(&series.source).into_owned();
    match &series.summary {
        Summary::Counter { sum } => vec![json!({
            "name": name, "source": source, "measure_time": measure_time, "value": sum,
        })],
        Summary::Gauge(stats) => vec![summary(&name, &source, measure_time, stats, 1.0)],
        Summary::Timer {
            stats, percentiles, ..
        } => {
            let mut out = vec![summary(&name, &source, measure_time, stats, 1e-9)];
            for &(q, ns) in percentiles {
                let suffix = percentile_suffix(q);
                let percentile_name = names.clean(&format!("{name}.{suffix}")).into_owned();
                out.push(json!({
                    "name": percentile_name, "source": source, "measure_time": measure_time,
                    "value": ns * 1e-9,
                }));
            }
            out
        }
    }
}

fn summary(name: &str, source: &str, measure_time: u64, stats: &Stats, scale: f64) -> Json {
    json!({
        "name": name,
        "source": source,
        "measure_time": measure_time,
        "count": stats.count,
        "sum": stats.sum * scale,
        "min": stats.min * scale,
        "max": stats.max * scale,
        "sum_squares": stats.sum_squares * scale * scale,
    })
}

/// `0.5` → `p50`, `0.99` → `p99`, `0.999` → `p99.9`.
pub fn percentile_suffix(q: f64) -> String {
    let percent = (q * 1000.0).round() / 10.0;
    if percent.fract() == 0.0 {
        format!("p{}", percent as u64)
    } else {
        format!("p{percent}")
    }
}

/// The request body for some entries.
pub fn body(entries: &[Json]) -> String {
    json!({ "gauges": entries }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use zibrato_worker::Kind;

    fn series(summary: Summary) -> SeriesSummary {
        SeriesSummary {
            level: Arc::from("info"),
            kind: Kind::Timer,
            name: Arc::from("db query"),
            source: Arc::from("web-1"),
            summary,
        }
    }

    #[test]
    fn timers_are_seconds_with_percentile_gauges() {
        let mut stats = Stats::of(1e9);
        stats.add(3e9);
        let s = series(Summary::Timer {
            stats,
            percentiles: vec![(0.5, 1e9), (0.999, 3e9)],
            values: vec![],
        });
        let out = entries(&s, 60, &mut Sanitizer::default());
        assert_eq!(out[0]["name"], "db_query");
        assert_eq!(out[0]["count"], 2);
        assert_eq!(out[0]["sum"], 4.0);
        assert_eq!(out[0]["sum_squares"], 10.0);
        assert_eq!(out[1]["name"], "db_query.p50");
        assert_eq!(out[2]["name"], "db_query.p99.9");
        assert_eq!(out[2]["value"], 3.0);
    }

    #[test]
    fn counters_are_a_value_zero_included() {
        let s = series(Summary::Counter { sum: 0 });
        let out = entries(&s, 60, &mut Sanitizer::default());
        assert_eq!(out[0]["value"], 0);
        assert_eq!(out[0]["measure_time"], 60);
    }
}
