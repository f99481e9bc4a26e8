//! The extension point: what a worker delivers to.

use std::time::Duration;

use crate::Window;

/// Why a delivery did not (fully) happen, which decides what the worker does next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// A passing failure (connection refused, timeout, 5xx, 429): the worker keeps the
    /// window (minus what the backend removed as delivered) and tries again after
    /// `after`, or after its own exponential backoff with jitter.
    #[error("{reason} ({})", retry_note(*.after))]
    Retry {
        /// What happened, for the log.
        reason: String,
        /// How long the service asked to wait (`Retry-After`), if it did.
        after: Option<Duration>,
        /// What this attempt achieved before it failed (series accepted or refused and
        /// removed from the window), counted by the worker at once.
        delivered: Delivered,
    },
    /// The service refuses this worker (bad credentials): retrying cannot help, so the
    /// worker logs the reason and exits with a failure code.
    #[error("{reason} (not retried)")]
    Fatal {
        /// What happened, for the log.
        reason: String,
    },
}

impl DeliveryError {
    /// A [`Retry`](Self::Retry) with nothing delivered: `after` is the wait the service
    /// asked for, if any.
    pub fn retry(reason: impl Into<String>, after: Option<Duration>) -> Self {
        DeliveryError::Retry {
            reason: reason.into(),
            after,
            delivered: Delivered::default(),
        }
    }

    /// A [`Fatal`](Self::Fatal) error.
    pub fn fatal(reason: impl Into<String>) -> Self {
        DeliveryError::Fatal {
            reason: reason.into(),
        }
    }

    /// This error, with `delivered` recorded as achieved before it (a
    /// [`Fatal`](Self::Fatal) error stops the worker and keeps no counts).
    #[must_use]
    pub fn with_delivered(mut self, achieved: Delivered) -> Self {
        if let DeliveryError::Retry { delivered, .. } = &mut self {
            *delivered = achieved;
        }
        self
    }
}

/// How a retry is said: after the service's wait, or the worker's own.
fn retry_note(after: Option<Duration>) -> String {
    match after {
        Some(after) => format!("retry after {after:?}"),
        None => "will retry".to_string(),
    }
}

impl Delivered {
    /// `accepted` series taken by the service, none refused.
    pub fn accepted(accepted: usize) -> Self {
        Delivered {
            accepted,
            ..Delivered::default()
        }
    }

    /// Adds `other`'s counts to these (an expired window stays expired).
    pub fn add(&mut self, other: Delivered) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.expired |= other.expired;
    }
}

/// What a delivery achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// Series accepted by the service.
    pub accepted: usize,
    /// Series the service will never accept (bad names, too old); dropped and counted.
    pub rejected: usize,
    /// The whole window was too old for the service and is dropped: counted in
    /// `zibrato.worker.dropped_windows` besides its series in `rejected`.
    pub expired: bool,
}

/// A destination for flushed windows: Librato, statsd, the console, or yours.
///
/// The worker core owns everything else — the subscription, decoding, aggregation,
/// the flush timer, the retry queue and backoff, shutdown and self-metrics — and calls
/// the backend from a thread of its own, so a slow backend never makes the worker miss
/// frames.
///
/// # Examples
///
/// A backend that prints counter sums:
///
/// ```
/// use zibrato_worker::{Backend, Delivered, DeliveryError, Summary, Window};
///
/// struct Print;
///
/// impl Backend for Print {
///     fn name(&self) -> &str {
///         "print"
///     }
///
///     fn check(&mut self) -> Result<(), DeliveryError> {
///         Ok(()) // nothing to connect to
///     }
///
///     fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError> {
///         for series in window.series.drain(..) {
///             if let Summary::Counter { sum } = series.summary {
///                 println!("{} {} {sum}", window.measure_time, series.name);
///             }
///         }
///         Ok(Delivered::default())
///     }
/// }
///
/// // A daemon's main, with `args` parsed by clap: exits with the worker's status.
/// fn run(args: zibrato_worker::WorkerArgs) -> std::process::ExitCode {
///     std::process::ExitCode::from(zibrato_worker::run(args, Print))
/// }
/// # let mut window = Window::new(0, std::time::Duration::from_secs(1), vec![]);
/// # Print.deliver(&mut window).unwrap();
/// ```
pub trait Backend: Send + 'static {
    /// A short name for logs, such as `librato`.
    fn name(&self) -> &str;

    /// Checks the connection and credentials once, before the worker starts reading.
    /// [`DeliveryError::Fatal`] stops the worker with a failure exit code;
    /// [`DeliveryError::Retry`] is logged and the worker starts anyway.
    ///
    /// # Errors
    ///
    /// As above.
    fn check(&mut self) -> Result<(), DeliveryError>;

    /// Delivers one window. On success the whole window is done. On error, the backend
    /// leaves in `window.series` exactly what still has to be delivered (removing what
    /// the service accepted, or refused for good), so a retry never sends a series
    /// twice, and says what it removed in [`DeliveryError::Retry`]'s `delivered`.
    ///
    /// # Errors
    ///
    /// [`DeliveryError::Retry`] or [`DeliveryError::Fatal`].
    fn deliver(&mut self, window: &mut Window) -> Result<Delivered, DeliveryError>;

    /// How many raw durations per timer series and window this backend wants in
    /// [`Summary::Timer`](crate::Summary::Timer)`::values` (0, the default, keeps none:
    /// percentiles come from the sketch). A backend that forwards every duration, like
    /// statsd's, asks for them; memory grows by 8 bytes per kept value.
    fn timer_values(&self) -> usize {
        0
    }

    /// Whether this backend wants each timer's distribution in
    /// [`Summary::Timer`](crate::Summary::Timer)`::sketch` (false, the default, keeps
    /// none): a backend that exports histograms asks for it. Memory grows by the
    /// sketch's size, at most 4 KiB per timer series and window.
    fn timer_sketch(&self) -> bool {
        false
    }
}
