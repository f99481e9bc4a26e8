//! The global client the attribute macros record through, like a global logger.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use zibrato_wire::Kind;

use crate::registry::{KeyRef, SeriesId};
use crate::{Error, Zibrato, local};

static GLOBAL: OnceLock<Zibrato> = OnceLock::new();
static WITHOUT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// Installs the client that `#[count_me]` and `#[time_me]` record through. Call it
/// once, early in `main`.
///
/// # Errors
///
/// [`Error::AlreadyInstalled`] if a client is already installed; the first one stays.
///
/// # Examples
///
/// ```
/// let (z, _spy) = zibrato_client::Zibrato::spy();
/// zibrato_client::install(z)?;
/// assert!(zibrato_client::global().is_some());
/// # Ok::<(), zibrato_client::Error>(())
/// ```
pub fn install(client: Zibrato) -> Result<(), Error> {
    GLOBAL.set(client).map_err(|_| Error::AlreadyInstalled)
}

/// The installed global client, if any.
///
/// A global client lives until the process exits, so it is never dropped: call
/// `global().flush(…)` before exiting to deliver its last measurements.
pub fn global() -> Option<&'static Zibrato> {
    GLOBAL.get()
}

/// How many measurements the attribute macros could not record because no global
/// client was installed. They cost one atomic increment each and go nowhere.
pub fn unrecorded_without_client() -> u64 {
    WITHOUT_CLIENT.load(Ordering::Relaxed)
}

/// One macro call site: the series it records to, registered with the global client
/// on first use.
#[doc(hidden)]
#[derive(Debug)]
pub struct Callsite {
    kind: Kind,
    level: &'static str,
    name: &'static str,
    source: Option<&'static str>,
    value: i64,
    series: OnceLock<Option<SeriesId>>,
}

impl Callsite {
    /// A counter call site; the macro has validated the literals.
    pub const fn counter(
        level: &'static str,
        name: &'static str,
        source: Option<&'static str>,
        value: i64,
    ) -> Self {
        Callsite {
            kind: Kind::Counter,
            level,
            name,
            source,
            value,
            series: OnceLock::new(),
        }
    }

    /// A timer call site; the macro has validated the literals.
    pub const fn timer(
        level: &'static str,
        name: &'static str,
        source: Option<&'static str>,
    ) -> Self {
        Callsite {
            kind: Kind::Timer,
            level,
            name,
            source,
            value: 0,
            series: OnceLock::new(),
        }
    }

    /// Starts a measurement that is recorded when the guard drops.
    #[inline]
    pub fn start(&'static self) -> CallsiteGuard {
        CallsiteGuard {
            site: self,
            start: (self.kind == Kind::Timer).then(Instant::now),
        }
    }

    fn record(&'static self, raw: u64) {
        let Some(client) = global() else {
            WITHOUT_CLIENT.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let series = self.series.get_or_init(|| {
            let key = KeyRef {
                kind: self.kind,
                level: self.level,
                name: self.name,
                source: self.source.or(client.source()),
            };
            client.shared().registry.resolve(key).ok()
        });
        match series {
            Some(id) => {
                local::record_series(client.shared(), *id, raw);
            }
            None => local::reject(client.shared()),
        }
    }
}

/// Records its call site's measurement when dropped, unless unwinding from a panic.
#[doc(hidden)]
#[must_use]
#[derive(Debug)]
pub struct CallsiteGuard {
    site: &'static Callsite,
    start: Option<Instant>,
}

impl Drop for CallsiteGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let raw = match self.start {
            Some(start) => crate::client::saturating_nanos(start.elapsed()),
            None => self.site.value as u64,
        };
        self.site.record(raw);
    }
}
