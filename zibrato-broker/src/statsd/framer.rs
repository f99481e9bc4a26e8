//! Measurements from statsd lines batched into frames, one open frame per level, under
//! the ingress's own publisher id: sealed when full or when the oldest measurement in
//! it has waited the linger, numbered as every Zibrato publisher numbers its frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use zibrato_common::now_us;
use zibrato_wire::{FrameBuilder, Header, Kind, Level, SeriesId, StringId, Value};

use super::keys::State;

/// String-table, series and value capacity of one frame.
type Builder = FrameBuilder<Arc<str>, 2048, 1024, 4096>;

/// The most one push adds to a frame: a name and a source (each a length and up to 255
/// bytes), a series head and a 10-byte value.
const MAX_PUSH_GROWTH: usize = 2 * (2 + 255) + 4 * 5 + 10;

/// One level's open frame.
struct Batch {
    level: Arc<str>,
    builder: Box<Builder>,
    /// (name id, kind) → series in this frame.
    series: HashMap<(u64, Kind), SeriesId, FxBuildHasher>,
    /// String identity (pointer) → entry in this frame's string table.
    strings: HashMap<usize, StringId, FxBuildHasher>,
    sequence: u64,
    /// When its first measurement came, and the wall clock then (the frame's time).
    opened: Option<(Instant, u64)>,
    /// Seal before the tables pass this: the frame limit less the topic, the
    /// marker, the widest header and the largest push.
    budget: usize,
}

impl Batch {
    fn string(&mut self, s: &Arc<str>) -> Result<StringId, zibrato_wire::Error> {
        let key = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&id) = self.strings.get(&key) {
            return Ok(id);
        }
        let id = self.builder.add_string(Arc::clone(s))?;
        self.strings.insert(key, id);
        Ok(id)
    }

    fn push(&mut self, state: &State, value: Value) -> Result<(), zibrato_wire::Error> {
        let kind = value.kind();
        let series = match self.series.get(&(state.id, kind)) {
            Some(&series) => series,
            None => {
                let name = self.string(&state.name)?;
                let source = match &state.source {
                    Some(source) => Some(self.string(source)?),
                    None => None,
                };
                let series = self.builder.add_series(kind, name, source)?;
                self.series.insert((state.id, kind), series);
                series
            }
        };
        self.builder.push_value(series, value)
    }

    fn full(&self) -> bool {
        self.builder.is_full() || self.builder.tables_len() > self.budget
    }
}

/// The open frames, and what becomes of a measurement that cannot be framed.
pub(crate) struct Framer {
    batches: Vec<Batch>,
    publisher: u64,
    linger: Duration,
    /// Measurements that could not be put in a frame (cannot happen with valid names;
    /// counted, never silent).
    pub dropped: u64,
}

impl Framer {
    /// Frames for `levels` (each already checked to be a level), of at most
    /// `max_frame` bytes, sealed after `linger`.
    pub(crate) fn new(levels: &[String], max_frame: usize, linger: Duration) -> Framer {
        let batches = levels
            .iter()
            .map(|level| Batch {
                level: Arc::from(level.as_str()),
                builder: Box::new(Builder::new()),
                series: HashMap::default(),
                strings: HashMap::default(),
                sequence: 0,
                opened: None,
                budget: max_frame.saturating_sub(
                    level.len() + 1 + 2 + Header::MAX_ENCODED_LEN + MAX_PUSH_GROWTH,
                ),
            })
            .collect();
        Framer {
            batches,
            publisher: zibrato_common::random_publisher_id(),
            linger,
            dropped: 0,
        }
    }

    /// Adds a measurement to `level`'s frame; a frame that fills up is sealed into `out`.
    pub(crate) fn push(
        &mut self,
        level: usize,
        state: &State,
        value: Value,
        out: &mut Vec<Vec<u8>>,
    ) {
        let Some(batch) = self.batches.get_mut(level) else {
            self.dropped += 1;
            return;
        };
        if batch.opened.is_none() {
            batch.opened = Some((Instant::now(), now_us()));
        }
        if batch.push(state, value).is_err() {
            // The tables are full: seal, and start the next frame with it.
            self.seal(level, out);
            let batch = &mut self.batches[level];
            batch.opened = Some((Instant::now(), now_us()));
            if batch.push(state, value).is_err() {
                self.dropped += 1;
                return;
            }
        }
        if self.batches[level].full() {
            self.seal(level, out);
        }
    }

