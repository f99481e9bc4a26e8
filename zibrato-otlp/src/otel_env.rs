//! OpenTelemetry's own environment variables for an OTLP/HTTP metrics exporter, read as
//! the OpenTelemetry specification says: the signal-specific variable
//! (`OTEL_EXPORTER_OTLP_METRICS_*`) wins over the general one (`OTEL_EXPORTER_OTLP_*`),
//! a general endpoint gets `v1/metrics` appended to its path while a signal-specific one
//! is used as it is, timeouts are milliseconds, and a value that is not understood is
//! warned about and ignored (the specification's rule), never fatal.
//!
//! They come after the command line's flags and `ZIBRATO_OTLP_*` (see the README's
//! table "OpenTelemetry setting → honoured, how").

use std::time::Duration;

/// Reads one environment variable; empty counts as unset, as the specification says.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The settings the OpenTelemetry variables give; `None` where they give none.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OtelSettings {
    /// The full metrics URL.
    pub url: Option<String>,
    /// The request timeout.
    pub timeout: Option<Duration>,
    /// Whether bodies are gzip-compressed.
    pub gzip: Option<bool>,
    /// Whether bodies are JSON (`http/json`) rather than protobuf.
    pub json: Option<bool>,
    /// The headers' text, in the variables' `key=value,…` form.
    pub headers: Option<(String, String)>,
    /// Whether counters are cumulative (`cumulative`) rather than delta (`delta`,
    /// `lowmemory`).
    pub cumulative: Option<bool>,
    /// Whether timers are explicit-bucket histograms (`explicit_bucket_histogram`)
    /// rather than exponential (`base2_exponential_bucket_histogram`).
    pub explicit_histograms: Option<bool>,
    /// A PEM file of certificate authorities to trust (`CERTIFICATE`).
    pub certificate: Option<String>,
    /// The client certificate's PEM file (`CLIENT_CERTIFICATE`).
    pub client_certificate: Option<String>,
    /// The client key's PEM file (`CLIENT_KEY`).
    pub client_key: Option<String>,
    /// Each variable ignored, with its value and why: printed as a warning at start
    /// (before the log begins, as the command line's errors are).
    pub ignored: Vec<String>,
}

const GENERAL: &str = "OTEL_EXPORTER_OTLP_";
const METRICS: &str = "OTEL_EXPORTER_OTLP_METRICS_";

