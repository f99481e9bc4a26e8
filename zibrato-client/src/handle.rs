//! Kept handles: a series registered once, recorded many times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Inner, saturating_nanos};
use crate::local;
use crate::registry::SeriesId;

/// A registered counter. Made by [`Zibrato::register_counter`](crate::Zibrato::register_counter).
///
/// # Examples
///
/// ```
/// let (z, spy) = zibrato_client::Zibrato::spy();
/// let hits = z.register_counter("info", "cache.hits")?;
/// for _ in 0..3 {
///     hits.increment(1);
/// }
/// z.flush(std::time::Duration::from_secs(1))?;
/// assert_eq!(spy.take().len(), 3);
/// # Ok::<(), zibrato_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Counter {
    inner: Arc<Inner>,
    id: SeriesId,
}

impl Counter {
    pub(crate) fn new(inner: Arc<Inner>, id: SeriesId) -> Self {
        Counter { inner, id }
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn client_shared(&self) -> &Arc<crate::shared::Shared> {
        &self.inner.shared
    }

    /// Counts `value` occurrences.
    #[inline]
    pub fn increment(&self, value: i64) {
        local::record_series(&self.inner.shared, self.id, value as u64);
    }
}

/// A registered gauge. Made by [`Zibrato::register_gauge`](crate::Zibrato::register_gauge).
#[derive(Clone)]
pub struct Gauge {
    inner: Arc<Inner>,
    id: SeriesId,
}

impl Gauge {
    pub(crate) fn new(inner: Arc<Inner>, id: SeriesId) -> Self {
        Gauge { inner, id }
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn client_shared(&self) -> &Arc<crate::shared::Shared> {
        &self.inner.shared
    }

    /// Records a reading; a NaN or infinite value is rejected and counted.
    #[inline]
    pub fn set(&self, value: f64) {
        if value.is_finite() {
            local::record_series(&self.inner.shared, self.id, value.to_bits());
        } else {
            local::reject(&self.inner.shared);
        }
    }
}

/// A registered timer. Made by [`Zibrato::register_timer`](crate::Zibrato::register_timer).
#[derive(Clone)]
pub struct Timer {
    inner: Arc<Inner>,
    id: SeriesId,
}

impl Timer {
    pub(crate) fn new(inner: Arc<Inner>, id: SeriesId) -> Self {
        Timer { inner, id }
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn client_shared(&self) -> &Arc<crate::shared::Shared> {
        &self.inner.shared
    }

    /// Records a duration.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        self.record_ns(saturating_nanos(elapsed));
    }

    /// Records a duration in nanoseconds.
    #[inline]
    pub fn record_ns(&self, nanos: u64) {
        local::record_series(&self.inner.shared, self.id, nanos);
    }

    /// Calls `f`, records how long it took, and returns its result.
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = f();
        self.record(start.elapsed());
        result
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counter({})", self.id)
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gauge({})", self.id)
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timer({})", self.id)
    }
}