    /// Seals the frames whose first measurement has waited the linger.
    pub(crate) fn seal_due(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        for level in 0..self.batches.len() {
            let due = self.batches[level]
                .opened
                .is_some_and(|(opened, _)| now.saturating_duration_since(opened) >= self.linger);
            if due {
                self.seal(level, out);
            }
        }
    }

    /// Seals every open frame.
    pub(crate) fn seal_all(&mut self, out: &mut Vec<Vec<u8>>) {
        for level in 0..self.batches.len() {
            self.seal(level, out);
        }
    }

    fn seal(&mut self, level: usize, out: &mut Vec<Vec<u8>>) {
        let publisher = self.publisher;
        let batch = &mut self.batches[level];
        let Some((_, time_us)) = batch.opened.take() else {
            return;
        };
        let measurements = batch.builder.len() as u64;
        let encoded = Level::new(&batch.level).and_then(|l| {
            let widest = Header {
                publisher,
                sequence: batch.sequence,
                time_us,
            };
            let mut bytes = vec![0u8; batch.builder.encoded_len(l, &widest)];
            let len = zibrato_core::seal(
                &mut batch.builder,
                l,
                publisher,
                &mut batch.sequence,
                time_us,
                &mut bytes,
            )?
            .len();
            bytes.truncate(len);
            Ok(bytes)
        });
        batch.series.clear();
        batch.strings.clear();
        match encoded {
            Ok(bytes) => out.push(bytes),
            Err(_) => self.dropped += measurements,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statsd::keys::Keys;
    use zibrato_wire::Frame;

    #[test]
    fn measurements_become_numbered_frames_per_level() {
        let mut keys = Keys::new(16);
        let levels = vec!["info".to_string(), "crit".to_string()];
        let mut framer = Framer::new(&levels, 64 * 1024, Duration::from_millis(10));
        let mut out = Vec::new();
        for i in 0..3 {
            let state = keys.get(0, "hits", Some("web-1"));
            framer.push(0, state, Value::Counter(i), &mut out);
        }
        let state = keys.get(1, "temp", None);
        framer.push(1, state, Value::Gauge(21.5), &mut out);
        let state = keys.get(0, "hits", Some("web-1"));
        framer.push(0, state, Value::Timer(5), &mut out);
        assert!(out.is_empty(), "nothing sealed before the linger");
        framer.seal_due(Instant::now() + Duration::from_millis(20), &mut out);
        assert_eq!(out.len(), 2);
        let info = Frame::decode(&out[0]).unwrap();
        assert_eq!(info.level().as_str(), "info");
        assert_eq!(info.measurement_count(), 4);
        assert_eq!(info.series().count(), 2, "one name, two kinds");
        let publisher = info.header().publisher;
        framer.push(0, keys.get(0, "hits", None), Value::Counter(1), &mut out);
        framer.seal_all(&mut out);
        let next = Frame::decode(&out[2]).unwrap();
        assert_eq!(next.header().sequence, 1, "numbered per level");
        assert_eq!(next.header().publisher, publisher);
        assert_eq!(framer.dropped, 0);
    }

    #[test]
    fn a_full_frame_is_sealed_and_the_next_one_started() {
        let mut keys = Keys::new(100_000);
        let mut framer = Framer::new(&["info".to_string()], 4096, Duration::from_secs(60));
        let mut out = Vec::new();
        for i in 0..2_000 {
            let state = keys.get(0, &format!("name.{i}"), None);
            framer.push(0, state, Value::Counter(1), &mut out);
        }
        framer.seal_all(&mut out);
        assert!(out.len() > 5, "{} frames", out.len());
        let total: usize = out
            .iter()
            .map(|f| {
                assert!(f.len() <= 4096);
                Frame::decode(f).unwrap().measurement_count()
            })
            .sum();
        assert_eq!(total, 2_000);
    }
}
