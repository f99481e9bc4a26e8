//! A fixed-capacity frame builder: no allocator needed.

use heapless::Vec;

use crate::codec::{Writer, varint_len, zigzag};
use crate::frame::{MAGIC, VERSION};
use crate::limits::{
    MAX_FRAME_LEN, MAX_LEVEL_LEN, MAX_MEASUREMENTS, MAX_NAME_LEN, MAX_SERIES, MAX_STRINGS,
};
use crate::{Error, Header, Kind, Level, Measurement, Value, explicit_source, validate_name};

/// Handle to a string in a builder's table, from [`FrameBuilder::add_string`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StringId(u32);

/// Handle to a series in a builder, from [`FrameBuilder::add_series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeriesId(u32);

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct SeriesSlot {
    kind: Kind,
    name: u32,
    /// 0 for none, else the string index plus one, as on the wire.
    source: u32,
    head: u32,
    tail: u32,
    count: u32,
}

#[derive(Debug, Clone, Copy)]
struct ValueSlot {
    /// The value's bits: zigzag for counters, nanoseconds for timers, `f64` bits for gauges.
    raw: u64,
    next: u32,
}

/// Collects measurements for one frame in fixed capacity, then encodes them into a
/// caller's buffer.
///
/// `S` is how the builder holds names and sources: `&str` on a device (borrowed, no
/// allocation), or an owned or shared string such as `Arc<str>` where the builder is
/// kept and reused. `STRINGS`, `SERIES` and `VALUES` bound the string table, the series
/// and the measurements. Repeated names and sources are stored once; values of one series
/// are stored together, so a repeated series costs only its values.
///
/// There are two ways to fill it: [`push`](Self::push) finds or adds the string and the
/// series for you (a linear search, fine for the few series of a device), and
/// [`add_string`](Self::add_string) / [`add_series`](Self::add_series) /
/// [`push_value`](Self::push_value) let a caller that already knows its series skip
/// the search.
///
/// # Examples
///
/// ```
/// use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement, Value};
///
/// let mut builder = FrameBuilder::<&str, 8, 8, 64>::new();
/// builder.push(Measurement::new("hits", None, Value::Counter(1))?)?;
/// builder.push(Measurement::new("hits", None, Value::Counter(2))?)?;
///
/// let mut buf = [0u8; 128];
/// let header = Header { publisher: 1, sequence: 0, time_us: 2 };
/// let bytes = builder.encode(Level::new("info")?, &header, &mut buf)?;
/// assert_eq!(bytes, b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04");
///
/// let frame = Frame::decode(bytes)?;
/// assert_eq!(frame.measurement_count(), 2);
/// # Ok::<(), zibrato_wire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameBuilder<S, const STRINGS: usize, const SERIES: usize, const VALUES: usize> {
    strings: Vec<S, STRINGS>,
    series: Vec<SeriesSlot, SERIES>,
    values: Vec<ValueSlot, VALUES>,
    /// Exact encoded length of the strings, the non-empty series and their values,
    /// without the two table counts.
    body_len: usize,
    filled_series: usize,
}

