//! What a worker does, as a library call takes it: [`WorkerOptions`], built from the
//! command line ([`WorkerArgs`]) or from its defaults, so the command line can grow
//! without breaking programs that run a worker.

use std::path::PathBuf;
use std::time::Duration;

use crate::WorkerArgs;

/// A worker's settings for [`run`](crate::run) and [`run_until`](crate::run_until).
///
/// A daemon builds it from its parsed command line (`WorkerOptions::from(args)`, or
/// pass the [`WorkerArgs`] themselves); a program that embeds a worker starts from
/// [`Default`] and sets fields. New settings arrive as new fields with defaults, so
/// such code keeps compiling. The defaults are the command line's; each field's meaning
/// is that of the flag of the same name (`--max-series` for `max_series`), documented
/// on [`WorkerArgs`].
///
/// ```
/// use std::time::Duration;
///
/// let mut options = zibrato_worker::WorkerOptions::default();
/// options.levels = vec!["info".into(), "crit".into()];
/// options.flush = Duration::from_secs(10);
/// assert_eq!(options.endpoint(), "tcp://127.0.0.1:5551");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// The broker's address (`--host`).
    pub host: String,
    /// The broker's worker port (`--port`).
    pub port: u16,
    /// Levels subscribed to, each matched exactly (`--levels`); `info` by default.
    pub levels: Vec<String>,
    /// The flush window (`--flush`).
    pub flush: Duration,
    /// How long an idle series is kept (`--expire-after`).
    pub expire_after: Duration,
    /// Live series held at most (`--max-series`).
    pub max_series: u64,
    /// Timer percentiles reported, each in 0..=1 (`--percentiles`).
    pub percentiles: Vec<f64>,
    /// Frames ZeroMQ may queue for this worker (`--hwm`).
    pub hwm: i32,
    /// Bytes of undelivered windows kept in memory (`--max-pending-bytes`).
    pub max_pending_bytes: u64,
    /// Where undelivered windows are spooled, if anywhere (`--spool-dir`).
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool holds at most (`--spool-max-bytes`).
    pub spool_max_bytes: u64,
    /// The longest `Retry-After` obeyed (`--max-retry-after`).
    pub max_retry_after: Duration,
    /// Time given at shutdown to deliver the last window (`--shutdown-timeout`).
    pub shutdown_timeout: Duration,
    /// Source of the worker's self-metrics; the host name when `None` (`--source`).
    pub source: Option<String>,
    /// This worker's secret key file, for a broker with keys (`--curve-secret-file`).
    pub curve_secret_file: Option<PathBuf>,
    /// The broker's public key, Z85 or a certificate's path (`--curve-server-key`).
    pub curve_server_key: Option<String>,
    /// The log filter [`run`](crate::run) sets up (`--log-level`).
    pub log_level: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            host: "127.0.0.1".to_string(),
            port: 5551,
            levels: vec!["info".to_string()],
            flush: Duration::from_secs(60),
            expire_after: Duration::from_secs(300),
            max_series: 20_000,
            percentiles: vec![0.5, 0.9, 0.95, 0.99],
            hwm: crate::config::DEFAULT_HWM,
            max_pending_bytes: 256 << 20,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
            max_retry_after: Duration::from_secs(300),
            shutdown_timeout: Duration::from_secs(10),
            source: None,
            curve_secret_file: None,
            curve_server_key: None,
            log_level: "info".to_string(),
        }
    }
}

impl From<WorkerArgs> for WorkerOptions {
    fn from(args: WorkerArgs) -> Self {
        WorkerOptions {
            host: args.host,
            port: args.port,
            levels: args.levels,
            flush: args.flush,
            expire_after: args.expire_after,
            max_series: args.max_series,
            percentiles: args.percentiles,
            hwm: args.hwm,
            max_pending_bytes: args.max_pending_bytes,
            spool_dir: args.spool_dir,
            spool_max_bytes: args.spool_max_bytes,
            max_retry_after: args.max_retry_after,
            shutdown_timeout: args.shutdown_timeout,
            source: args.source,
            curve_secret_file: args.curve_secret_file,
            curve_server_key: args.curve_server_key,
            log_level: args.log_level,
        }
    }
}

impl WorkerOptions {
    /// Checks what the command line checks: a port, at least one level and each a
    /// level the wire allows, percentiles within 0..=1, positive sizes and durations,
    /// `max_series` within 1..=10 000 000, and both key settings or neither.
    ///
    /// # Errors
    ///
    /// A message naming the setting and what is wrong with it.
    pub fn validate(&self) -> Result<(), String> {
        let refuse = |setting: &str, reason: &str| Err(format!("{setting}: {reason}"));
        if self.port == 0 {
            return refuse("port", "0 is not a port");
        }
        if self.levels.is_empty() {
            return refuse("levels", "at least one level");
        }
        for level in &self.levels {
            if let Err(e) = zibrato_wire::Level::new(level) {
                return refuse("levels", &format!("{level:?}: {e}"));
            }
        }
        if let Some(q) = self.percentiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return refuse("percentiles", &format!("{q} is not between 0 and 1"));
        }
        if !(1..=10_000_000).contains(&self.max_series) {
            return refuse("max_series", "1 to 10000000");
        }
        if self.max_pending_bytes == 0 || self.spool_max_bytes == 0 || self.hwm < 0 {
            return refuse(
                "max_pending_bytes, spool_max_bytes or hwm",
                "a size below 1",
            );
        }
        if self.flush < Duration::from_micros(1) || self.expire_after < Duration::from_micros(1) {
            return refuse("flush or expire_after", "at least a microsecond");
        }
        if self.curve_secret_file.is_some() != self.curve_server_key.is_some() {
            return refuse("curve_secret_file and curve_server_key", "both or neither");
        }
        Ok(())
    }

    /// The broker endpoint, `tcp://HOST:PORT` (an IPv6 address in brackets).
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("tcp://[{}]:{}", self.host, self.port)
        } else {
            format!("tcp://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_command_lines() {
        let parsed = crate::config::parse_for_test(&["w", "--levels", "info"]).unwrap();
        assert_eq!(WorkerOptions::from(parsed), WorkerOptions::default());
    }

    #[test]
    fn what_the_command_line_refuses_is_refused() {
        let refused = |change: fn(&mut WorkerOptions)| {
            let mut options = WorkerOptions::default();
            change(&mut options);
            options.validate().unwrap_err()
        };
        assert!(WorkerOptions::default().validate().is_ok());
        assert!(refused(|o| o.levels.clear()).starts_with("levels"));
        assert!(refused(|o| o.levels = vec!["in fo".into()]).starts_with("levels"));
        assert!(refused(|o| o.percentiles = vec![1.5]).starts_with("percentiles"));
        assert!(refused(|o| o.max_series = 0).starts_with("max_series"));
        assert!(refused(|o| o.flush = Duration::ZERO).starts_with("flush"));
        assert!(refused(|o| o.port = 0).starts_with("port"));
        assert!(refused(|o| o.curve_server_key = Some("k".into())).contains("both"));
    }

    #[test]
    fn an_ipv6_host_is_bracketed() {
        let options = WorkerOptions {
            host: "::1".into(),
            ..WorkerOptions::default()
        };
        assert_eq!(options.endpoint(), "tcp://[::1]:5551");
    }
}
