//! The statsd worker: subscribes to levels at a Zibrato broker, aggregates each flush
//! window, and sends it to a statsd server over UDP as `|c`, `|g` and `|ms` lines packed
//! into datagrams of at most `--max-datagram` bytes (1 432 by default, safe for a
//! 1 500-byte MTU).
//!
//! # Names
//!
//! A series becomes `[prefix.][source.]name`: the source is left out when it is
//! `not_specified`, since statsd has no sources of its own. `:`, `|`, `@`, whitespace and
//! control characters, which would break a statsd line, become `_`.
//!
//! # Modes: each duration, or one line per series
//!
//! Counters are always sent as the window's sum (`name:42|c`): statsd adds increments
//! anyway, so one line per window gives it exactly the same total for a fraction of the
//! traffic. Gauges are sent as their last reading (`|g`, statsd's own semantics; a
//! negative reading is preceded by `name:0|g` because statsd reads a leading `-` as a
//! decrement).
//!
//! Timers are where the modes differ:
//!
//! * `--mode events` (the default) sends every duration of the window (`|ms`), so
//!   statsd computes its own percentiles, upper and lower exactly. The worker keeps up
//!   to `--max-timer-values` durations per timer and window; beyond that it sends the
//!   ones it kept with a sample rate (`|@r`), so statsd's count and rate stay right.
//!   Traffic grows with the number of durations.
//! * `--mode summed` sends one line per timer and window: the mean, with a sample rate
//!   of `1/count` (`name:12.5|ms|@0.01`). statsd's count, rate and mean stay right; its
//!   percentiles, upper and lower describe the means, not the durations. Traffic is one
//!   line per series per window, whatever the rate. Zibrato's own percentiles are what
//!   the Librato and console workers report.
//!
//! # Example
//!
//! ```
//! use zibrato_statsd::{Mode, lines};
//! use zibrato_worker::{Kind, SeriesSummary, Summary};
//!
//! let series = SeriesSummary::new(
//!     "info",
//!     Kind::Counter,
//!     "requests",
//!     "web-1",
//!     Summary::Counter { sum: 42 },
//! );
//! let mut out = Vec::new();
//! lines(&series, Some("app"), Mode::Events, &mut out);
//! assert_eq!(out, ["app.web-1.requests:42|c\n"]);
//! ```

pub mod cli;

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};

use zibrato_worker::{
    Backend, DEFAULT_SOURCE, Delivered, DeliveryError, SeriesSummary, Summary, Window,
};

/// How timers are sent; see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every duration of the window.
    Events,
    /// One line per timer and window: the mean with a sample rate of 1/count.
    Summed,
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Settings {
    /// statsd's address.
    pub target: SocketAddr,
    /// Largest datagram, in bytes.
    pub max_datagram: usize,
    /// Prepended to every name, with a dot.
    pub prefix: Option<String>,
    /// How timers are sent.
    pub mode: Mode,
    /// Durations kept per timer and window in `events` mode.
    pub max_timer_values: usize,
}

/// Sends windows to statsd.
pub struct Statsd {
    settings: Settings,
    socket: UdpSocket,
}

impl Statsd {
    /// A backend sending to `settings.target`.
    ///
    /// # Errors
    ///
    /// The operating system's error if no UDP socket can be bound.
    pub fn new(settings: Settings) -> std::io::Result<Statsd> {
        let local: SocketAddr = if settings.target.is_ipv4() {
            "0.0.0.0:0".parse().expect("address")
        } else {
            "[::]:0".parse().expect("address")
        };
        let socket = UdpSocket::bind(local)?;
        Ok(Statsd { settings, socket })
    }

    fn flush(&self, packet: &mut String) -> Result<(), DeliveryError> {
        if packet.is_empty() {
            return Ok(());
        }
        let result = self
            .socket
            .send_to(packet.trim_end().as_bytes(), self.settings.target);
        packet.clear();
        result.map(|_| ()).map_err(|e| {
            DeliveryError::retry(
                format!("cannot send to statsd at {}: {e}", self.settings.target),
                None,
            )
        })
    }
}

/// `name` with the characters that would break a statsd line replaced by `_`.
pub fn legal_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == ':' || c == '|' || c == '@' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The statsd lines of one series, each ending in a newline.
pub fn lines(series: &SeriesSummary, prefix: Option<&str>, mode: Mode, out: &mut Vec<String>) {
    let mut name = String::new();
    if let Some(prefix) = prefix {
        name.push_str(prefix);
        name.push('.');
    }
    if &*series.source != DEFAULT_SOURCE {
        name.push_str(&series.source);
        name.push('.');
    }
    name.push_str(&series.name);
    let name = legal_name(&name);
    match &series.summary {
        Summary::Counter { sum } => out.push(format!("{name}:{sum}|c\n")),
        Summary::Gauge(stats) => {
            if stats.last < 0.0 {
                out.push(format!("{name}:0|g\n"));
            }
            out.push(format!("{name}:{}|g\n", stats.last));
        }
        Summary::Timer { stats, values, .. } => match mode {
            Mode::Events if !values.is_empty() => {
                let mut rate = String::new();
                if (values.len() as u64) < stats.count {
                    let _ = write!(rate, "|@{}", values.len() as f64 / stats.count as f64);
                }
                for ns in values {
                    out.push(format!("{name}:{}|ms{rate}\n", *ns as f64 / 1e6));
                }
            }
            _ => {
                let mut rate = String::new();
                if stats.count > 1 {
                    let _ = write!(rate, "|@{}", 1.0 / stats.count as f64);
                }
                out.push(format!("{name}:{}|ms{rate}\n", stats.mean() / 1e6));
            }
        },
    }
}

