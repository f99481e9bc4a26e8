//! The series the worker serves: windows merged in, stale series expired, and the
//! whole rendered in the Prometheus text exposition format (version 0.0.4).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::time::{Duration, Instant};

use tracing::warn;
use zibrato_worker::{Kind, Summary, Window};

use crate::names::{escape_help, escape_label_value, split_name};

/// One exposed series: its family (metric name before the kind's suffix, and kind) and
/// its labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    metric: String,
    kind: Kind,
    /// `level`, `source` and the name's tags, sorted by label name.
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct SeriesState {
    /// The Zibrato name it came from, for `# HELP`.
    origin: String,
    value: Value,
    updated: Instant,
}

#[derive(Debug, Clone)]
enum Value {
    Counter {
        total: f64,
    },
    Gauge {
        last: f64,
    },
    Summary {
        /// `(quantile, seconds)` from the last window with readings.
        quantiles: Vec<(f64, f64)>,
        sum_seconds: f64,
        count: u64,
    },
}

/// The worker's own counts, exposed beside the series.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    windows: u64,
    scrapes: u64,
    expired: u64,
    negative_increments: u64,
}

/// Everything the worker has aggregated, ready to be scraped.
///
/// * Counters are monotonic across windows: each window's sum is added to a running
///   total, exposed as `<name>_total` (a window with a negative sum — a counter
///   decremented — is not added, and is counted in
///   `zibrato_prometheus_negative_increments_total`).
/// * Gauges expose the last reading.
/// * Timers are summaries in seconds, `<name>_seconds`: the quantiles (the worker's
///   `--percentiles`) of the last window that had readings, and `_sum`/`_count`
///   running over all windows.
///
/// Every series carries the labels `level` and `source`, and the tags of its name. A
/// series that no window has brought for `stale_after` disappears.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zibrato_prometheus::Exposition;
/// use zibrato_worker::{Kind, SeriesSummary, Summary, Window};
///
/// let mut exposition = Exposition::new("", Duration::from_secs(300));
/// let window = |sum| {
///     let series = SeriesSummary::new(
///         "info",
///         Kind::Counter,
///         "http.requests;method=GET",
///         "web-1",
///         Summary::Counter { sum },
///     );
///     Window::new(1_764_158_400, Duration::from_secs(10), vec![series])
/// };
/// exposition.merge(&window(3));
/// exposition.merge(&window(2));
/// let text = exposition.render();
/// assert!(text.contains(
///     "http_requests_total{level=\"info\",method=\"GET\",source=\"web-1\"} 5\n"
/// ));
/// ```
#[derive(Debug)]
pub struct Exposition {
    prefix: String,
    stale_after: Duration,
    series: BTreeMap<SeriesKey, SeriesState>,
    warned_negative: HashSet<SeriesKey>,
    counts: Counts,
}

impl Exposition {
    /// An empty exposition; metric names start with `prefix`.
    pub fn new(prefix: &str, stale_after: Duration) -> Exposition {
        Exposition {
            prefix: prefix.to_string(),
            stale_after,
            series: BTreeMap::new(),
            warned_negative: HashSet::new(),
            counts: Counts::default(),
        }
    }

    /// Number of series exposed now.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is exposed.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds a flushed window.
    pub fn merge(&mut self, window: &Window) {
        self.merge_at(window, Instant::now());
    }

    /// [`merge`](Self::merge) at `now`, a clock the caller gives.
    pub fn merge_at(&mut self, window: &Window, now: Instant) {
        self.counts.windows += 1;
        for s in &window.series {
            let split = split_name(&self.prefix, &s.name);
            let mut labels = split.tags;
            labels.insert("level".to_string(), s.level.to_string());
            labels.insert("source".to_string(), s.source.to_string());
            let key = SeriesKey {
                metric: split.metric,
                kind: s.kind,
                labels,
            };
            if let Summary::Counter { sum } = s.summary {
                if sum < 0 {
                    self.counts.negative_increments += 1;
                    if self.warned_negative.len() < 1024 && self.warned_negative.insert(key.clone())
                    {
                        warn!(name = %s.name, source = %s.source, sum, "a counter went down in a window; Prometheus counters only rise, so the decrease is not applied (warned once per series)");
                    }
                    if let Some(state) = self.series.get_mut(&key) {
                        state.updated = now;
                    }
                    continue;
                }
            }
            let state = self.series.entry(key).or_insert_with(|| SeriesState {
                origin: s.name.to_string(),
                value: match s.kind {
                    Kind::Counter => Value::Counter { total: 0.0 },
                    Kind::Gauge => Value::Gauge { last: 0.0 },
                    Kind::Timer => Value::Summary {
                        quantiles: Vec::new(),
                        sum_seconds: 0.0,
                        count: 0,
                    },
                },
                updated: now,
            });
            state.updated = now;
            match (&mut state.value, &s.summary) {
                (Value::Counter { total }, Summary::Counter { sum }) => *total += *sum as f64,
                (Value::Gauge { last }, Summary::Gauge(stats)) => *last = stats.last,
                (
                    Value::Summary {
                        quantiles,
                        sum_seconds,
                        count,
                    },
                    Summary::Timer {
                        stats, percentiles, ..
                    },
                ) => {
                    if stats.count > 0 {
                        *quantiles = percentiles.iter().map(|&(q, ns)| (q, ns / 1e9)).collect();
                    }
                    *sum_seconds += stats.sum / 1e9;
                    *count += stats.count;
                }
                // The kind is part of the key, so the summary always matches it.
                _ => {}
            }
        }
        self.expire(now);
    }

