//! The `zibrato-otlp` command line as a function.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use zibrato_worker::{WorkerArgs, parse_seconds};

use crate::export::{Encoding, Otlp, Settings};
use crate::headers::{from_env_format, from_file_format};
use crate::mapping::{Histograms, MappingSettings, Temporality};
use crate::otel_env::{self, OtelSettings};
use crate::tls::Tls;

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
    /// URL ending in `/v1/metrics` [default: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as it
    /// is, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics, or http://127.0.0.1:4318]
    #[arg(long, env = "ZIBRATO_OTLP_ENDPOINT")]
    endpoint: Option<String>,

    /// Body encoding [default: OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL, or protobuf]
    #[arg(long, env = "ZIBRATO_OTLP_PROTOCOL", value_enum)]
    protocol: Option<Protocol>,

    /// Body compression [default: OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION, or gzip]
    #[arg(long, env = "ZIBRATO_OTLP_COMPRESSION", value_enum)]
    compression: Option<Compression>,

    /// A file of extra headers, one `Name: value` per line (`#` comments).
    #[arg(long, env = "ZIBRATO_OTLP_HEADERS_FILE")]
    headers_file: Option<PathBuf>,

    /// Counters and timers as each window's (delta), or as running totals and
    /// histograms since the worker first saw the series (cumulative), for backends that
    /// accept only those
    /// [default: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, or delta]
    #[arg(long, env = "ZIBRATO_OTLP_TEMPORALITY", value_enum)]
    temporality: Option<TemporalityArg>,

    /// Timers as exponential histograms, or as explicit-bucket histograms with --buckets.
    /// [default: OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION, or exponential]
    #[arg(long, env = "ZIBRATO_OTLP_HISTOGRAM", value_enum)]
    histogram: Option<HistogramArg>,

    /// Upper bounds in seconds of explicit-bucket histograms, ascending.
    #[arg(
        long,
        env = "ZIBRATO_OTLP_BUCKETS",
        value_delimiter = ',',
        default_value = "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"
    )]
    buckets: Vec<f64>,

    /// The most buckets of one exponential histogram point (2 to 1026); a wider one is
    /// downscaled, as OpenTelemetry's SDKs do (their default, 160)
    #[arg(long, env = "ZIBRATO_OTLP_MAX_BUCKETS",
          default_value_t = crate::histogram::DEFAULT_MAX_BUCKETS as u64,
          value_parser = clap::value_parser!(u64).range(2..=crate::histogram::MAX_EXPONENTIAL_BUCKETS as u64))]
    max_buckets: u64,

    /// The most series whose running totals cumulative temporality keeps; a new series
    /// past it is not exported (counted in rejected_series, warned about) until idle
    /// ones are forgotten (after an hour)
    #[arg(long, env = "ZIBRATO_OTLP_MAX_CUMULATIVE_SERIES",
          default_value_t = crate::cumulative::DEFAULT_MAX_SERIES as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_cumulative_series: u64,

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

    /// A PEM file of certificate authorities to trust for an https:// receiver, beside
    /// Mozilla's and the system's [default: OTEL_EXPORTER_OTLP_(METRICS_)CERTIFICATE]
    #[arg(long, env = "ZIBRATO_OTLP_CERTIFICATE")]
    certificate: Option<PathBuf>,

    /// This client's certificate (PEM), for a receiver that asks for one (mutual TLS)
    /// [default: OTEL_EXPORTER_OTLP_(METRICS_)CLIENT_CERTIFICATE]
    #[arg(long, env = "ZIBRATO_OTLP_CLIENT_CERTIFICATE")]
    client_certificate: Option<PathBuf>,

    /// The client certificate's private key (PEM)
    /// [default: OTEL_EXPORTER_OTLP_(METRICS_)CLIENT_KEY]
    #[arg(long, env = "ZIBRATO_OTLP_CLIENT_KEY")]
    client_key: Option<PathBuf>,

    /// Seconds one request may take [default: OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT, in
    /// milliseconds, or 10 s]
    #[arg(long, env = "ZIBRATO_OTLP_TIMEOUT", value_parser = parse_seconds)]
    request_timeout: Option<Duration>,

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

