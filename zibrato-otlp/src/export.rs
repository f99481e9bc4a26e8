//! The backend: windows to OTLP/HTTP requests, and the receiver's answers to what the
//! worker core does next, by the OTLP specification.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tracing::warn;
use zibrato_common::RateLimiter;
use zibrato_worker::{Backend, Delivered, DeliveryError, Window, retry_after};

use crate::mapping::{Mapper, MappingSettings, Skipped};
use crate::status_body::{BodyKind, describe as describe_body};
use crate::tls::Tls;

/// The most bytes of a receiver's answer read (its `partial_success` message, or an
/// error text for the log).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The request body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf` (OTLP's default).
    Protobuf,
    /// `application/json`, OTLP's JSON mapping.
    Json,
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The metrics URL, e.g. `http://127.0.0.1:4318/v1/metrics`.
    pub url: String,
    /// Body encoding.
    pub encoding: Encoding,
    /// Whether bodies are gzip-compressed.
    pub gzip: bool,
    /// Extra headers (vendors' API keys): sent with every request, never logged.
    pub headers: Vec<(String, String)>,
    /// How long one request may take.
    pub timeout: Duration,
    /// The most bytes one request's body may have before compression; a larger
    /// window is split over several requests.
    pub max_request_bytes: usize,
    /// The resource's `service.name`.
    pub service_name: String,
    /// The resource's `host.name`.
    pub host_name: String,
    /// More resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), after `service.name` and
    /// `host.name`; a key given there too is left out here.
    pub resource_attributes: Vec<(String, String)>,
    /// What series become.
    pub mapping: MappingSettings,
    /// Certificate authorities and a client certificate, for `https://`.
    pub tls: Tls,
}

impl Default for Settings {
    /// The command line's defaults: protobuf, gzip, 10 s, 4 MiB requests, delta
    /// counters and exponential histograms, to `http://127.0.0.1:4318/v1/metrics`.
    fn default() -> Self {
        Settings {
            url: "http://127.0.0.1:4318/v1/metrics".to_string(),
            encoding: Encoding::Protobuf,
            gzip: true,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            max_request_bytes: 4 << 20,
            service_name: "zibrato".to_string(),
            host_name: "unknown".to_string(),
            resource_attributes: Vec::new(),
            mapping: MappingSettings::default(),
            tls: Tls::default(),
        }
    }
}

