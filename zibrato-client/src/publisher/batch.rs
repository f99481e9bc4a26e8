//! One level's frame under construction: series and strings are added once per frame
//! and found again by id, and the frame reports when its tables are near the limit.

use std::sync::Arc;
use std::time::Instant;

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;
use zibrato_wire::{
    Error as WireError, FrameBuilder, Header, SeriesId as FrameSeries, StringId, Value,
};

use crate::registry::{SeriesId, SeriesInfo};

/// String-table, series and value capacity of one frame under construction.
pub(super) type Builder = FrameBuilder<Arc<str>, 2048, 1024, 4096>;

/// The most a single push can add to a frame: a new name and source (each a
/// varint length and up to 255 bytes), a series head and a 10-byte value.
const MAX_PUSH_GROWTH: usize = 2 * (2 + 255) + 4 * 5 + 10;

/// One level's frame under construction.
pub(super) struct Batch {
    pub(super) builder: Box<Builder>,
    /// Global series id → (generation, series in this frame).
    slots: Vec<Option<(u32, FrameSeries)>>,
    /// String identity (pointer) → entry in this frame's string table.
    strings: HashMap<usize, StringId, FxBuildHasher>,
    /// Bumped by each clear, so slots of earlier frames read as absent without being
    /// cleared one by one.
    generation: u32,
    /// When the frame got its first measurement: the monotonic time (for the linger)
    /// and the wall clock in microseconds (its header's time).
    pub(super) opened: Option<(Instant, u64)>,
    /// Seal once the string table and series pass this many bytes: the frame limit less
    /// the topic, the marker, the widest header and the largest single push.
    tables_budget: usize,
}

impl Batch {
    /// An empty frame for `level`, sealed before it passes `max_frame_bytes`.
    pub(super) fn new(level: &str, max_frame_bytes: usize) -> Batch {
        let overhead = level.len() + 1 + 2 + Header::MAX_ENCODED_LEN + MAX_PUSH_GROWTH;
        Batch {
            builder: Box::new(Builder::new()),
            slots: Vec::new(),
            strings: HashMap::default(),
            generation: 1,
            opened: None,
            tables_budget: max_frame_bytes.saturating_sub(overhead),
        }
    }

    /// The entry of `s` in this frame's string table, added if new. Strings are
    /// interned by the registry, so one pointer is one string.
    fn string(&mut self, s: &Arc<str>) -> Result<StringId, WireError> {
        let key = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&id) = self.strings.get(&key) {
            return Ok(id);
        }
        let id = self.builder.add_string(Arc::clone(s))?;
        self.strings.insert(key, id);
        Ok(id)
    }

    /// Adds one value of series `id`; an error when the frame's tables are full (the
    /// caller seals the frame and pushes again into the next).
    // Inlined into the publisher's drain loop, so the value stays in registers (called
    // out of line, it went through the stack and stalled on store forwarding: +13 %
    // publisher CPU in zibrato-e2e).
    #[inline]
    pub(super) fn push(
        &mut self,
        id: SeriesId,
        info: &SeriesInfo,
        value: Value,
    ) -> Result<(), WireError> {
        let index = id as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        let series = match self.slots[index] {
            Some((generation, series)) if generation == self.generation => series,
            _ => {
                let name = self.string(&info.name)?;
                // The reserved `not_specified` is written as no source, as the spec asks.
                let source = match &info.source {
                    Some(s) if &**s != zibrato_wire::DEFAULT_SOURCE => Some(self.string(s)?),
                    _ => None,
                };
                let series = self.builder.add_series(info.kind, name, source)?;
                self.slots[index] = Some((self.generation, series));
                series
            }
        };
        self.builder.push_value(series, value)
    }

    /// Whether the frame should be sealed now: its value table is full, or its tables
    /// are within one push of the frame limit.
    #[inline]
    pub(super) fn is_due(&self) -> bool {
        self.builder.is_full() || self.builder.tables_len() > self.tables_budget
    }

    /// Empties the frame for the next one.
    pub(super) fn clear(&mut self) {
        self.builder.clear();
        self.strings.clear();
        self.generation = self.generation.wrapping_add(1).max(1);
        self.opened = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zibrato_wire::{Frame, Kind, Level};

    fn info(name: &str, source: Option<&str>, kind: Kind) -> SeriesInfo {
        SeriesInfo {
            name: Arc::from(name),
            source: source.map(Arc::from),
            kind,
            level: 0,
        }
    }

    fn encode(batch: &Batch) -> Vec<u8> {
        let level = Level::new("info").unwrap();
        let header = Header::default();
        let mut bytes = vec![0; batch.builder.encoded_len(level, &header)];
        let len = batch
            .builder
            .encode(level, &header, &mut bytes)
            .unwrap()
            .len();
        bytes.truncate(len);
        bytes
    }

    #[test]
    fn a_series_and_its_strings_are_written_once_per_frame() {
        let mut batch = Batch::new("info", 65_536);
        let hits = info("hits", Some("web-1"), Kind::Counter);
        let load = SeriesInfo {
            source: hits.source.clone(),
            ..info("load", None, Kind::Gauge)
        };
        batch.push(0, &hits, Value::Counter(1)).unwrap();
        batch.push(0, &hits, Value::Counter(2)).unwrap();
        batch.push(1, &load, Value::Gauge(0.5)).unwrap();
        let bytes = encode(&batch);
        let frame = Frame::decode(&bytes).unwrap();
        assert_eq!(frame.string_bytes().count(), 3, "hits, load, web-1 once");
        assert_eq!(frame.series().count(), 2);
        assert_eq!(frame.measurement_count(), 3);
    }

    #[test]
    fn the_default_source_is_written_as_no_source() {
        let mut batch = Batch::new("info", 65_536);
        let series = info("hits", Some(zibrato_wire::DEFAULT_SOURCE), Kind::Counter);
        batch.push(0, &series, Value::Counter(1)).unwrap();
        let bytes = encode(&batch);
        let frame = Frame::decode(&bytes).unwrap();
        assert_eq!(frame.series().next().unwrap().source, None);
        assert_eq!(frame.string_bytes().count(), 1);
    }

    #[test]
    fn after_a_clear_series_are_added_afresh() {
        let mut batch = Batch::new("info", 65_536);
        let hits = info("hits", None, Kind::Counter);
        batch.opened = Some((Instant::now(), 1));
        batch.push(0, &hits, Value::Counter(1)).unwrap();
        batch.clear();
        assert!(batch.opened.is_none());
        batch.push(0, &hits, Value::Counter(5)).unwrap();
        let bytes = encode(&batch);
        let frame = Frame::decode(&bytes).unwrap();
        assert_eq!(frame.series().count(), 1, "not a slot of the old frame");
        assert_eq!(frame.measurement_count(), 1);
    }

    #[test]
    fn a_frame_is_due_before_it_can_pass_the_limit() {
        let max_frame_bytes = 2_000;
        let mut batch = Batch::new("info", max_frame_bytes);
        let names: Vec<SeriesInfo> = (0..1000)
            .map(|i| {
                info(
                    &format!("series.with.a.longish.name.{i}"),
                    None,
                    Kind::Counter,
                )
            })
            .collect();
        let mut pushed = 0;
        for (id, series) in names.iter().enumerate() {
            if batch.is_due() {
                break;
            }
            batch
                .push(id as SeriesId, series, Value::Counter(1))
                .unwrap();
            pushed += 1;
        }
        assert!(batch.is_due(), "due before 1000 names of 30 bytes");
        assert!(pushed > 10, "{pushed}");
        assert!(encode(&batch).len() <= max_frame_bytes);
    }
}