impl<S: AsRef<str>, const STRINGS: usize, const SERIES: usize, const VALUES: usize> Default
    for FrameBuilder<S, STRINGS, SERIES, VALUES>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S: AsRef<str>, const STRINGS: usize, const SERIES: usize, const VALUES: usize>
    FrameBuilder<S, STRINGS, SERIES, VALUES>
{
    /// The longest frame a builder of this capacity can encode, so a stack buffer can
    /// be sized at compile time: `[0u8; FrameBuilder::<&str, 8, 8, 64>::MAX_ENCODED_LEN]`.
    pub const MAX_ENCODED_LEN: usize = MAX_LEVEL_LEN
        + 1
        + 2
        + Header::MAX_ENCODED_LEN
        + 5
        + STRINGS * (2 + MAX_NAME_LEN)
        + 5
        + SERIES * (5 + 5 + 1 + 5)
        + VALUES * 10;

    /// An empty builder.
    pub const fn new() -> Self {
        FrameBuilder {
            strings: Vec::new(),
            series: Vec::new(),
            values: Vec::new(),
            body_len: 0,
            filled_series: 0,
        }
    }

    /// Empties the builder for the next frame, keeping nothing.
    pub fn clear(&mut self) {
        self.strings.clear();
        self.series.clear();
        self.values.clear();
        self.body_len = 0;
        self.filled_series = 0;
    }

    /// Whether no measurement has been pushed since the builder was made or cleared.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many measurements have been pushed.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether another value fits without exceeding the capacity or the format's limit.
    pub fn is_full(&self) -> bool {
        self.values.len() >= VALUES.min(MAX_MEASUREMENTS)
    }

    /// Adds `s` to the string table and returns its handle. Does not look for an
    /// equal string already there: use [`intern`](Self::intern) for that.
    ///
    /// # Errors
    ///
    /// The errors of [`validate_name`], or [`Error::CapacityExceeded`].
    pub fn add_string(&mut self, s: S) -> Result<StringId, Error> {
        let len = s.as_ref().len();
        validate_name(s.as_ref())?;
        if self.strings.len() >= MAX_STRINGS {
            return Err(Error::CapacityExceeded);
        }
        let id = self.strings.len() as u32;
        self.strings.push(s).map_err(|_| Error::CapacityExceeded)?;
        self.body_len += varint_len(len as u64) + len;
        Ok(StringId(id))
    }

    /// Adds a series. It takes no room in the frame until a value is pushed onto it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownHandle`] for a string handle this builder did not give out,
    /// [`Error::CapacityExceeded`] when the series table is full.
    pub fn add_series(
        &mut self,
        kind: Kind,
        name: StringId,
        source: Option<StringId>,
    ) -> Result<SeriesId, Error> {
        let known = |id: StringId| (id.0 as usize) < self.strings.len();
        if !known(name) || source.is_some_and(|s| !known(s)) {
            return Err(Error::UnknownHandle);
        }
        if self.series.len() >= MAX_SERIES {
            return Err(Error::CapacityExceeded);
        }
        let id = self.series.len() as u32;
        self.series
            .push(SeriesSlot {
                kind,
                name: name.0,
                source: source.map_or(0, |s| s.0 + 1),
                head: NONE,
                tail: NONE,
                count: 0,
            })
            .map_err(|_| Error::CapacityExceeded)?;
        Ok(SeriesId(id))
    }

    /// Appends `value` to `series`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownHandle`], [`Error::KindMismatch`], [`Error::NonFiniteValue`] or
    /// [`Error::CapacityExceeded`].
    pub fn push_value(&mut self, series: SeriesId, value: Value) -> Result<(), Error> {
        let index = series.0 as usize;
        let slot = *self.series.get(index).ok_or(Error::UnknownHandle)?;
        if slot.kind != value.kind() {
            return Err(Error::KindMismatch);
        }
        value.validate()?;
        if self.is_full() {
            return Err(Error::CapacityExceeded);
        }
        let (raw, value_len) = match value {
            Value::Counter(n) => (zigzag(n), varint_len(zigzag(n))),
            Value::Timer(ns) => (ns, varint_len(ns)),
            Value::Gauge(v) => (v.to_bits(), 8),
        };
        let value_index = self.values.len() as u32;
        self.values
            .push(ValueSlot { raw, next: NONE })
            .map_err(|_| Error::CapacityExceeded)?;

        let count = slot.count + 1;
        if slot.count == 0 {
            // The series now appears in the frame: name, source, kind, count.
            self.filled_series += 1;
            self.body_len +=
                varint_len(u64::from(slot.name)) + varint_len(u64::from(slot.source)) + 1 + 1;
        } else {
            self.body_len += varint_len(u64::from(count)) - varint_len(u64::from(slot.count));
            self.values[slot.tail as usize].next = value_index;
        }
        self.body_len += value_len;
        let slot = &mut self.series[index];
        if slot.head == NONE {
            slot.head = value_index;
        }
        slot.tail = value_index;
        slot.count = count;
        Ok(())
    }

    /// The exact length [`encode`](Self::encode) will produce for this level and header.
    pub fn encoded_len(&self, level: Level<'_>, header: &Header) -> usize {
        level.as_str().len()
            + 1
            + 2
            + varint_len(header.publisher)
            + varint_len(header.sequence)
            + varint_len(header.time_us)
            + self.tables_len()
    }

    /// The exact encoded length of what follows the header: the string table and the
    /// series. A publisher that knows its level can check a size budget with this alone,
    /// adding at most `level + 3 +` [`Header::MAX_ENCODED_LEN`] bytes.
    pub fn tables_len(&self) -> usize {
        varint_len(self.strings.len() as u64)
            + varint_len(self.filled_series as u64)
            + self.body_len
    }

    /// Encodes the frame into `buf` and returns the part of it that was written.
    /// Series that never received a value are left out.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] when `buf` is shorter than
    /// [`encoded_len`](Self::encoded_len), [`Error::FrameTooLarge`] past
    /// [`MAX_FRAME_LEN`].
    pub fn encode<'b>(
        &self,
        level: Level<'_>,
        header: &Header,
        buf: &'b mut [u8],
    ) -> Result<&'b mut [u8], Error> {
        let needed = self.encoded_len(level, header);
        if needed > MAX_FRAME_LEN {
            return Err(Error::FrameTooLarge { len: needed });
        }
        if needed > buf.len() {
            return Err(Error::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let mut w = Writer::new(buf);
        w.bytes(level.topic().as_bytes())?;
        w.bytes(&[MAGIC, VERSION])?;
        w.value(header)?;
        w.value(&(self.strings.len() as u64))?;
        for s in &self.strings {
            w.value(s.as_ref())?;
        }
        w.value(&(self.filled_series as u64))?;
        for slot in self.series.iter().filter(|s| s.count > 0) {
            w.value(&u64::from(slot.name))?;
            w.value(&u64::from(slot.source))?;
            w.value(&u64::from(slot.kind.code()))?;
            w.value(&u64::from(slot.count))?;
            let mut next = slot.head;
            while let Some(value) = self.values.get(next as usize) {
                match slot.kind {
                    Kind::Gauge => w.bytes(&value.raw.to_le_bytes())?,
                    Kind::Counter | Kind::Timer => w.value(&value.raw)?,
                }
                next = value.next;
            }
        }
        Ok(w.finish())
    }
}