impl Backend for Statsd {
    fn name(&self) -> &str {
        "statsd"
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        Ok(()) // UDP: nothing answers, so there is nothing to check
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        let mut packet = String::new();
        let mut lines_of_series = Vec::new();
        let mut delivered = Delivered::default();
        // Series are written from the end; those at `sent..` are in datagrams already
        // sent, and only those leave the window, so a failed send loses nothing.
        let mut sent = window.series.len();
        for index in (0..window.series.len()).rev() {
            lines_of_series.clear();
            lines(
                &window.series[index],
                self.settings.prefix.as_deref(),
                self.settings.mode,
                &mut lines_of_series,
            );
            for line in &lines_of_series {
                if packet.len() + line.len() > self.settings.max_datagram {
                    self.flush(&mut packet)
                        .map_err(|e| e.with_delivered(delivered))?;
                    // Every series after this one is sent whole (this one may be in part:
                    // a retry resends its first lines, which is at-least-once).
                    delivered.accepted += sent - (index + 1);
                    window.series.truncate(index + 1);
                    sent = index + 1;
                }
                packet.push_str(line);
            }
        }
        self.flush(&mut packet)
            .map_err(|e| e.with_delivered(delivered))?;
        delivered.accepted += window.series.len();
        window.series.clear();
        Ok(delivered)
    }

    fn timer_values(&self) -> usize {
        match self.settings.mode {
            Mode::Events => self.settings.max_timer_values,
            Mode::Summed => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use zibrato_worker::{Kind, Readings};

    fn series(source: &str, summary: Summary) -> SeriesSummary {
        SeriesSummary::new(
            Arc::from("info"),
            Kind::Counter,
            Arc::from("api:req|x@y z"),
            Arc::from(source),
            summary,
        )
    }

    #[test]
    fn a_failed_send_leaves_every_unsent_series_in_the_window() {
        // Datagrams over 64 KiB cannot be sent (EMSGSIZE, before anything leaves the
        // host): the first send fails after the series of a whole datagram were written.
        let mut statsd = Statsd::new(Settings {
            target: "127.0.0.1:9".parse().unwrap(),
            max_datagram: 100_000,
            prefix: None,
            mode: Mode::Summed,
            max_timer_values: 0,
        })
        .unwrap();
        let all: Vec<SeriesSummary> = (0..5_000)
            .map(|i| {
                SeriesSummary::new(
                    "info",
                    Kind::Counter,
                    format!("series.number.{i}"),
                    "web-1",
                    Summary::Counter { sum: 1 },
                )
            })
            .collect();
        let mut window = Window::new(0, std::time::Duration::from_secs(1), all.clone());
        let Err(DeliveryError::Retry { delivered, .. }) = statsd.deliver(&mut window) else {
            panic!("a datagram over 64 KiB was sent");
        };
        assert_eq!(delivered.accepted, 0);
        assert_eq!(window.series, all, "nothing unsent leaves the window");
    }

    #[test]
    fn lines_for_each_kind_and_mode() {
        let mut out = Vec::new();
        lines(
            &series("not_specified", Summary::Counter { sum: 0 }),
            Some("app"),
            Mode::Events,
            &mut out,
        );
        assert_eq!(out, ["app.api_req_x_y_z:0|c\n"]);
        out.clear();
        lines(
            &series("web-1", Summary::Gauge(Readings::of(-2.5))),
            None,
            Mode::Events,
            &mut out,
        );
        assert_eq!(
            out,
            ["web-1.api_req_x_y_z:0|g\n", "web-1.api_req_x_y_z:-2.5|g\n"]
        );
        out.clear();
        let mut stats = Readings::of(1e6);
        stats.add(3e6);
        let timer = Summary::Timer {
            stats,
            percentiles: vec![],
            values: vec![1_000_000],
            sketch: None,
        };
        lines(
            &series("not_specified", timer.clone()),
            None,
            Mode::Events,
            &mut out,
        );
        assert_eq!(
            out,
            ["api_req_x_y_z:1|ms|@0.5\n"],
            "a kept subset carries its rate"
        );
        out.clear();
        lines(
            &series("not_specified", timer),
            None,
            Mode::Summed,
            &mut out,
        );
        assert_eq!(out, ["api_req_x_y_z:2|ms|@0.5\n"]);
    }
}
