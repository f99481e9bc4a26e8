//! Frames: decoding and validation, with borrowed strings and no allocation.

use crate::codec::{read_bytes, read_f64, read_i64, read_str, read_u64, skip_varints};
use crate::limits::{MAX_FRAME_LEN, MAX_MEASUREMENTS, MAX_SERIES, MAX_STRINGS};
use crate::{Error, Kind, Level, Measurement, Value, explicit_source, validate_name};

/// The byte after the topic that marks a Zibrato frame: ASCII `Z`.
pub const MAGIC: u8 = 0x5A;

/// The version of the format this crate reads and writes.
pub const VERSION: u8 = 1;

/// The fixed fields at the start of every frame body.
///
/// # Examples
///
/// ```
/// use zibrato_wire::Header;
///
/// let header = Header { publisher: 7, sequence: 0, time_us: 1_700_000_000_000_000 };
/// assert_eq!(header.sequence, 0);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Identifies the publisher, chosen at random when it starts.
    pub publisher: u64,
    /// Counts the publisher's frames on this level: 0, 1, 2, … A gap tells a
    /// subscriber how many frames of the level it lost.
    pub sequence: u64,
    /// When the frame was sealed, in microseconds since the Unix epoch; the timestamp
    /// of every measurement in it.
    pub time_us: u64,
}

impl Header {
    /// The longest encoding of a header: three 10-byte varints.
    pub const MAX_ENCODED_LEN: usize = 30;
}

/// A validated frame, borrowing the bytes it was decoded from.
///
/// [`Frame::decode`] checks the whole frame once; after that the iterators only
/// re-read what was checked.
///
/// # Examples
///
/// ```
/// use zibrato_wire::{Frame, Kind, Value};
///
/// // Level "info", publisher 1, sequence 0, time 2 µs, strings ["hits"],
/// // one counter series on string 0 with no source and the values 1 and 2.
/// let bytes = b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04";
/// let frame = Frame::decode(bytes)?;
/// assert_eq!(frame.level().as_str(), "info");
/// let values: Vec<Value> = frame.measurements().map(|m| m.value).collect();
/// assert_eq!(values, [Value::Counter(1), Value::Counter(2)]);
/// # Ok::<(), zibrato_wire::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    level: Level<'a>,
    header: Header,
    strings: &'a [u8],
    string_count: usize,
    series: &'a [u8],
    series_count: usize,
    measurement_count: usize,
}