/// Filling by measurement, for builders whose strings can be made from a borrowed
/// `&str` (`&str` itself, `String`, `Arc<str>`, …).
impl<'a, S, const STRINGS: usize, const SERIES: usize, const VALUES: usize>
    FrameBuilder<S, STRINGS, SERIES, VALUES>
where
    S: AsRef<str> + From<&'a str>,
{
    /// The handle of a string equal to `s`, adding it if there is none.
    ///
    /// # Errors
    ///
    /// As [`add_string`](Self::add_string).
    pub fn intern(&mut self, s: &'a str) -> Result<StringId, Error> {
        match self.strings.iter().position(|t| t.as_ref() == s) {
            Some(index) => Ok(StringId(index as u32)),
            None => self.add_string(S::from(s)),
        }
    }

    /// Adds one measurement, reusing its name, source and series if already present.
    ///
    /// # Errors
    ///
    /// The errors of [`intern`](Self::intern), [`add_series`](Self::add_series) and
    /// [`push_value`](Self::push_value). On error the frame holds what it held before,
    /// apart from strings that were added.
    pub fn push(&mut self, measurement: Measurement<'a>) -> Result<(), Error> {
        let measurement = Measurement {
            source: explicit_source(measurement.source),
            ..measurement
        };
        let kind = measurement.kind();
        let found = self.series.iter().position(|s| {
            s.kind == kind
                && self.strings[s.name as usize].as_ref() == measurement.name
                && match (s.source, measurement.source) {
                    (0, None) => true,
                    (i, Some(src)) if i > 0 => self.strings[i as usize - 1].as_ref() == src,
                    _ => false,
                }
        });
        let series = match found {
            Some(index) => SeriesId(index as u32),
            None => {
                if self.is_full() {
                    return Err(Error::CapacityExceeded);
                }
                let name = self.intern(measurement.name)?;
                let source = measurement.source.map(|s| self.intern(s)).transpose()?;
                self.add_series(kind, name, source)?
            }
        };
        self.push_value(series, measurement.value)
    }
}

#[cfg(test)]
mod tests;