/// The signal-specific variable `KEY`, else the general one, with the name it had.
fn pick(env: Lookup<'_>, key: &str) -> Option<(String, String)> {
    [format!("{METRICS}{key}"), format!("{GENERAL}{key}")]
        .into_iter()
        .find_map(|name| {
            env(&name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
}

/// A general endpoint's metrics URL: `v1/metrics` appended to its path.
fn general_metrics_url(base: &str) -> String {
    if base.ends_with('/') {
        format!("{base}v1/metrics")
    } else {
        format!("{base}/v1/metrics")
    }
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn ignored(name: &str, value: &str, why: &str) -> String {
    format!("{name}={value:?} is ignored: {why}")
}

/// Reads the OpenTelemetry variables that apply to this exporter from `env`.
pub fn read(env: Lookup<'_>) -> OtelSettings {
    let mut out = OtelSettings::default();
    if let Some((name, value)) = pick(env, "ENDPOINT") {
        if !is_http_url(&value) {
            out.ignored
                .push(ignored(&name, &value, "not an http:// or https:// URL"));
        } else if name.starts_with(METRICS) {
            out.url = Some(value);
        } else {
            out.url = Some(general_metrics_url(&value));
        }
    }
    if let Some((name, value)) = pick(env, "TIMEOUT") {
        match value.parse::<u64>() {
            Ok(ms) if ms > 0 => out.timeout = Some(Duration::from_millis(ms)),
            _ => out.ignored.push(ignored(
                &name,
                &value,
                "not a whole number of milliseconds above 0",
            )),
        }
    }
    if let Some((name, value)) = pick(env, "COMPRESSION") {
        match value.to_ascii_lowercase().as_str() {
            "gzip" => out.gzip = Some(true),
            "none" => out.gzip = Some(false),
            _ => out
                .ignored
                .push(ignored(&name, &value, "compression is gzip or none")),
        }
    }
    if let Some((name, value)) = pick(env, "PROTOCOL") {
        match value.to_ascii_lowercase().as_str() {
            "http/protobuf" => out.json = Some(false),
            "http/json" => out.json = Some(true),
            "grpc" => out.ignored.push(ignored(
                &name,
                &value,
                "this exporter speaks OTLP over HTTP only (http/protobuf, http/json; port 4318)",
            )),
            _ => out.ignored.push(ignored(
                &name,
                &value,
                "the protocol is http/protobuf or http/json",
            )),
        }
    }
    out.headers = pick(env, "HEADERS");
    out.certificate = pick(env, "CERTIFICATE").map(|(_, v)| v);
    out.client_certificate = pick(env, "CLIENT_CERTIFICATE").map(|(_, v)| v);
    out.client_key = pick(env, "CLIENT_KEY").map(|(_, v)| v);
    if let Some((name, value)) = pick(env, "INSECURE") {
        out.ignored.push(ignored(
            &name,
            &value,
            "it applies to gRPC; over HTTP the endpoint's scheme decides (http:// is plain, https:// is always verified)",
        ));
    }
    if let Some(value) = env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        // The SDK's meanings for what this worker exports, synchronous counters and
        // histograms: `lowmemory` is delta for both.
        match value.to_ascii_lowercase().as_str() {
            "cumulative" => out.cumulative = Some(true),
            "delta" | "lowmemory" => out.cumulative = Some(false),
            _ => out.ignored.push(ignored(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                &value,
                "the preference is cumulative, delta or lowmemory",
            )),
        }
    }
    let aggregation = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION";
    if let Some(value) = env(aggregation)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        match value.to_ascii_lowercase().as_str() {
            "explicit_bucket_histogram" => out.explicit_histograms = Some(true),
            "base2_exponential_bucket_histogram" => out.explicit_histograms = Some(false),
            _ => out.ignored.push(ignored(
                aggregation,
                &value,
                "it is explicit_bucket_histogram or base2_exponential_bucket_histogram",
            )),
        }
    }
    out
}

/// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, values percent-encoded), in order;
/// a malformed pair is skipped (and said in `ignored`), the rest kept.
pub fn resource_attributes(
    env: Lookup<'_>,
    ignored_pairs: &mut Vec<String>,
) -> Vec<(String, String)> {
    let Some(text) = env("OTEL_RESOURCE_ATTRIBUTES") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let decoded = pair.split_once('=').and_then(|(k, v)| {
            let key = k.trim();
            let value = percent_encoding::percent_decode_str(v.trim()).decode_utf8();
            match value {
                Ok(value) if !key.is_empty() => Some((key.to_string(), value.into_owned())),
                _ => None,
            }
        });
        match decoded {
            Some(kv) => out.push(kv),
            None => ignored_pairs.push(ignored(
                "OTEL_RESOURCE_ATTRIBUTES",
                pair,
                "not a key=value pair",
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_general_endpoint_gets_the_metrics_path_and_a_specific_one_is_kept() {
        let general = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        assert_eq!(read(&general).url.unwrap(), "http://c:4318/v1/metrics");
        let with_path = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c/otlp/")]);
        assert_eq!(read(&with_path).url.unwrap(), "https://c/otlp/v1/metrics");
        let both = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://c:4318/custom/ingest",
            ),
        ]);
        assert_eq!(read(&both).url.unwrap(), "http://c:4318/custom/ingest");
        let bad = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]);
        assert_eq!(read(&bad).url, None);
    }

    #[test]
    fn the_signal_specific_variable_wins_and_timeouts_are_milliseconds() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "750"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "Cumulative",
            ),
        ]);
        let got = read(&env);
        assert_eq!(got.timeout, Some(Duration::from_millis(750)));
        assert_eq!(got.gzip, Some(false));
        assert_eq!(got.json, Some(true));
        assert_eq!(
            got.headers,
            Some(("OTEL_EXPORTER_OTLP_METRICS_HEADERS".into(), "b=2".into()))
        );
        assert_eq!(got.cumulative, Some(true));
    }

    #[test]
    fn values_not_understood_are_ignored_not_fatal() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", ""),
        ]);
        let got = read(&env);
        assert_eq!(got.ignored.len(), 4, "{:?}", got.ignored);
        assert!(
            got.ignored[2].contains("OTLP over HTTP only"),
            "{:?}",
            got.ignored
        );
        assert_eq!(
            OtelSettings {
                ignored: Vec::new(),
                ..got
            },
            OtelSettings::default()
        );
        let lowmemory = env_of(&[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "lowmemory",
        )]);
        assert_eq!(read(&lowmemory).cumulative, Some(false));
    }

    #[test]
    fn resource_attributes_are_decoded_and_bad_pairs_skipped() {
        let env = env_of(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, team=a%2Cb,broken,=x,region=eu%20west",
        )]);
        let mut ignored = Vec::new();
        assert_eq!(
            resource_attributes(&env, &mut ignored),
            vec![
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".to_string(), "a,b".to_string()),
                ("region".to_string(), "eu west".to_string()),
            ]
        );
        assert_eq!(ignored.len(), 2, "{ignored:?}");
    }
}
