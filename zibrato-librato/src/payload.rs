//! The entries of Librato's source-based `POST /v1/metrics`, and their JSON.

use serde_json::{Value as Json, json};
use zibrato_worker::{Kind, Readings, SeriesSummary, Summary};

use crate::names::Sanitizer;

/// What one entry measures; it decides whether two entries of one key can be merged.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// A counter's sum over the window, posted as a gauge `value` (as the original
    /// library sent it). Two counters of one key add up.
    Count(i64),
    /// A summary (`count`, `sum`, `min`, `max`, `sum_squares`) of a gauge's readings, or
    /// of a timer's durations in seconds. Two of the same kind combine.
    Summary(Kind, Readings),
    /// One timer percentile, in seconds. Two cannot be combined.
    Percentile(f64),
}

/// One gauge entry of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The name as posted (Librato's alphabet, at most 255 characters).
    pub name: String,
    /// The source as posted; `None` for a series published without one.
    pub source: Option<String>,
    /// The value or summary.
    pub measure: Measure,
}

impl Entry {
    /// What Librato sees as one metric and source: names (and sources) are
    /// case-insensitive there, so `Api.Hits` and `api.hits` are one key.
    pub fn key(&self) -> (String, String) {
        (
            self.name.to_ascii_lowercase(),
            self.source
                .as_deref()
                .map(str::to_ascii_lowercase)
                .unwrap_or_default(),
        )
    }

    /// Adds `other` (an entry of the same key) into this one, if the two can be
    /// combined: counters add, summaries of one kind combine. Returns whether it did.
    pub fn merge(&mut self, other: &Entry) -> bool {
        match (&mut self.measure, &other.measure) {
            (Measure::Count(a), Measure::Count(b)) => {
                *a = a.saturating_add(*b);
                true
            }
            (Measure::Summary(ka, a), Measure::Summary(kb, b)) if ka == kb => {
                a.count = a.count.saturating_add(b.count);
                a.sum += b.sum;
                a.min = a.min.min(b.min);
                a.max = a.max.max(b.max);
                a.sum_squares += b.sum_squares;
                true
            }
            _ => false,
        }
    }

    /// Whether every number is one JSON can carry (not NaN, not infinite).
    pub fn is_finite(&self) -> bool {
        match &self.measure {
            Measure::Count(_) => true,
            Measure::Summary(_, s) => [s.sum, s.min, s.max, s.sum_squares]
                .iter()
                .all(|v| v.is_finite()),
            Measure::Percentile(v) => v.is_finite(),
        }
    }

    /// The entry's JSON, at `measure_time` (seconds since the Unix epoch).
    pub fn to_json(&self, measure_time: u64) -> Json {
        let mut json = match &self.measure {
            Measure::Count(sum) => {
                json!({ "name": self.name, "measure_time": measure_time, "value": sum })
            }
            Measure::Percentile(value) => {
                json!({ "name": self.name, "measure_time": measure_time, "value": value })
            }
            Measure::Summary(_, s) => json!({
                "name": self.name,
                "measure_time": measure_time,
                "count": s.count,
                "sum": s.sum,
                "min": s.min,
                "max": s.max,
                "sum_squares": s.sum_squares,
            }),
        };
        if let Some(source) = &self.source {
            json["source"] = Json::String(source.clone());
        }
        json
    }
}

