//! What a `metrics` key is bound to: a kept Zibrato handle and the state the facade's
//! relative operations need.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn, HistogramFn, Unit};

use crate::{Counter, Gauge, Timer, Zibrato, local};

/// The three kinds of `metrics` handle; part of a binding's key because one name may
/// be used as a counter and as a gauge, which are different series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One key's destination. Cloned into one `Arc` per recording thread, so the
/// reference counts the macros touch on every call are never shared between threads;
/// the state that must be shared sits behind its own `Arc`.
#[derive(Clone)]
pub(super) enum Binding {
    Counter {
        counter: Counter,
        /// The largest value given to `absolute`, shared by all threads.
        largest_absolute: Arc<AtomicU64>,
    },
    Gauge {
        gauge: Gauge,
        /// The current value for `increment`/`decrement`, as `f64` bits.
        current: Arc<AtomicU64>,
    },
    Timer {
        timer: Timer,
        nanos_per_unit: f64,
    },
    /// A key the client refused (a name too long, too many series): every use is
    /// counted as rejected.
    Rejected {
        client: Zibrato,
    },
}

impl Binding {
    /// Registers the series for `kind` with `client`. `unit` is asked only for
    /// histograms.
    pub(super) fn new(
        client: &Zibrato,
        kind: Kind,
        level: &str,
        name: &str,
        unit: impl FnOnce() -> Option<Unit>,
    ) -> Binding {
        let rejected = || Binding::Rejected {
            client: client.clone(),
        };
        let gauge = || {
            client.register_gauge(level, name).map_or_else(
                |_| rejected(),
                |gauge| Binding::Gauge {
                    gauge,
                    current: Arc::default(),
                },
            )
        };
        match kind {
            Kind::Counter => client.register_counter(level, name).map_or_else(
                |_| rejected(),
                |counter| Binding::Counter {
                    counter,
                    largest_absolute: Arc::default(),
                },
            ),
            Kind::Gauge => gauge(),
            Kind::Histogram => {
                let nanos_per_unit = match unit() {
                    None | Some(Unit::Seconds) => 1e9,
                    Some(Unit::Milliseconds) => 1e6,
                    Some(Unit::Microseconds) => 1e3,
                    Some(Unit::Nanoseconds) => 1.0,
                    Some(_) => return gauge(),
                };
                client.register_timer(level, name).map_or_else(
                    |_| rejected(),
                    |timer| Binding::Timer {
                        timer,
                        nanos_per_unit,
                    },
                )
            }
        }
    }

    pub(super) fn into_counter(self: Arc<Self>) -> metrics::Counter {
        metrics::Counter::from_arc(self)
    }

    pub(super) fn into_gauge(self: Arc<Self>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self)
    }

    pub(super) fn into_histogram(self: Arc<Self>) -> metrics::Histogram {
        metrics::Histogram::from_arc(self)
    }

    fn reject(&self) {
        let client = match self {
            Binding::Counter { counter, .. } => counter.client_shared(),
            Binding::Gauge { gauge, .. } => gauge.client_shared(),
            Binding::Timer { timer, .. } => timer.client_shared(),
            Binding::Rejected { client } => client.shared(),
        };
        local::reject(client);
    }

    /// Records a gauge reading `current + delta`.
    fn add_to_gauge(&self, delta: f64) {
        let Binding::Gauge { gauge, current } = self else {
            return self.reject();
        };
        let mut old = current.load(Ordering::Relaxed);
        loop {
            let new = f64::from_bits(old) + delta;
            match current.compare_exchange_weak(
                old,
                new.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return gauge.set(new),
                Err(actual) => old = actual,
            }
        }
    }
}

impl CounterFn for Binding {
    #[inline]
    fn increment(&self, value: u64) {
        match self {
            Binding::Counter { counter, .. } => {
                counter.increment(i64::try_from(value).unwrap_or(i64::MAX));
            }
            _ => self.reject(),
        }
    }

    fn absolute(&self, value: u64) {
        if let Binding::Counter {
            largest_absolute, ..
        } = self
        {
            let before = largest_absolute.fetch_max(value, Ordering::Relaxed);
            if value > before {
                CounterFn::increment(self, value - before);
            }
        } else {
            self.reject();
        }
    }
}

impl GaugeFn for Binding {
    fn increment(&self, value: f64) {
        self.add_to_gauge(value);
    }

    fn decrement(&self, value: f64) {
        self.add_to_gauge(-value);
    }

    #[inline]
    fn set(&self, value: f64) {
        match self {
            Binding::Gauge { gauge, current } => {
                current.store(value.to_bits(), Ordering::Relaxed);
                gauge.set(value);
            }
            _ => self.reject(),
        }
    }
}

impl HistogramFn for Binding {
    #[inline]
    fn record(&self, value: f64) {
        match self {
            Binding::Timer {
                timer,
                nanos_per_unit,
            } if value >= 0.0 && value.is_finite() => {
                // `as` saturates: a duration beyond u64 nanoseconds (584 years) is
                // recorded as the largest one.
                timer.record_ns((value * nanos_per_unit).round() as u64);
            }
            Binding::Gauge { gauge, .. } => gauge.set(value),
            _ => self.reject(),
        }
    }
}