/// Why [`Otlp::new`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A header's name or value is not valid in HTTP (the header's name is given,
    /// never its value).
    #[error("the header {0:?} is not valid in HTTP")]
    Header(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// A TLS file cannot be read or used; the message names it.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The OTLP backend.
pub struct Otlp {
    settings: Settings,
    client: reqwest::blocking::Client,
    mapper: Mapper,
    skip_log: RateLimiter,
    refusal_log: RateLimiter,
}

/// A window cut into requests.
struct Plan {
    /// Each request with the indexes of the series it carries.
    requests: Vec<(Vec<usize>, ExportMetricsServiceRequest)>,
    /// Series that cannot be exported (counted as rejected).
    skipped: Vec<usize>,
}

/// What one request came to.
enum Posted {
    /// Accepted; this many data points refused by `partial_success`.
    Accepted(u64),
    /// Refused for good (400 and other non-retryable statuses): dropped, counted.
    Refused(String),
}

fn describe(error: &reqwest::Error) -> String {
    // The innermost cause says why: refused, unreachable, or TLS (a certificate's
    // issuer unknown, a client certificate wanted and not given).
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if error.is_timeout() {
        "request timed out".into()
    } else if error.is_connect() {
        format!("cannot reach the OTLP receiver: {cause}")
    } else if std::ptr::addr_eq(cause, error) {
        // reqwest's message names the URL, never the headers.
        error.to_string()
    } else {
        format!("{error}: {cause}")
    }
}

impl Otlp {
    /// A backend for `settings`.
    ///
    /// # Errors
    ///
    /// [`SetupError`] for an invalid header or an HTTP client that cannot be built.
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let header = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| SetupError::Header(name.clone()))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| SetupError::Header(name.clone()))?;
            // Kept out of reqwest's Debug output, and so out of any log.
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        let client = settings
            .tls
            .apply(reqwest::blocking::Client::builder())?
            .timeout(settings.timeout)
            .default_headers(headers)
            .user_agent(concat!("zibrato/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Otlp {
            mapper: Mapper::new(settings.mapping.clone()),
            settings,
            client,
            skip_log: RateLimiter::new(Duration::from_secs(60)),
            refusal_log: RateLimiter::new(Duration::from_secs(60)),
        })
    }

    /// The request carrying `metrics`, with this worker's resource and scope.
    fn request(&self, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        let mut attributes = vec![
            crate::mapping::string_attribute("service.name", &self.settings.service_name),
            crate::mapping::string_attribute("host.name", &self.settings.host_name),
        ];
        attributes.extend(
            self.settings
                .resource_attributes
                .iter()
                .filter(|(k, _)| k != "service.name" && k != "host.name")
                .map(|(k, v)| crate::mapping::string_attribute(k, v)),
        );
        let resource = Resource {
            attributes,
            ..Default::default()
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "zibrato".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// The encoded (and compressed) body of `request`.
    pub fn body(&self, request: &ExportMetricsServiceRequest) -> Vec<u8> {
        let raw = match self.settings.encoding {
            Encoding::Protobuf => request.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(request).expect("OTLP messages serialize"),
        };
        if !self.settings.gzip {
            return raw;
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::fast(),
        );
        encoder.write_all(&raw).expect("writing to memory");
        encoder.finish().expect("writing to memory")
    }

    /// The window's series as requests of at most `max_request_bytes` each (with the
    /// indexes of the series each carries), and the series that cannot be exported.
    fn plan(&mut self, window: &Window) -> Plan {
        self.mapper.forget_idle(window.measure_time);
        let mut groups: Vec<Vec<(usize, Vec<Metric>)>> = vec![Vec::new()];
        let mut skipped = Vec::new();
        // The resource and scope every request carries, and the nesting's length
        // prefixes (at most 5 bytes each for two more levels).
        let envelope = self.request(Vec::new()).encoded_len() + 10;
        let mut size = envelope;
        for (index, series) in window.series.iter().enumerate() {
            match self
                .mapper
                .metrics(series, window.measure_time, window.interval)
            {
                Ok(metrics) => {
                    let len: usize = metrics.iter().map(|m| m.encoded_len() + 4).sum();
                    if size + len > self.settings.max_request_bytes && size > envelope {
                        groups.push(Vec::new());
                        size = envelope;
                    }
                    size += len;
                    groups
                        .last_mut()
                        .expect("one at least")
                        .push((index, metrics));
                }
                Err(why) => {
                    skipped.push(index);
                    if let Some(suppressed) = self.skip_log.check() {
                        let why = match why {
                            Skipped::NegativeCounter => {
                                "a counter's window sum is negative; OTLP's monotonic sums cannot go down"
                            }
                            Skipped::NotFinite => "a gauge reading is not finite",
                            Skipped::CumulativeFull => {
                                "a new series while the cumulative table holds --max-cumulative-series series (idle ones are forgotten after an hour)"
                            }
                        };
                        let cumulative_series = self.mapper.cumulative_series();
                        warn!(name = %series.name, source = %series.source, cumulative_series, suppressed, "{why}: not exported");
                    }
                }
            }
        }
        let requests = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(|group| {
                let indexes = group.iter().map(|(i, _)| *i).collect();
                let metrics = group.into_iter().flat_map(|(_, m)| m).collect();
                (indexes, self.request(metrics))
            })
            .collect();
        Plan { requests, skipped }
    }

    /// The request bodies (encoded and compressed as configured) that delivering
    /// `window` would post, without posting them: for measurements and inspection.
    /// Cumulative counters' running totals advance as if the window was delivered.
    pub fn bodies(&mut self, window: &Window) -> Vec<Vec<u8>> {
        let plan = self.plan(window);
        plan.requests.iter().map(|(_, r)| self.body(r)).collect()
    }

    /// Posts one request and classifies the answer.
    fn post(&mut self, request: &ExportMetricsServiceRequest) -> Result<Posted, DeliveryError> {
        let content_type = match self.settings.encoding {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        };
        let mut builder = self
            .client
            .post(&self.settings.url)
            .header(CONTENT_TYPE, content_type)
            .body(self.body(request));
        if self.settings.gzip {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        let response = builder
            .send()
            .map_err(|e| DeliveryError::retry(describe(&e), None))?;
        let status = response.status();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let kind = BodyKind::of(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let json = kind == BodyKind::Json;
        let mut body = Vec::new();
        let _ = response.take(MAX_ANSWER_BYTES).read_to_end(&mut body);
        match status {
            s if s.is_success() => Ok(Posted::Accepted(rejected_points(
                &body,
                json,
                &mut self.refusal_log,
            ))),
            // OTLP/HTTP's retryable statuses.
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Err(DeliveryError::retry(
                format!(
                    "the OTLP receiver answered {status}: {}",
                    describe_body(&body, kind)
                ),
                wait,
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(DeliveryError::fatal(format!(
                "the OTLP receiver refuses this worker ({status}: {}): check the headers (--headers-file, OTEL_EXPORTER_OTLP_HEADERS)",
                describe_body(&body, kind)
            ))),
            _ => Ok(Posted::Refused(format!(
                "{status}: {}",
                describe_body(&body, kind)
            ))),
        }
    }
}

/// Data points the receiver refused in an accepted request (`partial_success`),
/// logged with its message.
fn rejected_points(body: &[u8], json: bool, log: &mut RateLimiter) -> u64 {
    if body.is_empty() {
        return 0;
    }
    let response = if json {
        serde_json::from_slice::<ExportMetricsServiceResponse>(body).ok()
    } else {
        ExportMetricsServiceResponse::decode(body).ok()
    };
    let Some(partial) = response.and_then(|r| r.partial_success) else {
        return 0;
    };
    let rejected = u64::try_from(partial.rejected_data_points).unwrap_or(0);
    if (rejected > 0 || !partial.error_message.is_empty())
        && let Some(suppressed) = log.check()
    {
        warn!(
            rejected,
            message = %partial.error_message,
            suppressed,
            "the OTLP receiver refused part of a request"
        );
    }
    rejected
}

impl Backend for Otlp {
    fn name(&self) -> &str {
        "otlp"
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        // An empty export: the receiver's reachability and its verdict on our headers.
        match self.post(&ExportMetricsServiceRequest::default())? {
            Posted::Accepted(_) => Ok(()),
            Posted::Refused(reason) => Err(DeliveryError::retry(
                format!("an empty export was refused: {reason}"),
                None,
            )),
        }
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        let Plan { requests, skipped } = self.plan(window);
        let mut delivered = Delivered::default();
        let mut done = vec![false; window.series.len()];
        for index in skipped {
            done[index] = true;
            delivered.rejected += 1;
        }
        for (indexes, request) in requests {
            match self.post(&request) {
                Ok(Posted::Accepted(rejected)) => {
                    let rejected = (rejected as usize).min(indexes.len());
                    delivered.accepted += indexes.len() - rejected;
                    delivered.rejected += rejected;
                }
                Ok(Posted::Refused(reason)) => {
                    delivered.rejected += indexes.len();
                    if let Some(suppressed) = self.refusal_log.check() {
                        warn!(series = indexes.len(), %reason, suppressed, "the OTLP receiver refused a request; its series are dropped");
                    }
                }
                Err(error) => {
                    let mut index = 0;
                    window.series.retain(|_| {
                        index += 1;
                        !done[index - 1]
                    });
                    return Err(error.with_delivered(delivered));
                }
            }
            for i in indexes {
                done[i] = true;
            }
        }
        window.series.clear();
        Ok(delivered)
    }

    fn timer_sketch(&self) -> bool {
        true
    }
}