fn headers(cli: &Cli, otel: &OtelSettings) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some((name, text)) = &otel.headers {
        out.extend(from_env_format(text).map_err(|e| format!("{name}: {e}"))?);
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
    let mut otel = otel_env::read(&otel_env::process_env);
    let resource_attributes =
        otel_env::resource_attributes(&otel_env::process_env, &mut otel.ignored);
    for note in &otel.ignored {
        eprintln!("zibrato-otlp: warning: {note}");
    }
    let explicit = match cli.histogram {
        Some(histogram) => matches!(histogram, HistogramArg::Explicit),
        None => otel.explicit_histograms.unwrap_or(false),
    };
    if explicit
        && (cli.buckets.is_empty()
            || cli.buckets.iter().any(|b| !b.is_finite())
            || cli.buckets.windows(2).any(|w| w[0] >= w[1]))
    {
        eprintln!("zibrato-otlp: --buckets must be finite and ascending");
        return zibrato_common::exit::USAGE;
    }
    let headers = match headers(&cli, &otel) {
        Ok(headers) => headers,
        Err(message) => {
            eprintln!("zibrato-otlp: {message}");
            return zibrato_common::exit::USAGE;
        }
    };
    // Flags (and ZIBRATO_OTLP_*) first, then OpenTelemetry's variables, then the
    // defaults, which `Settings::default()` holds.
    let defaults = Settings::default();
    let json = match cli.protocol {
        Some(protocol) => matches!(protocol, Protocol::Json),
        None => otel.json.unwrap_or(defaults.encoding == Encoding::Json),
    };
    let cumulative = match cli.temporality {
        Some(t) => matches!(t, TemporalityArg::Cumulative),
        None => otel.cumulative.unwrap_or(false),
    };
    let settings = Settings {
        url: match (&cli.endpoint, &otel.url) {
            (Some(endpoint), _) => metrics_url(endpoint),
            (None, Some(url)) => url.clone(),
            (None, None) => defaults.url,
        },
        encoding: if json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        },
        gzip: match cli.compression {
            Some(compression) => matches!(compression, Compression::Gzip),
            None => otel.gzip.unwrap_or(defaults.gzip),
        },
        headers,
        timeout: cli
            .request_timeout
            .or(otel.timeout)
            .unwrap_or(defaults.timeout),
        max_request_bytes: cli.max_request_bytes as usize,
        service_name: cli.service_name.clone(),
        host_name: cli
            .host_name
            .clone()
            .unwrap_or_else(|| zibrato_common::host_name("unknown")),
        resource_attributes,
        tls: Tls {
            ca_file: cli
                .certificate
                .clone()
                .or_else(|| otel.certificate.clone().map(PathBuf::from)),
            client_certificate: cli
                .client_certificate
                .clone()
                .or_else(|| otel.client_certificate.clone().map(PathBuf::from)),
            client_key: cli
                .client_key
                .clone()
                .or_else(|| otel.client_key.clone().map(PathBuf::from)),
        },
        mapping: MappingSettings {
            temporality: if cumulative {
                Temporality::Cumulative
            } else {
                Temporality::Delta
            },
            histograms: if explicit {
                Histograms::Explicit(cli.buckets.clone())
            } else {
                Histograms::Exponential
            },
            gauge_summaries: cli.gauge_summaries,
            max_buckets: cli.max_buckets as usize,
            max_cumulative_series: cli.max_cumulative_series as usize,
        },
    };
    let backend = match Otlp::new(settings) {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("zibrato-otlp: {e}");
            // A header given on the command line that HTTP cannot carry is the command
            // line's fault; an HTTP client that cannot be built is a failure.
            return match e {
                crate::SetupError::Header(_) | crate::SetupError::Tls(_) => {
                    zibrato_common::exit::USAGE
                }
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