    /// Forgets series no window has brought for `stale_after`.
    pub fn expire(&mut self, now: Instant) {
        let before = self.series.len();
        let stale_after = self.stale_after;
        self.series
            .retain(|_, state| now.saturating_duration_since(state.updated) < stale_after);
        self.counts.expired += (before - self.series.len()) as u64;
    }

    /// The text exposition of every series, and of the worker's own counts; counts the
    /// scrape.
    pub fn render(&mut self) -> String {
        self.render_at(Instant::now())
    }

    /// [`render`](Self::render) at `now`, a clock the caller gives.
    pub fn render_at(&mut self, now: Instant) -> String {
        self.expire(now);
        self.counts.scrapes += 1;
        let mut out = String::with_capacity(64 + self.series.len() * 96);
        let mut taken: HashSet<String> = HashSet::new();
        self.render_own(&mut out, &mut taken);
        let mut start = 0;
        let series: Vec<(&SeriesKey, &SeriesState)> = self.series.iter().collect();
        while start < series.len() {
            let (key, first) = series[start];
            let end = start
                + series[start..]
                    .iter()
                    .take_while(|(k, _)| k.metric == key.metric && k.kind == key.kind)
                    .count();
            let family = family_name(&key.metric, key.kind, &mut taken);
            write_family(
                &mut out,
                &family,
                key.kind,
                &first.origin,
                &series[start..end],
            );
            start = end;
        }
        out
    }

    fn render_own(&self, out: &mut String, taken: &mut HashSet<String>) {
        let own = [
            (
                "zibrato_prometheus_windows_total",
                "counter",
                "Flush windows merged.",
                self.counts.windows as f64,
            ),
            (
                "zibrato_prometheus_scrapes_total",
                "counter",
                "Scrapes served, this one included.",
                self.counts.scrapes as f64,
            ),
            (
                "zibrato_prometheus_expired_series_total",
                "counter",
                "Series forgotten after --stale-after without data.",
                self.counts.expired as f64,
            ),
            (
                "zibrato_prometheus_negative_increments_total",
                "counter",
                "Counter windows with a negative sum, not applied.",
                self.counts.negative_increments as f64,
            ),
            (
                "zibrato_prometheus_series",
                "gauge",
                "Series exposed.",
                self.series.len() as f64,
            ),
        ];
        for (name, kind, help, value) in own {
            taken.insert(name.to_string());
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                number(value)
            );
        }
    }
}

/// The family name of `metric` as `kind`, unique among the sample names already
/// written: the kind's suffix is added (`_total`, `_seconds`) unless present, and a
/// name another family already uses gets `_<kind>` appended until it is free.
fn family_name(metric: &str, kind: Kind, taken: &mut HashSet<String>) -> String {
    let suffix = match kind {
        Kind::Counter => "_total",
        Kind::Gauge => "",
        Kind::Timer => "_seconds",
    };
    let mut family = if metric.ends_with(suffix) {
        metric.to_string()
    } else {
        format!("{metric}{suffix}")
    };
    let samples = |family: &str| -> Vec<String> {
        match kind {
            Kind::Timer => vec![
                family.to_string(),
                format!("{family}_sum"),
                format!("{family}_count"),
            ],
            _ => vec![family.to_string()],
        }
    };
    while samples(&family).iter().any(|s| taken.contains(s)) {
        family = format!("{family}_{}", kind.as_str());
    }
    taken.extend(samples(&family));
    family
}

fn write_family(
    out: &mut String,
    family: &str,
    kind: Kind,
    origin: &str,
    series: &[(&SeriesKey, &SeriesState)],
) {
    let (type_name, what) = match kind {
        Kind::Counter => ("counter", "counter, total of the increments"),
        Kind::Gauge => ("gauge", "gauge, last reading"),
        Kind::Timer => (
            "summary",
            "timer in seconds, quantiles of the last window with readings",
        ),
    };
    let _ = writeln!(
        out,
        "# HELP {family} Zibrato {what}: {}",
        escape_help(origin)
    );
    let _ = writeln!(out, "# TYPE {family} {type_name}");
    for (key, state) in series {
        match &state.value {
            Value::Counter { total } => sample(out, family, &key.labels, None, *total),
            Value::Gauge { last } => sample(out, family, &key.labels, None, *last),
            Value::Summary {
                quantiles,
                sum_seconds,
                count,
            } => {
                for &(q, seconds) in quantiles {
                    sample(out, family, &key.labels, Some(q), seconds);
                }
                sample(
                    out,
                    &format!("{family}_sum"),
                    &key.labels,
                    None,
                    *sum_seconds,
                );
                sample(
                    out,
                    &format!("{family}_count"),
                    &key.labels,
                    None,
                    *count as f64,
                );
            }
        }
    }
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &BTreeMap<String, String>,
    quantile: Option<f64>,
    value: f64,
) {
    out.push_str(name);
    out.push('{');
    for (i, (label, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{label}=\"{}\"", escape_label_value(value));
    }
    if let Some(q) = quantile {
        let _ = write!(out, ",quantile=\"{q}\"");
    }
    let _ = writeln!(out, "}} {}", number(value));
}

/// A sample value as the text format writes it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests;
