//! The command-line flags every worker shares.

use std::time::Duration;

use clap::Args;
use zibrato_common::parse_seconds;
use zibrato_wire::Level;

/// Where to read from, what to subscribe to, and how to aggregate: the command line
/// every worker binary flattens into its own. A program gives them to
/// [`run`](crate::run) as they are, or as [`WorkerOptions`](crate::WorkerOptions).
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Broker address to connect to.
    #[arg(long, env = "ZIBRATO_WORKER_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Broker's worker port.
    #[arg(long, env = "ZIBRATO_WORKER_PORT", default_value = "5551", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// Levels to subscribe to, comma separated (e.g. `info,crit`). Each is matched
    /// exactly: `info` never receives `information`. Add `zibrato` to receive the
    /// pipeline's own self-metrics.
    #[arg(long, env = "ZIBRATO_LEVELS", required = true, value_delimiter = ',', value_parser = parse_level)]
    pub levels: Vec<String>,

    /// Seconds per flush window (fractions allowed).
    #[arg(long, env = "ZIBRATO_FLUSH", default_value = "60", value_parser = parse_seconds)]
    pub flush: Duration,

    /// Seconds after which a series that receives nothing is forgotten (an idle counter
    /// reports 0 until then, and nothing after).
    #[arg(long, env = "ZIBRATO_EXPIRE_AFTER", default_value = "300", value_parser = parse_seconds)]
    pub expire_after: Duration,

    /// Live series held at most (besides one overflow series per level and kind).
    /// Measurements of a new series past it are added to the series
    /// `zibrato.overflow` of their level and kind, counted and warned about: a
    /// publisher that puts ids in names cannot grow the worker without bound. Each
    /// series costs at most about 5 KiB (a timer's sketch is at most 4 KiB).
    #[arg(long, env = "ZIBRATO_MAX_SERIES", default_value = "20000", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_series: u64,

    /// Timer percentiles to report, comma separated, each between 0 and 1.
    #[arg(long, env = "ZIBRATO_PERCENTILES", default_value = "0.5,0.9,0.95,0.99", value_delimiter = ',', value_parser = parse_quantile)]
    pub percentiles: Vec<f64>,

    /// Frames ZeroMQ may queue for this worker before the broker drops frames for it
    /// (counted here as lost frames from the sequence numbers). Its variable was
    /// ZIBRATO_WORKER_HWM, which is also the broker's --worker-hwm; that name still
    /// applies here when neither --hwm nor ZIBRATO_HWM is given, with a warning, until
    /// the next release.
    #[arg(long, env = "ZIBRATO_HWM", default_value_t = legacy_hwm().unwrap_or(DEFAULT_HWM))]
    pub hwm: i32,

    /// Bytes of windows kept in memory for delivery while the backend is failing (about
    /// 220 bytes per series and window); beyond it the oldest are dropped, counted and
    /// logged — or, with a spool, the newest wait on disk only.
    #[arg(long, env = "ZIBRATO_MAX_PENDING_BYTES", default_value = "268435456", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_bytes: u64,

    /// Directory where windows not yet delivered are written (fsynced) before delivery
    /// is tried, replayed after a restart, and removed once delivered: a crash then loses
    /// at most the window being aggregated. Off by default. One worker per directory.
    #[arg(long, env = "ZIBRATO_SPOOL_DIR")]
    pub spool_dir: Option<std::path::PathBuf>,

    /// Bytes of window files the spool holds at most; past it the oldest are deleted,
    /// counted and logged.
    #[arg(long, env = "ZIBRATO_SPOOL_MAX_BYTES", default_value = "1073741824", value_parser = clap::value_parser!(u64).range(1..))]
    pub spool_max_bytes: u64,

    /// The longest wait a service may ask for with `Retry-After`, in seconds; a longer
    /// (or absurd) value is cut to this.
    #[arg(long, env = "ZIBRATO_MAX_RETRY_AFTER", default_value = "300", value_parser = parse_seconds)]
    pub max_retry_after: Duration,

    /// Seconds allowed at shutdown to deliver the last window.
    #[arg(long, env = "ZIBRATO_SHUTDOWN_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,

    /// Source of the worker's self-metrics; the host name by default.
    #[arg(long, env = "ZIBRATO_SOURCE")]
    pub source: Option<String>,

    /// This worker's secret key (a certificate from `zibrato-broker keygen`, readable
    /// by its owner only), for a broker that has keys: the link is then encrypted, and
    /// the broker lets the worker in only if its public key is in the broker's
    /// --curve-allow. Needs --curve-server-key.
    #[arg(long, env = "ZIBRATO_CURVE_SECRET_FILE", requires = "curve_server_key")]
    pub curve_secret_file: Option<std::path::PathBuf>,

    /// The broker's public key, pinned: its 40 Z85 characters or its public
    /// certificate's path. Needs --curve-secret-file.
    #[arg(long, env = "ZIBRATO_CURVE_SERVER_KEY", requires = "curve_secret_file")]
    pub curve_server_key: Option<String>,

    /// Log filter: error, warn, info, debug or trace.
    #[arg(long, env = "ZIBRATO_LOG", default_value = "info")]
    pub log_level: String,
}

