//! The console worker: each flush window printed on standard output, as an aligned
//! table for people (the demo's default) or as JSON lines for other tools.
//!
//! Table columns: level, name, source, kind, count, sum (the value of a counter), min,
//! max, p50, p90, p99. Timers are shown in milliseconds; the percentile columns are
//! the configured percentiles closest to 0.5, 0.9 and 0.99.
//!
//! A JSON line per series and window:
//! `{"measure_time":…,"level":"info","name":"db.query","source":"web-1","kind":"timer",
//! "count":3,"sum":…,"min":…,"max":…,"last":…,"percentiles":{"p50":…}}` with timer values
//! in nanoseconds, as measured.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use zibrato_console::table;
//! use zibrato_worker::{Kind, SeriesSummary, Summary, Window};
//!
//! let window = Window::new(
//!     1_764_158_400,
//!     Duration::from_secs(2),
//!     vec![SeriesSummary::new("info", Kind::Counter, "requests", "web-1", Summary::Counter { sum: 3 })],
//! );
//! let text = table(&window);
//! assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["info", "requests", "web-1", "counter", "3"]));
//! ```

pub mod cli;

use std::io::Write;

use serde_json::json;
use zibrato_worker::{Backend, Delivered, DeliveryError, SeriesSummary, Summary, Window};

/// How windows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table per window.
    Table,
    /// One JSON object per series and window.
    Json,
}

/// Prints windows to standard output.
#[derive(Debug)]
pub struct Console {
    format: Format,
}

impl Console {
    /// A console backend printing in `format`.
    pub fn new(format: Format) -> Console {
        Console { format }
    }
}

/// The series of a window sorted for display: level, name, source.
fn sorted(window: &Window) -> Vec<&SeriesSummary> {
    let mut series: Vec<&SeriesSummary> = window.series.iter().collect();
    series.sort_by(|a, b| (&a.level, &a.name, &a.source).cmp(&(&b.level, &b.name, &b.source)));
    series
}

/// The value of the configured percentile nearest to `q`.
fn near(percentiles: &[(f64, f64)], q: f64) -> Option<f64> {
    percentiles
        .iter()
        .min_by(|a, b| (a.0 - q).abs().total_cmp(&(b.0 - q).abs()))
        .filter(|(p, _)| (p - q).abs() < 0.05)
        .map(|&(_, v)| v)
}

fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The table for a window, as text.
pub fn table(window: &Window) -> String {
    let header = [
        "level", "name", "source", "kind", "count", "sum", "min", "max", "p50", "p90", "p99",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for s in sorted(window) {
        let mut row = vec![
            s.level.to_string(),
            s.name.to_string(),
            s.source.to_string(),
        ];
        match &s.summary {
            Summary::Counter { sum } => {
                row.extend(["counter".into(), "".into(), sum.to_string()]);
                row.extend(["", "", "", "", ""].map(String::from));
            }
            Summary::Gauge(st) => {
                row.extend(["gauge".into(), st.count.to_string(), number(st.sum)]);
                row.extend([number(st.min), number(st.max)]);
                row.extend(["", "", ""].map(String::from));
            }
            Summary::Timer {
                stats, percentiles, ..
            } => {
                let ms = |ns: f64| format!("{} ms", number(ns / 1e6));
                row.extend(["timer".into(), stats.count.to_string(), ms(stats.sum)]);
                row.extend([ms(stats.min), ms(stats.max)]);
                for q in [0.5, 0.9, 0.99] {
                    row.push(near(percentiles, q).map(ms).unwrap_or_default());
                }
            }
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "── window ending {} (unix), {} s, {} series ──\n",
        window.measure_time,
        window.interval.as_secs_f64(),
        window.series.len()
    );
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c < 4 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The JSON lines for a window.
pub fn json_lines(window: &Window) -> String {
    let mut out = String::new();
    for s in sorted(window) {
        let mut object = json!({
            "measure_time": window.measure_time,
            "level": &*s.level,
            "name": &*s.name,
            "source": &*s.source,
            "kind": s.kind.as_str(),
        });
        match &s.summary {
            Summary::Counter { sum } => object["sum"] = json!(sum),
            Summary::Gauge(st) | Summary::Timer { stats: st, .. } => {
                object["count"] = json!(st.count);
                object["sum"] = json!(st.sum);
                object["min"] = json!(st.min);
                object["max"] = json!(st.max);
                object["last"] = json!(st.last);
                object["sum_squares"] = json!(st.sum_squares);
            }
        }
        if let Summary::Timer { percentiles, .. } = &s.summary {
            let map: serde_json::Map<String, serde_json::Value> = percentiles
                .iter()
                .map(|&(q, v)| (format!("p{}", (q * 1000.0).round() / 10.0), json!(v)))
                .collect();
            object["percentiles"] = serde_json::Value::Object(map);
        }
        out.push_str(&line_safe(object.to_string()));
        out.push('\n');
    }
    out
}

/// Escapes the characters that JSON allows raw in strings but that line-splitting
/// readers take for line ends (U+0085, U+2028, U+2029), so each window's series stay
/// one per line whatever their names. They can only occur inside strings, so escaping
/// them anywhere in the text is exact.
fn line_safe(json: String) -> String {
    if !json.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        return json;
    }
    json.replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl Backend for Console {
    fn name(&self) -> &str {
        "console"
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        Ok(())
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        let text = match self.format {
            Format::Table => table(window),
            Format::Json => json_lines(window),
        };
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| {
                DeliveryError::retry(format!("cannot write to standard output: {e}"), None)
            })?;
        let accepted = window.series.len();
        window.series.clear();
        Ok(Delivered::accepted(accepted))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use zibrato_worker::{Kind, SeriesSummary};

    use super::*;

    #[test]
    fn names_with_unicode_line_ends_stay_on_one_line() {
        let name = "a\u{2028}b\u{85}c\u{2029}d";
        let window = Window::new(
            60,
            Duration::from_secs(60),
            vec![SeriesSummary::new(
                Arc::from("info"),
                Kind::Counter,
                Arc::from(name),
                Arc::from("s\u{2028}"),
                Summary::Counter { sum: 2 },
            )],
        );
        let text = json_lines(&window);
        // As a reader that splits on every Unicode line end (Python's splitlines) sees it.
        let lines = text
            .split(['\n', '\u{85}', '\u{2028}', '\u{2029}'])
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(lines, 1, "{text:?}");
        assert!(
            !text.contains(['\u{85}', '\u{2028}', '\u{2029}']),
            "{text:?}"
        );
        assert!(text.contains("\\u2028"), "{text:?}");
        let back: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back["name"], name);
        assert_eq!(back["source"], "s\u{2028}");
    }
}
