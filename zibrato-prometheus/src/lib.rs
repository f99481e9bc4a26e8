//! The Prometheus worker: subscribes to levels at a Zibrato broker, aggregates each
//! flush window with the worker core, and serves the series in the Prometheus text
//! exposition format at `http://127.0.0.1:9102/metrics` (see `--listen`) for a
//! Prometheus server to scrape.
//!
//! # What is served
//!
//! | Zibrato | Prometheus |
//! |---|---|
//! | counter `http.requests` | `http_requests_total`, a counter: the running total of every window's sum |
//! | gauge `queue.depth` | `queue_depth`, a gauge: the last reading |
//! | timer `db.query` | `db_query_seconds`, a summary: `{quantile="0.5"}` … (the worker's `--percentiles`) of the last window with readings, `_sum` and `_count` over all windows |
//! | level, source | labels `level` and `source` |
//! | tags in the name, `http.requests;method=GET` (what the `metrics` facade writes for labels) | labels, `method="GET"` |
//!
//! Names are made legal: characters outside `[a-zA-Z0-9_:]` become `_`, a leading
//! digit gets a `_` in front, `--prefix` goes in front of every name. Tag names
//! become `[a-zA-Z_][a-zA-Z0-9_]*`; a tag called `level`, `source` or `quantile` is
//! renamed `exported_<name>`. Two families that would share a sample name (a counter
//! `x` and a gauge `x_total`) are told apart by appending the kind to the later one
//! (`x_total_gauge`).
//!
//! A series that no window has brought for `--stale-after` seconds is no longer
//! served. Counters restart from 0 when the worker restarts; Prometheus's `rate()` and
//! `increase()` treat that as a counter reset. A counter that went down in a window is
//! not applied (Prometheus counters only rise) and is counted in
//! `zibrato_prometheus_negative_increments_total`.
//!
//! The worker's own figures sit beside the series: `zibrato_prometheus_windows_total`,
//! `_scrapes_total`, `_expired_series_total`, `_negative_increments_total` and the
//! gauge `zibrato_prometheus_series`.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use zibrato_prometheus::{Exposition, Prometheus};
//!
//! let exposition = Arc::new(Mutex::new(Exposition::new("", Duration::from_secs(300))));
//! let backend = Prometheus::new("127.0.0.1:9102".parse().unwrap(), exposition);
//! // A daemon's main, with `args` parsed by clap: exits with the worker's status.
//! fn run(args: zibrato_worker::WorkerArgs, backend: Prometheus) -> std::process::ExitCode {
//!     std::process::ExitCode::from(zibrato_worker::run(args, backend))
//! }
//! ```

pub mod cli;

mod exposition;
mod names;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tracing::info;
use zibrato_worker::{Backend, Delivered, DeliveryError, Window};

pub use exposition::Exposition;
pub use server::{CONTENT_TYPE, serve};

/// The Prometheus backend: merges each window into an [`Exposition`] that an HTTP
/// endpoint serves. It starts listening in [`Backend::check`], so an address in use
/// stops the worker at start-up with a clear message and exit code 1.
#[derive(Debug)]
pub struct Prometheus {
    listen: SocketAddr,
    exposition: Arc<Mutex<Exposition>>,
    listening: bool,
}

impl Prometheus {
    /// A backend that will serve `exposition` on `listen`.
    pub fn new(listen: SocketAddr, exposition: Arc<Mutex<Exposition>>) -> Prometheus {
        Prometheus {
            listen,
            exposition,
            listening: false,
        }
    }
}

impl Backend for Prometheus {
    fn name(&self) -> &str {
        "prometheus"
    }

    fn check(&mut self) -> Result<(), DeliveryError> {
        if !self.listening {
            let bound = serve(self.listen, Arc::clone(&self.exposition))
                .map_err(|reason| DeliveryError::Fatal { reason })?;
            info!(address = %bound, "serving the series at http://{bound}/metrics");
            self.listening = true;
        }
        Ok(())
    }

    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
        self.exposition
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(window);
        let accepted = window.series.len();
        window.series.clear();
        Ok(Delivered::accepted(accepted))
    }
}