/// The entries of one series: a counter's sum as a `value`; a gauge's summary; a
/// timer's summary in seconds plus one `value` per percentile, named `<name>.p50`,
/// `<name>.p99`, … (the suffix kept whole however long the name).
pub fn entries(series: &SeriesSummary, names: &mut Sanitizer) -> Vec<Entry> {
    let name = names.clean(&series.name).into_owned();
    let source = names.source(&series.source);
    let entry = |name: String, measure| Entry {
        name,
        source: source.clone(),
        measure,
    };
    match &series.summary {
        Summary::Counter { sum } => vec![entry(name, Measure::Count(*sum))],
        Summary::Gauge(stats) => vec![entry(name, Measure::Summary(Kind::Gauge, *stats))],
        Summary::Timer {
            stats, percentiles, ..
        } => {
            let mut out = Vec::with_capacity(1 + percentiles.len());
            for &(q, ns) in percentiles {
                let percentile = names.clean_suffixed(&series.name, &percentile_suffix(q));
                out.push(entry(percentile, Measure::Percentile(ns * 1e-9)));
            }
            out.insert(
                0,
                entry(name, Measure::Summary(Kind::Timer, seconds(stats))),
            );
            out
        }
    }
}

/// A timer's statistics, nanoseconds to seconds.
fn seconds(stats: &Readings) -> Readings {
    stats.scaled(1e-9)
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

/// The request body for some entries of one window.
pub fn body<'a>(entries: impl IntoIterator<Item = &'a Entry>, measure_time: u64) -> String {
    let gauges: Vec<Json> = entries
        .into_iter()
        .map(|e| e.to_json(measure_time))
        .collect();
    json!({ "gauges": gauges }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn series(source: &str, summary: Summary) -> SeriesSummary {
        SeriesSummary::new(
            Arc::from("info"),
            Kind::Timer,
            Arc::from("db query"),
            Arc::from(source),
            summary,
        )
    }

    #[test]
    fn timers_are_seconds_with_percentile_gauges() {
        let mut stats = Readings::of(1e9);
        stats.add(3e9);
        let s = series(
            "web-1",
            Summary::Timer {
                stats,
                percentiles: vec![(0.5, 1e9), (0.999, 3e9)],
                values: vec![],
                sketch: None,
            },
        );
        let out: Vec<Json> = entries(&s, &mut Sanitizer::default())
            .iter()
            .map(|e| e.to_json(60))
            .collect();
        assert_eq!(out[0]["name"], "db_query");
        assert_eq!(out[0]["count"], 2);
        assert_eq!(out[0]["sum"], 4.0);
        assert_eq!(out[0]["sum_squares"], 10.0);
        assert_eq!(out[1]["name"], "db_query.p50");
        assert_eq!(out[2]["name"], "db_query.p99.9");
        assert_eq!(out[2]["value"], 3.0);
        assert_eq!(out[2]["source"], "web-1");
    }

    #[test]
    fn counters_are_a_value_zero_included_and_no_source_is_none() {
        let s = series(zibrato_worker::DEFAULT_SOURCE, Summary::Counter { sum: 0 });
        let out = entries(&s, &mut Sanitizer::default())[0].to_json(60);
        assert_eq!(out["value"], 0);
        assert_eq!(out["measure_time"], 60);
        assert!(out.get("source").is_none(), "{out}");
    }

    #[test]
    fn merges_only_what_adds_up() {
        let entry = |measure| Entry {
            name: "a".into(),
            source: None,
            measure,
        };
        let mut count = entry(Measure::Count(2));
        assert!(count.merge(&entry(Measure::Count(3))));
        assert_eq!(count.measure, Measure::Count(5));
        let mut gauge = entry(Measure::Summary(Kind::Gauge, Readings::of(1.0)));
        assert!(gauge.merge(&entry(Measure::Summary(Kind::Gauge, Readings::of(5.0)))));
        assert!(!gauge.merge(&entry(Measure::Summary(Kind::Timer, Readings::of(5.0)))));
        assert!(!gauge.merge(&entry(Measure::Count(1))));
        let Measure::Summary(_, s) = gauge.measure else {
            unreachable!()
        };
        assert_eq!((s.count, s.sum, s.min, s.max), (2, 6.0, 1.0, 5.0));
        assert!(!entry(Measure::Percentile(1.0)).merge(&entry(Measure::Percentile(1.0))));
        assert!(!entry(Measure::Percentile(f64::NAN)).is_finite());
    }
}
