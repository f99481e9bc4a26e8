//! The Zibrato frame format.
//!
//! Applications record counters, gauges and timers; publishers batch them into
//! *frames*, one level per frame, and send each frame as one ZeroMQ message. This crate
//! is the format: it is `no_std`, needs no allocator, encodes into a caller's buffer and
//! decodes without copying. The byte-level specification, with test vectors, is
//! `docs/wire-format.md` in the repository.
//!
//! # The shape of a frame
//!
//! ```text
//! level 0x00 | 0x5A 0x01 | publisher sequence time | strings | series (kind, name, source, values…)
//! ```
//!
//! * The **topic** is the level followed by `0x00`. Levels cannot contain `0x00`, so
//!   the ZeroMQ subscription `info\0` matches the level `info` exactly, never
//!   `information`, and a publisher can drop levels nobody subscribed to.
//! * `0x5A 0x01` marks a Zibrato frame of version 1; anything else is refused with
//!   [`Error::BadMagic`] or [`Error::UnsupportedVersion`].
//! * The **header** names the publisher, numbers its frames per level (so a subscriber
//!   counts frames lost in transit) and stamps the time.
//! * Names and sources are written once in a **string table**; each **series** refers
//!   to them by index and lists its values, so a repeated measurement costs only its
//!   value: one byte for a small counter increment.
//!
//! # Building and decoding
//!
//! ```
//! use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement, Value};
//!
//! // On a device: fixed capacity, a stack buffer, no allocator.
//! let mut builder = FrameBuilder::<&str, 8, 8, 64>::new();
//! builder.push(Measurement::new("boot", None, Value::Counter(1))?)?;
//! builder.push(Measurement::new("temp", Some("sensor-3"), Value::Gauge(21.5))?)?;
//! builder.push(Measurement::new("read", None, Value::Timer(48_000))?)?;
//!
//! let mut buf = [0u8; FrameBuilder::<&str, 8, 8, 64>::MAX_ENCODED_LEN];
//! let header = Header { publisher: 42, sequence: 0, time_us: 1_700_000_000_000_000 };
//! let bytes = builder.encode(Level::new("info")?, &header, &mut buf)?;
//!
//! // On a worker: validate once, then iterate over borrowed data.
//! let frame = Frame::decode(bytes)?;
//! assert_eq!(frame.level().as_str(), "info");
//! assert_eq!(frame.header().publisher, 42);
//! let temp = frame.measurements().find(|m| m.name == "temp").unwrap();
//! assert_eq!(temp.source, Some("sensor-3"));
//! assert_eq!(temp.value, Value::Gauge(21.5));
//! # Ok::<(), zibrato_wire::Error>(())
//! ```
//!
//! # Features
//!
//! * `defmt`: derives `defmt::Format` for the public types, for logging on a device.
//!
//! The types derive `serde` traits, so a measurement can also be written as JSON or
//! any other serde format; that is for tools, not for the wire.
#![cfg_attr(not(test), no_std)]

mod builder;
mod codec;
mod error;
mod frame;
mod level;
pub mod limits;
mod measurement;
pub mod relay;
pub mod stream;
pub mod tags;

pub use builder::{FrameBuilder, SeriesId, StringId};
pub use error::Error;
pub use frame::{
    Frame, Header, MAGIC, Measurements, Series, SeriesIter, StringBytes, Strings, VERSION, Values,
};
pub use level::{Level, TOPIC_TERMINATOR, Topic, is_level_byte};
pub use measurement::{DEFAULT_SOURCE, Kind, Measurement, Value, explicit_source, validate_name};