impl<'a> Frame<'a> {
    /// Decodes and validates a whole frame.
    ///
    /// Never panics and never allocates; the work it does is bounded by the length of
    /// `bytes` and the [limits](crate::limits).
    ///
    /// # Errors
    ///
    /// The first problem found, as an [`Error`].
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(Error::FrameTooLarge { len: bytes.len() });
        }
        let (level, rest) = Level::split_topic(bytes)?;
        let (&magic, rest) = rest.split_first().ok_or(Error::Truncated)?;
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let (&version, mut rest) = rest.split_first().ok_or(Error::Truncated)?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion { found: version });
        }
        let header = Header {
            publisher: read_u64(&mut rest)?,
            sequence: read_u64(&mut rest)?,
            time_us: read_u64(&mut rest)?,
        };

        let string_count = read_count(&mut rest, MAX_STRINGS, |count| Error::TooManyStrings {
            count,
        })?;
        let strings = rest;
        for _ in 0..string_count {
            validate_name(read_str(&mut rest)?)?;
        }

        let series_count = read_count(&mut rest, MAX_SERIES, |count| Error::TooManySeries {
            count,
        })?;
        let series = rest;
        let mut measurement_count = 0usize;
        for _ in 0..series_count {
            let head = read_series_head(&mut rest, string_count)?;
            measurement_count += head.count;
            if measurement_count > MAX_MEASUREMENTS {
                return Err(Error::TooManyMeasurements {
                    count: measurement_count as u64,
                });
            }
            let mut values = Values {
                kind: head.kind,
                rest,
                remaining: head.count,
            };
            for _ in 0..head.count {
                values.try_next()?;
            }
            rest = values.rest;
        }
        if !rest.is_empty() {
            return Err(Error::TrailingBytes { count: rest.len() });
        }
        Ok(Frame {
            level,
            header,
            strings,
            string_count,
            series,
            series_count,
            measurement_count,
        })
    }

    /// The frame's level.
    pub fn level(&self) -> Level<'a> {
        self.level
    }

    /// The frame's header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// How many measurements the frame holds.
    pub fn measurement_count(&self) -> usize {
        self.measurement_count
    }

    /// How many series the frame holds.
    pub fn series_count(&self) -> usize {
        self.series_count
    }

    /// The string table, in order: names and sources, each once.
    pub fn strings(&self) -> Strings<'a> {
        Strings {
            bytes: self.string_bytes(),
        }
    }

    /// The string table as bytes: the same strings as [`Frame::strings`], whose UTF-8
    /// [`Frame::decode`] has already checked, without checking it again. For a consumer
    /// that looks strings up by their bytes and converts only the ones it has not seen.
    ///
    /// ```
    /// # use zibrato_wire::Frame;
    /// let frame = Frame::decode(b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04")?;
    /// let bytes: Vec<&[u8]> = frame.string_bytes().collect();
    /// assert_eq!(bytes, [b"hits"]);
    /// # Ok::<(), zibrato_wire::Error>(())
    /// ```
    pub fn string_bytes(&self) -> StringBytes<'a> {
        StringBytes {
            rest: self.strings,
            remaining: self.string_count,
        }
    }

    /// The string at `index` in the table, if there is one.
    pub fn string(&self, index: u32) -> Option<&'a str> {
        self.strings().nth(index as usize)
    }

    /// The series in order, each with its values. Names and sources are indexes into
    /// [`Frame::strings`]; this is the fast path for a consumer that resolves them once.
    pub fn series(&self) -> SeriesIter<'a> {
        SeriesIter {
            rest: self.series,
            remaining: self.series_count,
        }
    }

    /// Every measurement with its name and source resolved, series by series.
    ///
    /// Names and sources are found with two cursors in the string table, one for each,
    /// so a frame written in the encoding order of the specification (strings in order
    /// of first use) is resolved in one pass: each lookup moves a cursor forward, or
    /// back to a string near the start. Strings in another order cost at most a walk
    /// from the start of the table per lookup.
    pub fn measurements(&self) -> Measurements<'a> {
        Measurements {
            names: StringCursor::new(self.strings, self.string_count),
            sources: StringCursor::new(self.strings, self.string_count),
            series: self.series(),
            current: None,
        }
    }
}

fn read_count(
    input: &mut &[u8],
    limit: usize,
    too_many: impl FnOnce(u64) -> Error,
) -> Result<usize, Error> {
    let count = read_u64(input)?;
    if count > limit as u64 {
        return Err(too_many(count));
    }
    // Every element takes at least one byte, so a count beyond the bytes left is a
    // truncated frame; refusing it here keeps the work bounded by the input.
    if count > input.len() as u64 {
        return Err(Error::Truncated);
    }
    Ok(count as usize)
}

struct SeriesHead {
    kind: Kind,
    name: u32,
    source: Option<u32>,
    count: usize,
}

fn read_series_head(input: &mut &[u8], string_count: usize) -> Result<SeriesHead, Error> {
    let name = read_u64(input)?;
    if name >= string_count as u64 {
        return Err(Error::BadStringIndex {
            index: name,
            strings: string_count,
        });
    }
    let source = read_u64(input)?;
    if source > string_count as u64 {
        return Err(Error::BadStringIndex {
            index: source - 1,
            strings: string_count,
        });
    }
    let kind = Kind::from_code(read_u64(input)?)?;
    let count = read_u64(input)?;
    if count == 0 {
        return Err(Error::EmptySeries);
    }
    let min_len = if kind == Kind::Gauge { 8 } else { 1 };
    if count > MAX_MEASUREMENTS as u64 || count.saturating_mul(min_len) > input.len() as u64 {
        return Err(if count > MAX_MEASUREMENTS as u64 {
            Error::TooManyMeasurements { count }
        } else {
            Error::Truncated
        });
    }
    Ok(SeriesHead {
        kind,
        name: name as u32,
        source: source.checked_sub(1).map(|s| s as u32),
        count: count as usize,
    })
}

