//! The OTLP worker: subscribes to levels at a Zibrato broker, aggregates each flush
//! window, and exports it over OTLP/HTTP (`POST /v1/metrics`) to the OpenTelemetry
//! Collector or any backend that accepts OTLP. The mapping, the flags and what is
//! retried are in the crate's README; in short:
//!
//! * counters → `Sum`, monotonic, delta temporality (cumulative with
//!   `--temporality cumulative`), integer values;
//! * gauges → `Gauge` with the window's last reading (and, with `--gauge-summaries`,
//!   a `Summary` `<name>.summary` with count, sum, min and max);
//! * timers → exponential histograms in seconds of at most `--max-buckets` buckets,
//!   downscaled as OpenTelemetry's SDKs do (explicit buckets with
//!   `--histogram explicit`), with exact count, sum, min and max; delta, or cumulative
//!   like the counters;
//! * `level`, `source` and the `metrics` facade's `;key=value` name tags become
//!   attributes; the resource carries `service.name`, `host.name` and
//!   `OTEL_RESOURCE_ATTRIBUTES`.
//!
//! Message types are the official `opentelemetry-proto` crate's.

pub mod cli;
mod cumulative;
mod export;
mod headers;
pub mod histogram;
mod mapping;
pub mod otel_env;
mod status_body;
mod tls;

pub use export::{Encoding, Otlp, Settings, SetupError};
pub use mapping::{Histograms, MappingSettings, Temporality, split_tags};
pub use tls::Tls;