/// The worker's receive queue when nothing says otherwise, in frames.
pub(crate) const DEFAULT_HWM: i32 = 100_000;

/// The variable the worker's --hwm used to read, shared by mistake with the broker's
/// --worker-hwm.
pub(crate) const LEGACY_HWM_VARIABLE: &str = "ZIBRATO_WORKER_HWM";

/// The worker's queue from the old variable, if it is set to a number.
fn legacy_hwm() -> Option<i32> {
    std::env::var(LEGACY_HWM_VARIABLE).ok()?.trim().parse().ok()
}

/// Whether the worker's --hwm came from the old variable: it is set, and neither the
/// new one nor (as far as the environment tells) the flag replaced it.
pub(crate) fn hwm_from_legacy_variable(hwm: i32) -> bool {
    std::env::var_os("ZIBRATO_HWM").is_none() && legacy_hwm().is_some_and(|old| old == hwm)
}

fn parse_level(text: &str) -> Result<String, String> {
    let text = text.trim();
    Level::new(text)
        .map(|l| l.as_str().to_string())
        .map_err(|e| format!("invalid level {text:?}: {e}"))
}

fn parse_quantile(text: &str) -> Result<f64, String> {
    let q: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&q) {
        Ok(q)
    } else {
        Err(format!("percentile {q} is not between 0 and 1"))
    }
}

/// The worker flags parsed alone, as a worker binary parses them, for tests.
#[cfg(test)]
pub(crate) fn parse_for_test(args: &[&str]) -> Result<WorkerArgs, clap::Error> {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }
    Cli::try_parse_from(args).map(|cli| cli.worker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags, as a one-field command line, so tests read `cli.worker`.
    struct Cli {
        worker: WorkerArgs,
    }

    impl Cli {
        fn try_parse_from<'a>(args: impl AsRef<[&'a str]>) -> Result<Cli, clap::Error> {
            parse_for_test(args.as_ref()).map(|worker| Cli { worker })
        }
    }

    #[test]
    fn defaults_and_lists() {
        let cli = Cli::try_parse_from(["w", "--levels", "info,crit"]).unwrap();
        assert_eq!(cli.worker.levels, ["info", "crit"]);
        assert_eq!(cli.worker.flush, Duration::from_secs(60));
        assert_eq!(cli.worker.percentiles, [0.5, 0.9, 0.95, 0.99]);
    }

    #[test]
    fn bad_values_are_named() {
        let err = |args: &[&str]| {
            Cli::try_parse_from(args)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&["w"]).contains("--levels"));
        assert!(err(&["w", "--levels", "in fo"]).contains("invalid level"));
        assert!(
            err(&["w", "--levels", "info", "--flush", "soon"]).contains("not a number of seconds")
        );
        assert!(err(&["w", "--levels", "info", "--flush", "0"]).contains("more than 0"));
        assert!(
            err(&["w", "--levels", "info", "--percentiles", "1.5"]).contains("between 0 and 1")
        );
    }
}
