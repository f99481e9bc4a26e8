//! The [`metrics`] facade, recorded through Zibrato (feature `metrics`).
//!
//! Code already instrumented with `metrics::counter!`, `gauge!` and `histogram!` —
//! yours or a library's — flows through the same publisher as Zibrato's own calls
//! once a [`MetricsRecorder`] is installed:
//!
//! ```
//! use zibrato_client::{MetricsRecorder, Zibrato};
//!
//! # let (z, spy) = Zibrato::spy();
//! // let z = Zibrato::new()?;  // the broker at 127.0.0.1:5550
//! let recorder = MetricsRecorder::builder(z.clone())
//!     .default_level("info")
//!     .level_for_prefix("db.", "debug")
//!     .build()?;
//! # let recorder = std::sync::Arc::new(recorder);
//! # metrics::with_local_recorder(&*recorder, || {
//! // recorder.install()?;  // once, at start-up: the global metrics recorder
//! metrics::counter!("http.requests", "method" => "GET", "source" => "web-1").increment(1);
//! metrics::gauge!("queue.depth").set(17.0);
//! metrics::histogram!("db.query").record(0.002); // seconds
//! # });
//! # z.flush(std::time::Duration::from_secs(1))?;
//! # let got = spy.take();
//! # assert_eq!(got[0].name, "http.requests;method=GET");
//! # assert_eq!(got[0].source.as_deref(), Some("web-1"));
//! # assert_eq!(got[2].level, "debug");
//! # Ok::<(), zibrato_client::Error>(())
//! ```
//!
//! # The mapping
//!
//! | `metrics` | Zibrato |
//! |---|---|
//! | `counter!(…).increment(n)` | counter `+n` |
//! | `counter!(…).absolute(n)` | counter `+(n − the largest value given before)`, never negative; the first call counts from 0 |
//! | `gauge!(…).set(v)` | gauge reading `v` |
//! | `gauge!(…).increment(d)` / `decrement(d)` | gauge reading of the new value, kept per key across threads, starting at 0 |
//! | `histogram!(…).record(v)` | timer of `v` **seconds** (the `metrics` convention), or of `v` ms / µs / ns when the histogram was described with that unit; a histogram described with any other unit (bytes, count, percent…) becomes a gauge reading `v` |
//! | the label `source` (see [`MetricsRecorderBuilder::source_label`]) | the measurement's source; without it, the client's source |
//! | every other label | appended to the name as `;key=value`, sorted by key: `http.requests;method=GET;status=200` |
//! | the metric name's prefix | the level, by [`MetricsRecorderBuilder::level_for_prefix`] rules (the longest matching prefix wins), else [`MetricsRecorderBuilder::default_level`] (`info`) |
//! | descriptions | not sent (the wire format has no place for them) |
//!
//! The `;key=value` suffix is the Graphite tag syntax; `zibrato-prometheus` turns it
//! back into labels, other backends see it as part of the name (Librato's name rules
//! turn `;` and `=` into `_`). In label keys `;` and `=` become `_`, in values `;`
//! does.
//!
//! What cannot be recorded — a name that becomes longer than 255 bytes or holds a
//! control character, a negative or non-finite duration, a non-finite gauge — is
//! counted in [`Zibrato::stats`](crate::Zibrato::stats)`().rejected`, like the native
//! calls.
//!
//! # Cost
//!
//! The macros ask the recorder for a handle on every call. Each recording thread keeps
//! its own handles for recently used keys (256 slots, by the key's precomputed hash),
//! so a call costs a hash-slot check, a key comparison and the native kept-handle
//! record, and no atomic operation shared between threads; see BENCHMARKS.md.
//!
//! Those per-thread handles hold the client, like kept handles do: a client used
//! through a recorder is closed when the recording threads have ended, so call
//! [`Zibrato::flush`](crate::Zibrato::flush) before the program exits (as with a global
//! client, which is never dropped).

mod handles;
mod recent;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Key, KeyName, Metadata, Recorder, SharedString, Unit};
use zibrato_wire::Level;

use crate::{Error, Zibrato};
use handles::{Binding, Kind};

/// Keys remembered by a recorder; past this, new keys are resolved on every call
/// (slower, still correct) so a program inventing label values forever cannot grow
/// memory without bound.
const MAX_REMEMBERED_KEYS: usize = 1 << 16;

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// A [`metrics::Recorder`] that records through a [`Zibrato`] client. Made by
/// [`MetricsRecorder::builder`]; see the [module documentation](self) for the mapping.
pub struct MetricsRecorder {
    shared: Arc<RecorderShared>,
}

/// Configures a [`MetricsRecorder`].
#[derive(Debug, Clone)]
pub struct MetricsRecorderBuilder {
    client: Zibrato,
    default_level: String,
    prefix_levels: Vec<(String, String)>,
    source_label: String,
}

struct RecorderShared {
    id: u64,
    client: Zibrato,
    default_level: Arc<str>,
    /// Longest prefix first, so the first match is the longest.
    prefix_levels: Vec<(String, Arc<str>)>,
    source_label: String,
    units: Mutex<HashMap<KeyName, Unit>>,
    bindings: Mutex<HashMap<(Kind, Key), Binding>>,
}

impl MetricsRecorder {
    /// A builder recording through `client` (its source is the default source).
    pub fn builder(client: Zibrato) -> MetricsRecorderBuilder {
        MetricsRecorderBuilder {
            client,
            default_level: "info".to_string(),
            prefix_levels: Vec::new(),
            source_label: "source".to_string(),
        }
    }

    /// Installs this recorder as the process-wide `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`Error::RecorderInstalled`] if a `metrics` recorder is already installed.
    pub fn install(self) -> Result<(), Error> {
        metrics::set_global_recorder(self).map_err(|_| Error::RecorderInstalled)
    }

