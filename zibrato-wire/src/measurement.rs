//! Measurements: what kind, which series, what value.

use crate::Error;
use crate::limits::MAX_NAME_LEN;

/// The three kinds of measurement. The discriminants are the wire codes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Kind {
    /// An increment; workers sum them over a flush window.
    Counter = 0,
    /// A reading; workers keep a summary of the readings in a window.
    Gauge = 1,
    /// A duration in nanoseconds; workers keep a summary and percentiles.
    Timer = 2,
}

impl Kind {
    /// The wire code of this kind.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with wire code `code`.
    ///
    /// # Errors
    ///
    /// [`Error::BadKind`] for any code but 0, 1 and 2.
    pub const fn from_code(code: u64) -> Result<Self, Error> {
        match code {
            0 => Ok(Kind::Counter),
            1 => Ok(Kind::Gauge),
            2 => Ok(Kind::Timer),
            kind => Err(Error::BadKind { kind }),
        }
    }

    /// Lower-case name: `counter`, `gauge` or `timer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Timer => "timer",
        }
    }
}

/// A measured value, with its kind.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Value {
    /// An increment (may be zero or negative).
    Counter(i64),
    /// A reading; must be finite.
    Gauge(f64),
    /// A duration in nanoseconds, from a monotonic clock.
    Timer(u64),
}

impl Value {
    /// The kind of this value.
    pub const fn kind(&self) -> Kind {
        match self {
            Value::Counter(_) => Kind::Counter,
            Value::Gauge(_) => Kind::Gauge,
            Value::Timer(_) => Kind::Timer,
        }
    }

    /// The value as a float: the increment, the reading, or the duration in nanoseconds.
    pub fn as_f64(&self) -> f64 {
        match *self {
            Value::Counter(n) => n as f64,
            Value::Gauge(v) => v,
            Value::Timer(ns) => ns as f64,
        }
    }

    /// Checks that the value can go on the wire: a gauge must be finite.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteValue`] for a NaN or infinite gauge.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Value::Gauge(v) if !v.is_finite() => Err(Error::NonFiniteValue),
            _ => Ok(()),
        }
    }
}

/// One measurement: a value for a named series, optionally from a source.
///
/// The timestamp of a measurement is the `time` of the frame that carries it
/// (see [`Header`](crate::Header)).
///
/// # Examples
///
/// ```
/// use zibrato_wire::{Measurement, Value};
///
/// let m = Measurement::new("db.query", Some("web-1"), Value::Timer(1_250_000))?;
/// assert_eq!(m.source_or_default(), "web-1");
/// # Ok::<(), zibrato_wire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Measurement<'a> {
    /// Name of the series.
    pub name: &'a str,
    /// Where it was measured; `None` reads as [`DEFAULT_SOURCE`]. A decoded frame never
    /// gives `Some(DEFAULT_SOURCE)` (see [`explicit_source`]).
    pub source: Option<&'a str>,
    /// The value, which also gives the kind.
    pub value: Value,
}

/// The source of a measurement recorded without one (the original's default).
///
/// The text is reserved: a source of exactly `not_specified` *is* no source. Encoders
/// write it as absent and decoders report it as absent ([`explicit_source`]), so no
/// series can be told apart from the source-less one by that text alone.
pub const DEFAULT_SOURCE: &str = "not_specified";

/// `source` with the reserved [`DEFAULT_SOURCE`] read as no source.
///
/// ```
/// use zibrato_wire::explicit_source;
///
/// assert_eq!(explicit_source(Some("web-1")), Some("web-1"));
/// assert_eq!(explicit_source(Some("not_specified")), None);
/// assert_eq!(explicit_source(None), None);
/// ```
#[inline]
pub fn explicit_source(source: Option<&str>) -> Option<&str> {
    source.filter(|s| *s != DEFAULT_SOURCE)
}

impl<'a> Measurement<'a> {
    /// A validated measurement.
    ///
    /// # Errors
    ///
    /// The errors of [`validate_name`] for the name and the source, and of
    /// [`Value::validate`].
    pub fn new(name: &'a str, source: Option<&'a str>, value: Value) -> Result<Self, Error> {
        validate_name(name)?;
        if let Some(source) = source {
            validate_name(source)?;
        }
        value.validate()?;
        Ok(Measurement {
            name,
            source: explicit_source(source),
            value,
        })
    }

    /// The kind of the measurement.
    pub const fn kind(&self) -> Kind {
        self.value.kind()
    }

    /// The source, or [`DEFAULT_SOURCE`] when there is none.
    pub fn source_or_default(&self) -> &'a str {
        self.source.unwrap_or(DEFAULT_SOURCE)
    }
}

/// Checks a name or source: 1 to [`MAX_NAME_LEN`] bytes of UTF-8 with no ASCII
/// control character. Any other character is allowed on the wire; backends make
/// names legal for their service.
///
/// # Errors
///
/// [`Error::EmptyName`], [`Error::NameTooLong`] or [`Error::ControlCharacter`].
///
/// # Examples
///
/// ```
/// use zibrato_wire::{validate_name, Error};
///
/// assert!(validate_name("api.requests|ok").is_ok());
/// assert_eq!(validate_name("a\nb"), Err(Error::ControlCharacter { position: 1 }));
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(Error::EmptyName);
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(Error::NameTooLong { len: bytes.len() });
    }
    match bytes.iter().position(|&b| b < 0x20 || b == 0x7f) {
        Some(position) => Err(Error::ControlCharacter { position }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip() {
        for kind in [Kind::Counter, Kind::Gauge, Kind::Timer] {
            assert_eq!(Kind::from_code(u64::from(kind.code())), Ok(kind));
        }
        assert_eq!(Kind::from_code(3), Err(Error::BadKind { kind: 3 }));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(validate_name(""), Err(Error::EmptyName));
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(validate_name(&long), Err(Error::NameTooLong { len: 256 }));
        assert!(validate_name(&long[1..]).is_ok());
        assert!(validate_name("ünïcode ok").is_ok());
        assert_eq!(
            validate_name("tab\there"),
            Err(Error::ControlCharacter { position: 3 })
        );
    }

    #[test]
    fn gauges_must_be_finite() {
        assert_eq!(
            Measurement::new("g", None, Value::Gauge(f64::NAN)),
            Err(Error::NonFiniteValue)
        );
        assert!(Measurement::new("g", None, Value::Gauge(0.0)).is_ok());
        assert!(Measurement::new("c", None, Value::Counter(0)).is_ok());
    }
}
