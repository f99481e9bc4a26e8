//! The `zibrato-otlp` command line as a function.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use zibrato_worker::{WorkerArgs, parse_seconds};

use crate::export::{Encoding, Otlp, Settings};
use crate::headers::{from_env_format, from_file_format};
use crate::mapping::{Histograms, MappingSettings, Temporality};

/// Subscribes to levels at a Zibrato broker, aggregates each flush window and exports
/// it over OTLP/HTTP: to the OpenTelemetry Collector, or any backend that accepts OTLP.
///
/// Extra headers (vendors' API keys) come from --headers-file (`Name: value` per line)
/// and from OTEL_EXPORTER_OTLP_HEADERS (`key=value,key2=value2`, percent-encoded), never
/// from the command line, and are never logged.
#[derive(Debug, Parser)]
#[command(name = "zibrato-otlp", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,

    /// The OTLP/HTTP receiver: a base URL, to which `/v1/metrics` is added, or a full
    /// URL ending in `/v1/metrics`.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_ENDPOINT",
        default_value = "http://127.0.0.1:4318"
    )]
    endpoint: String,

    /// Body encoding.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_PROTOCOL",
        value_enum,
        default_value = "protobuf"
    )]
    protocol: Protocol,

    /// Body compression.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_COMPRESSION",
        value_enum,
        default_value = "gzip"
    )]
    compression: Compression,

    /// A file of extra headers, one `Name: value` per line (`#` comments).
    #[arg(long, env = "ZIBRATO_OTLP_HEADERS_FILE")]
    headers_file: Option<PathBuf>,

    /// Counters as each window's sum (delta), or as running totals since the worker
    /// first saw the series (cumulative), for backends that accept only those.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_TEMPORALITY",
        value_enum,
        default_value = "delta"
    )]
    temporality: TemporalityArg,

    /// Timers as exponential histograms, or as explicit-bucket histograms with --buckets.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_HISTOGRAM",
        value_enum,
        default_value = "exponential"
    )]
    histogram: HistogramArg,

    /// Upper bounds in seconds of explicit-bucket histograms, ascending.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_BUCKETS",
        value_delimiter = ',',
        default_value = "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"
    )]
    buckets: Vec<f64>,

    /// Also export each gauge's window statistics as an OTLP Summary `<name>.summary`
    /// (count, sum; min and max as the 0 and 1 quantiles).
    #[arg(long, env = "ZIBRATO_OTLP_GAUGE_SUMMARIES")]
    gauge_summaries: bool,

    /// The resource attribute `service.name`.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "zibrato")]
    service_name: String,

    /// The resource attribute `host.name` (default: this host's name).
    #[arg(long, env = "ZIBRATO_OTLP_HOST_NAME")]
    host_name: Option<String>,

    /// Seconds one request may take.
    #[arg(long, env = "ZIBRATO_OTLP_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    request_timeout: Duration,

    /// The most bytes of one request body before compression; a bigger window is split
    /// over several requests.
    #[arg(long, env = "ZIBRATO_OTLP_MAX_REQUEST_BYTES", default_value = "4194304",
          value_parser = clap::value_parser!(u64).range(4096..=67_108_864))]
    max_request_bytes: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Protocol {
    Protobuf,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Compression {
    Gzip,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TemporalityArg {
    Delta,
    Cumulative,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HistogramArg {
    Exponential,
    Explicit,
}

/// The metrics URL for `endpoint`.
fn metrics_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    if trimmed.ends_with("/v1/metrics") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1/metrics")
    }
}

fn headers(cli: &Cli) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Ok(text) = std::env::var("OTEL_EXPORTER_OTLP_HEADERS") {
        out.extend(from_env_format(&text).map_err(|e| format!("OTEL_EXPORTER_OTLP_HEADERS: {e}"))?);
    }
    if let Some(path) = &cli.headers_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the headers file {}: {e}", path.display()))?;
        out.extend(from_file_format(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

/// Parses `args` (the program name first) as the `zibrato-otlp` command line and runs
/// the worker until a stop signal; returns its exit code (2 for a bad command line).
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    zibrato_common::exit::run_parsed(args, run_cli)
}

/// Runs the daemon with its parsed command line; returns the exit status.
fn run_cli(cli: Cli) -> u8 {
    if matches!(cli.histogram, HistogramArg::Explicit)
        && (cli.buckets.is_empty()
            || cli.buckets.iter().any(|b| !b.is_finite())
            || cli.buckets.windows(2).any(|w| w[0] >= w[1]))
    {
        eprintln!("zibrato-otlp: --buckets must be finite and ascending");
        return zibrato_common::exit::USAGE;
    }
    let headers = match headers(&cli) {
        Ok(headers) => headers,
        Err(message) => {
            eprintln!("zibrato-otlp: {message}");
            return zibrato_common::exit::USAGE;
        }
    };
    let settings = Settings {
        url: metrics_url(&cli.endpoint),
        encoding: match cli.protocol {
            Protocol::Protobuf => Encoding::Protobuf,
            Protocol::Json => Encoding::Json,
        },
        gzip: matches!(cli.compression, Compression::Gzip),
        headers,
        timeout: cli.request_timeout,
        max_request_bytes: cli.max_request_bytes as usize,
        service_name: cli.service_name.clone(),
        host_name: cli
            .host_name
            .clone()
            .unwrap_or_else(|| zibrato_common::host_name("unknown")),
        mapping: MappingSettings {
            temporality: match cli.temporality {
                TemporalityArg::Delta => Temporality::Delta,
                TemporalityArg::Cumulative => Temporality::Cumulative,
            },
            histograms: match cli.histogram {
                HistogramArg::Exponential => Histograms::Exponential,
                HistogramArg::Explicit => Histograms::Explicit(cli.buckets.clone()),
            },
            gauge_summaries: cli.gauge_summaries,
        },
    };
    let backend = match Otlp::new(settings) {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("zibrato-otlp: {e}");
            // A header given on the command line that HTTP cannot carry is the command
            // line's fault; an HTTP client that cannot be built is a failure.
            return match e {
                crate::SetupError::Header(_) => zibrato_common::exit::USAGE,
                _ => zibrato_common::exit::FAILURE,
            };
        }
    };
    zibrato_worker::run(cli.worker, backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_metrics_path_once() {
        assert_eq!(
            metrics_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/metrics"
        );
        assert_eq!(
            metrics_url("https://otlp.example/"),
            "https://otlp.example/v1/metrics"
        );
        assert_eq!(
            metrics_url("http://c:4318/v1/metrics"),
            "http://c:4318/v1/metrics"
        );
    }
}
