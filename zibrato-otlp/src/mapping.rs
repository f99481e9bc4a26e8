//! What a window's series become in OTLP: one `Metric` with one data point per
//! series (see the crate documentation for the table).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, Sum, Summary as OtlpSummary, SummaryDataPoint,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point::Value,
    summary_data_point::ValueAtQuantile,
};
use zibrato_worker::{DEFAULT_SOURCE, Readings, SeriesSummary, Summary};

use crate::cumulative::{Cumulative, Full, TimerBuckets, TimerFigures};
use crate::histogram::{DEFAULT_MAX_BUCKETS, explicit, exponential};

/// Nanoseconds per second.
const NANOS: f64 = 1e9;

/// How counters and timers are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// Each point is the window's own (OTLP's default, and the Collector's).
    Delta,
    /// Each point is the total (a counter) or the histogram (a timer) since the series
    /// was first seen by this worker, for backends that accept only cumulative data.
    Cumulative,
}

/// How timers are reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Histograms {
    /// Exponential histograms (mergeable, log-scale; see [`crate::histogram`]).
    Exponential,
    /// Explicit-bucket histograms with these upper bounds in seconds, ascending.
    Explicit(Vec<f64>),
}

/// The mapping's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSettings {
    /// Counters' temporality.
    pub temporality: Temporality,
    /// Timers' histogram form.
    pub histograms: Histograms,
    /// Also export each gauge's window statistics as an OTLP Summary named
    /// `<name>.summary` (count, sum, and min and max as the 0 and 1 quantiles).
    pub gauge_summaries: bool,
    /// The most buckets of an exponential histogram point (at least 2); a wider one is
    /// downscaled.
    pub max_buckets: usize,
    /// The most series whose running totals cumulative temporality keeps.
    pub max_cumulative_series: usize,
}

impl Default for MappingSettings {
    /// Delta, exponential histograms of at most 160 buckets, no gauge summaries.
    fn default() -> Self {
        MappingSettings {
            temporality: Temporality::Delta,
            histograms: Histograms::Exponential,
            gauge_summaries: false,
            max_buckets: DEFAULT_MAX_BUCKETS,
            max_cumulative_series: crate::cumulative::DEFAULT_MAX_SERIES,
        }
    }
}

/// Turns series into metrics, keeping what cumulative temporality needs.
pub struct Mapper {
    settings: MappingSettings,
    cumulative: Cumulative,
}

/// Why a series was not exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// A counter whose window sum is negative: OTLP's monotonic sums cannot go down.
    NegativeCounter,
    /// A gauge reading that is not finite.
    NotFinite,
    /// A new series while the cumulative table holds `--max-cumulative-series`.
    CumulativeFull,
}

impl From<Full> for Skipped {
    fn from(_: Full) -> Self {
        Skipped::CumulativeFull
    }
}

/// A string attribute.
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// `name` without its `;key=value` tags, and the tags, by the rules every Zibrato
/// backend shares ([`zibrato_wire::tags`]).
pub fn split_tags(name: &str) -> (&str, Vec<(&str, &str)>) {
    let (base, tags) = zibrato_wire::tags::split(name);
    (base, tags.collect())
}

/// `level`, `source` (absent for a series without one) and the name's tags.
fn attributes(series: &SeriesSummary, tags: &[(&str, &str)]) -> Vec<KeyValue> {
    let mut out = vec![string_attribute("level", &series.level)];
    if &*series.source != DEFAULT_SOURCE {
        out.push(string_attribute("source", &series.source));
    }
    for (key, value) in tags {
        if !out.iter().any(|kv| kv.key == *key) {
            out.push(string_attribute(key, value));
        }
    }
    out
}

impl Mapper {
    /// A mapper with no history.
    pub fn new(settings: MappingSettings) -> Self {
        Mapper {
            cumulative: Cumulative::new(settings.max_cumulative_series),
            settings,
        }
    }