    /// The Zibrato client this recorder records through.
    pub fn client(&self) -> &Zibrato {
        &self.shared.client
    }
}

impl MetricsRecorderBuilder {
    /// The level of metrics no prefix rule matches (`info` by default).
    pub fn default_level(mut self, level: &str) -> Self {
        self.default_level = level.to_string();
        self
    }

    /// Metrics whose name starts with `prefix` go to `level`. Among several matching
    /// rules the longest prefix wins.
    pub fn level_for_prefix(mut self, prefix: &str, level: &str) -> Self {
        self.prefix_levels
            .push((prefix.to_string(), level.to_string()));
        self
    }

    /// The label whose value becomes the measurement's source (`source` by default).
    pub fn source_label(mut self, label: &str) -> Self {
        self.source_label = label.to_string();
        self
    }

    /// The recorder.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLevel`] for a level that is not 1–32 bytes of
    /// `A-Z a-z 0-9 _ - .`.
    pub fn build(self) -> Result<MetricsRecorder, Error> {
        let level = |text: &str| -> Result<Arc<str>, Error> {
            Level::new(text).map_err(|source| Error::InvalidLevel {
                level: text.to_string(),
                source,
            })?;
            Ok(Arc::from(text))
        };
        let mut prefix_levels = self
            .prefix_levels
            .iter()
            .map(|(prefix, l)| Ok((prefix.clone(), level(l)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        prefix_levels.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(MetricsRecorder {
            shared: Arc::new(RecorderShared {
                id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
                default_level: level(&self.default_level)?,
                prefix_levels,
                source_label: self.source_label,
                client: self.client,
                units: Mutex::default(),
                bindings: Mutex::default(),
            }),
        })
    }
}

impl RecorderShared {
    fn level_of(&self, name: &str) -> &str {
        self.prefix_levels
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix.as_str()))
            .map_or(&*self.default_level, |(_, level)| level)
    }

    /// The binding of a key: found, or made and remembered (the slow path, once per
    /// key and recorder).
    #[cold]
    fn bind(&self, kind: Kind, key: &Key) -> Binding {
        let mut bindings = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let entry = (kind, key.clone());
        if let Some(binding) = bindings.get(&entry) {
            return binding.clone();
        }
        let binding = self.make_binding(kind, key);
        if bindings.len() < MAX_REMEMBERED_KEYS {
            bindings.insert(entry, binding.clone());
        }
        binding
    }

    fn make_binding(&self, kind: Kind, key: &Key) -> Binding {
        let (name, source) = zibrato_name(key, &self.source_label);
        let client = match source {
            Some(source) => self.client.with_source(&source),
            None => self.client.clone(),
        };
        let level = self.level_of(key.name());
        let unit = || {
            self.units
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key.name_shared())
                .copied()
        };
        Binding::new(&client, kind, level, &name, unit)
    }
}

/// The Zibrato name and source of a key: the source label's value as the source, the
/// other labels appended as `;key=value`, sorted by key.
fn zibrato_name(key: &Key, source_label: &str) -> (String, Option<String>) {
    let mut source = None;
    let mut tags: Vec<(&str, &str)> = Vec::new();
    for label in key.labels() {
        if label.key() == source_label {
            source = Some(label.value().to_string());
        } else {
            tags.push((label.key(), label.value()));
        }
    }
    tags.sort();
    let mut name = key.name().to_string();
    for (k, v) in tags {
        // Writing to a String cannot fail.
        let _ = zibrato_wire::tags::push(&mut name, k, v);
    }
    (name, source)
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        if let Some(unit) = unit {
            let mut units = self.shared.units.lock().unwrap_or_else(|e| e.into_inner());
            if units.len() < MAX_REMEMBERED_KEYS {
                units.insert(key, unit);
            }
        }
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        recent::handle(&self.shared, Kind::Counter, key).into_counter()
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        recent::handle(&self.shared, Kind::Gauge, key).into_gauge()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        recent::handle(&self.shared, Kind::Histogram, key).into_histogram()
    }
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("default_level", &self.shared.default_level)
            .field("prefix_levels", &self.shared.prefix_levels)
            .field("source_label", &self.shared.source_label)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    #[test]
    fn labels_become_source_and_sorted_tags() {
        let key = Key::from_parts(
            "http.requests",
            vec![
                Label::new("status", "200"),
                Label::new("source", "web-1"),
                Label::new("me;th=od", "G;E=T"),
            ],
        );
        let (name, source) = zibrato_name(&key, "source");
        assert_eq!(name, "http.requests;me_th_od=G_E=T;status=200");
        assert_eq!(source.as_deref(), Some("web-1"));
        let (name, source) = zibrato_name(&key, "host");
        assert_eq!(name, "http.requests;me_th_od=G_E=T;source=web-1;status=200");
        assert_eq!(source, None);
    }

    #[test]
    fn the_longest_prefix_wins() {
        let (z, _spy) = Zibrato::spy();
        let recorder = MetricsRecorder::builder(z)
            .default_level("info")
            .level_for_prefix("db.", "debug")
            .level_for_prefix("db.slow.", "crit")
            .build()
            .unwrap();
        assert_eq!(recorder.shared.level_of("db.slow.query"), "crit");
        assert_eq!(recorder.shared.level_of("db.query"), "debug");
        assert_eq!(recorder.shared.level_of("http"), "info");
    }

    #[test]
    fn a_bad_level_is_refused_when_building() {
        let (z, _spy) = Zibrato::spy();
        let err = MetricsRecorder::builder(z.clone())
            .level_for_prefix("db.", "de bug")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("de bug"), "{err}");
        assert!(
            MetricsRecorder::builder(z)
                .default_level("")
                .build()
                .is_err()
        );
    }
}