/// Iterator over a frame's string table.
#[derive(Debug, Clone)]
pub struct Strings<'a> {
    bytes: StringBytes<'a>,
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        core::str::from_utf8(self.bytes.next()?).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.bytes.size_hint()
    }
}

impl ExactSizeIterator for Strings<'_> {}

/// Iterator over a frame's string table as bytes; see [`Frame::string_bytes`].
#[derive(Debug, Clone)]
pub struct StringBytes<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for StringBytes<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        read_bytes(&mut self.rest).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for StringBytes<'_> {}

/// One series of a frame: a kind, a name, an optional source and its values.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// The kind of every value in the series.
    pub kind: Kind,
    /// Index of the name in the frame's string table.
    pub name: u32,
    /// Index of the source in the frame's string table, if the series has one.
    pub source: Option<u32>,
    /// The values, in the order they were recorded.
    pub values: Values<'a>,
}

/// Iterator over a frame's series.
#[derive(Debug, Clone)]
pub struct SeriesIter<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for SeriesIter<'a> {
    type Item = Series<'a>;

    fn next(&mut self) -> Option<Series<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The frame was validated, so none of these can fail; on the impossible error
        // the iterator simply ends.
        let head = read_series_head(&mut self.rest, usize::MAX).ok()?;
        let values = Values {
            kind: head.kind,
            rest: self.rest,
            remaining: head.count,
        };
        match head.kind {
            Kind::Gauge => self.rest = self.rest.get(head.count * 8..)?,
            Kind::Counter | Kind::Timer => skip_varints(&mut self.rest, head.count).ok()?,
        }
        Some(Series {
            kind: head.kind,
            name: head.name,
            source: head.source,
            values,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for SeriesIter<'_> {}

/// Iterator over the values of one series.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    kind: Kind,
    rest: &'a [u8],
    remaining: usize,
}

impl Values<'_> {
    fn try_next(&mut self) -> Result<Value, Error> {
        self.remaining -= 1;
        Ok(match self.kind {
            Kind::Counter => Value::Counter(read_i64(&mut self.rest)?),
            Kind::Timer => Value::Timer(read_u64(&mut self.rest)?),
            Kind::Gauge => {
                let value = read_f64(&mut self.rest)?;
                if !value.is_finite() {
                    return Err(Error::NonFiniteValue);
                }
                Value::Gauge(value)
            }
        })
    }
}

impl Iterator for Values<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.try_next().ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Values<'_> {}

/// A position in a frame's string table: looking up the string at or after the last one
/// found walks on from there; an earlier one walks from the start.
#[derive(Debug, Clone)]
struct StringCursor<'a> {
    table: &'a [u8],
    count: usize,
    /// The index of the string `rest` starts with.
    index: usize,
    rest: &'a [u8],
}

impl<'a> StringCursor<'a> {
    fn new(table: &'a [u8], count: usize) -> Self {
        StringCursor {
            table,
            count,
            index: 0,
            rest: table,
        }
    }

    fn get(&mut self, index: usize) -> Option<&'a str> {
        if index >= self.count {
            return None;
        }
        if index < self.index {
            self.index = 0;
            self.rest = self.table;
        }
        while self.index < index {
            read_bytes(&mut self.rest).ok()?;
            self.index += 1;
        }
        let mut at = self.rest;
        core::str::from_utf8(read_bytes(&mut at).ok()?).ok()
    }
}

/// Iterator over a frame's measurements with names and sources resolved.
#[derive(Debug, Clone)]
pub struct Measurements<'a> {
    names: StringCursor<'a>,
    sources: StringCursor<'a>,
    series: SeriesIter<'a>,
    current: Option<(&'a str, Option<&'a str>, Values<'a>)>,
}

impl<'a> Iterator for Measurements<'a> {
    type Item = Measurement<'a>;

    fn next(&mut self) -> Option<Measurement<'a>> {
        loop {
            if let Some((name, source, values)) = &mut self.current {
                if let Some(value) = values.next() {
                    return Some(Measurement {
                        name,
                        source: *source,
                        value,
                    });
                }
            }
            let series = self.series.next()?;
            let name = self.names.get(series.name as usize)?;
            let source = match series.source {
                Some(index) => explicit_source(Some(self.sources.get(index as usize)?)),
                None => None,
            };
            self.current = Some((name, source, series.values));
        }
    }
}