    /// The metrics for one series of the window ending at `measure_time` (seconds)
    /// after `interval`: one, or two for a gauge with summaries on.
    pub fn metrics(
        &mut self,
        series: &SeriesSummary,
        measure_time: u64,
        interval: Duration,
    ) -> Result<Vec<Metric>, Skipped> {
        let end_ns = measure_time.saturating_mul(1_000_000_000);
        let start_ns = end_ns.saturating_sub(interval.as_nanos().min(u128::from(u64::MAX)) as u64);
        let (name, tags) = split_tags(&series.name);
        let attributes = attributes(series, &tags);
        let metric = |data: Data, unit: &str| Metric {
            name: name.to_string(),
            unit: unit.to_string(),
            data: Some(data),
            ..Default::default()
        };
        match &series.summary {
            Summary::Counter { sum } => {
                if *sum < 0 {
                    return Err(Skipped::NegativeCounter);
                }
                let (start, value, temporality) = match self.settings.temporality {
                    Temporality::Delta => (start_ns, *sum, AggregationTemporality::Delta),
                    Temporality::Cumulative => {
                        let (start, total) =
                            self.cumulative
                                .counter(key(series), start_ns, measure_time, *sum)?;
                        (start, total, AggregationTemporality::Cumulative)
                    }
                };
                let point = NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: end_ns,
                    value: Some(Value::AsInt(value)),
                    ..Default::default()
                };
                Ok(vec![metric(
                    Data::Sum(Sum {
                        data_points: vec![point],
                        aggregation_temporality: temporality as i32,
                        is_monotonic: true,
                    }),
                    "",
                )])
            }
            Summary::Gauge(readings) => {
                if !readings.last.is_finite() {
                    return Err(Skipped::NotFinite);
                }
                let point = NumberDataPoint {
                    attributes: attributes.clone(),
                    start_time_unix_nano: start_ns,
                    time_unix_nano: end_ns,
                    value: Some(Value::AsDouble(readings.last)),
                    ..Default::default()
                };
                let mut out = vec![metric(
                    Data::Gauge(Gauge {
                        data_points: vec![point],
                    }),
                    "",
                )];
                if self.settings.gauge_summaries {
                    let mut summary = metric(
                        Data::Summary(OtlpSummary {
                            data_points: vec![summary_point(
                                readings, attributes, start_ns, end_ns,
                            )],
                        }),
                        "",
                    );
                    summary.name = format!("{name}.summary");
                    out.push(summary);
                }
                Ok(out)
            }
            Summary::Timer { stats, sketch, .. } => {
                let seconds = stats.scaled(1.0 / NANOS);
                let empty = zibrato_worker::DurationSketch::default();
                let sketch = sketch.as_ref().unwrap_or(&empty);
                let window = TimerFigures {
                    count: seconds.count,
                    sum: seconds.sum,
                    min: seconds.min,
                    max: seconds.max,
                    buckets: match &self.settings.histograms {
                        Histograms::Exponential => TimerBuckets::Exponential(exponential(sketch)),
                        Histograms::Explicit(bounds) => {
                            TimerBuckets::Explicit(explicit(sketch, bounds))
                        }
                    },
                };
                let (start, figures, temporality) = match self.settings.temporality {
                    Temporality::Delta => (start_ns, window, AggregationTemporality::Delta),
                    Temporality::Cumulative => {
                        let (start, total) =
                            self.cumulative
                                .timer(key(series), start_ns, measure_time, &window)?;
                        (start, total, AggregationTemporality::Cumulative)
                    }
                };
                let data = match (figures.buckets, &self.settings.histograms) {
                    (TimerBuckets::Exponential(full), _) => {
                        let h = full.downscaled(self.settings.max_buckets);
                        Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes,
                                start_time_unix_nano: start,
                                time_unix_nano: end_ns,
                                count: figures.count,
                                sum: Some(figures.sum),
                                scale: h.scale,
                                zero_count: h.zero,
                                positive: Some(Buckets {
                                    offset: h.offset,
                                    bucket_counts: h.counts,
                                }),
                                min: Some(figures.min),
                                max: Some(figures.max),
                                ..Default::default()
                            }],
                            aggregation_temporality: temporality as i32,
                        })
                    }
                    (TimerBuckets::Explicit(counts), bounds) => Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: end_ns,
                            count: figures.count,
                            sum: Some(figures.sum),
                            bucket_counts: counts,
                            explicit_bounds: match bounds {
                                Histograms::Explicit(bounds) => bounds.clone(),
                                Histograms::Exponential => Vec::new(),
                            },
                            min: Some(figures.min),
                            max: Some(figures.max),
                            ..Default::default()
                        }],
                        aggregation_temporality: temporality as i32,
                    }),
                };
                Ok(vec![metric(data, "s")])
            }
        }
    }

    /// Forgets running totals of series not seen for an hour before `now` (seconds).
    pub fn forget_idle(&mut self, now: u64) {
        self.cumulative.forget_idle(now);
    }

    /// Series whose running totals are kept (cumulative temporality).
    pub fn cumulative_series(&self) -> usize {
        self.cumulative.len()
    }
}

/// The cumulative table's key for `series`.
fn key(series: &SeriesSummary) -> crate::cumulative::SeriesKey {
    (
        Arc::clone(&series.level),
        Arc::clone(&series.name),
        Arc::clone(&series.source),
    )
}

fn summary_point(
    readings: &Readings,
    attributes: Vec<KeyValue>,
    start_ns: u64,
    end_ns: u64,
) -> SummaryDataPoint {
    SummaryDataPoint {
        attributes,
        start_time_unix_nano: start_ns,
        time_unix_nano: end_ns,
        count: readings.count,
        sum: readings.sum,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.0,
                value: readings.min,
            },
            ValueAtQuantile {
                quantile: 1.0,
                value: readings.max,
            },
        ],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cumulative::FORGET_AFTER_SECONDS;
    use zibrato_worker::Kind;

    #[test]
    fn tags_split_off_the_name_unless_malformed() {
        assert_eq!(
            split_tags("http.requests;method=GET;status=200"),
            ("http.requests", vec![("method", "GET"), ("status", "200")])
        );
        assert_eq!(split_tags("a;b"), ("a;b", vec![]));
        assert_eq!(split_tags("plain"), ("plain", vec![]));
    }

    #[test]
    fn cumulative_counters_run_on_from_their_first_window() {
        let mut m = Mapper::new(MappingSettings {
            temporality: Temporality::Cumulative,
            ..MappingSettings::default()
        });
        let s =
            |sum| SeriesSummary::new("info", Kind::Counter, "jobs", "w", Summary::Counter { sum });
        let point = |metrics: Vec<Metric>| match metrics[0].data.clone().unwrap() {
            Data::Sum(sum) => sum.data_points[0].clone(),
            other => panic!("{other:?}"),
        };
        let first = point(m.metrics(&s(3), 100, Duration::from_secs(10)).unwrap());
        let second = point(m.metrics(&s(4), 110, Duration::from_secs(10)).unwrap());
        let retried = point(m.metrics(&s(4), 110, Duration::from_secs(10)).unwrap());
        assert_eq!(
            retried.value,
            Some(Value::AsInt(7)),
            "a retry is not added twice"
        );
        assert_eq!(first.value, Some(Value::AsInt(3)));
        assert_eq!(second.value, Some(Value::AsInt(7)));
        assert_eq!(second.start_time_unix_nano, 90_000_000_000);
        assert_eq!(
            m.metrics(&s(-1), 120, Duration::from_secs(10)),
            Err(Skipped::NegativeCounter)
        );
        m.forget_idle(110 + FORGET_AFTER_SECONDS);
        let fresh = point(
            m.metrics(&s(1), 110 + FORGET_AFTER_SECONDS, Duration::from_secs(10))
                .unwrap(),
        );
        assert_eq!(fresh.value, Some(Value::AsInt(1)));
    }
}
