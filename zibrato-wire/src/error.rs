//! The one error type of the crate.

use core::fmt;

/// Everything that can be wrong with a frame, a level, a name or a value.
///
/// Decoding reports the first problem it meets; encoding and the builder report
/// why a measurement or frame could not be written. Each variant carries the facts
/// needed to find the culprit without a debugger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The frame is longer than [`MAX_FRAME_LEN`](crate::limits::MAX_FRAME_LEN).
    FrameTooLarge {
        /// Length of the offered frame in bytes.
        len: usize,
    },
    /// No `0x00` ends the topic within the first `MAX_LEVEL_LEN + 1` bytes.
    MissingTopic,
    /// A level is empty.
    EmptyLevel,
    /// A level is longer than [`MAX_LEVEL_LEN`](crate::limits::MAX_LEVEL_LEN).
    LevelTooLong {
        /// Length of the level in bytes.
        len: usize,
    },
    /// A level holds a byte outside `A-Z a-z 0-9 _ - .`.
    InvalidLevelByte {
        /// The offending byte.
        byte: u8,
        /// Its position in the level.
        position: usize,
    },
    /// The byte after the topic is not the magic byte `0x5A` (`'Z'`): not a Zibrato frame.
    BadMagic {
        /// The byte found instead.
        found: u8,
    },
    /// The frame is of a version this decoder does not know.
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The frame ends in the middle of a field.
    Truncated,
    /// A variable-length integer is longer than its type allows or overflows it.
    BadVarint,
    /// A string is not valid UTF-8.
    BadUtf8,
    /// A name or source is empty.
    EmptyName,
    /// A name or source is longer than [`MAX_NAME_LEN`](crate::limits::MAX_NAME_LEN).
    NameTooLong {
        /// Length of the name in bytes.
        len: usize,
    },
    /// A name or source holds an ASCII control character (`0x00`–`0x1F`, `0x7F`).
    ControlCharacter {
        /// Position of the character in the name, in bytes.
        position: usize,
    },
    /// The string table holds more than [`MAX_STRINGS`](crate::limits::MAX_STRINGS) entries.
    TooManyStrings {
        /// The count the frame declares.
        count: u64,
    },
    /// The frame holds more than [`MAX_SERIES`](crate::limits::MAX_SERIES) series.
    TooManySeries {
        /// The count the frame declares.
        count: u64,
    },
    /// The frame holds more than
    /// [`MAX_MEASUREMENTS`](crate::limits::MAX_MEASUREMENTS) measurements.
    TooManyMeasurements {
        /// The running total when the limit was passed.
        count: u64,
    },
    /// A series names a string index past the end of the string table.
    BadStringIndex {
        /// The index found.
        index: u64,
        /// How many strings the table holds.
        strings: usize,
    },
    /// A series has a kind other than 0 (counter), 1 (gauge) or 2 (timer).
    BadKind {
        /// The kind found.
        kind: u64,
    },
    /// A series declares no values.
    EmptySeries,
    /// A gauge value is NaN or infinite.
    NonFiniteValue,
    /// Bytes follow the last series.
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
    /// The caller's buffer is too small for the encoded frame.
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A builder's fixed capacity is used up; encode and start a new frame.
    CapacityExceeded,
    /// A value of one kind was pushed onto a series of another.
    KindMismatch,
    /// A string or series handle does not belong to this builder.
    UnknownHandle,
    /// A relay message of a type this decoder does not know.
    UnknownMessageType {
        /// The type byte found.
        found: u8,
    },
    /// A relay message names a topic that is neither empty nor one level and `0x00`.
    BadTopic,
    /// A relay message lists more than [`MAX_WANTS`](crate::relay::MAX_WANTS) topics.
    TooManyTopics {
        /// The count the message declares.
        count: u64,
    },
    /// A relay message has a flag byte other than 0 or 1.
    BadFlag {
        /// The byte found.
        found: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::limits::*;
        match *self {
            Error::FrameTooLarge { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN}"
                )
            }
            Error::MissingTopic => f.write_str("no 0x00 ends the level topic"),
            Error::EmptyLevel => f.write_str("level is empty"),
            Error::LevelTooLong { len } => {
                write!(
                    f,
                    "level of {len} bytes exceeds the limit of {MAX_LEVEL_LEN}"
                )
            }
            Error::InvalidLevelByte { byte, position } => write!(
                f,
                "level byte 0x{byte:02x} at position {position} is not one of A-Z a-z 0-9 _ - ."
            ),
            Error::BadMagic { found } => {
                write!(
                    f,
                    "not a zibrato frame: magic byte is 0x{found:02x}, expected 0x5a"
                )
            }
            Error::UnsupportedVersion { found } => write!(
                f,
                "frame version {found} is not supported (this decoder reads version {})",
                crate::frame::VERSION
            ),
            Error::Truncated => f.write_str("truncated: a field ends early"),
            Error::BadVarint => f.write_str("malformed variable-length integer"),
            Error::BadUtf8 => f.write_str("string is not valid UTF-8"),
            Error::EmptyName => f.write_str("name or source is empty"),
            Error::NameTooLong { len } => {
                write!(
                    f,
                    "name or source of {len} bytes exceeds the limit of {MAX_NAME_LEN}"
                )
            }
            Error::ControlCharacter { position } => {
                write!(
                    f,
                    "name or source has a control character at byte {position}"
                )
            }
            Error::TooManyStrings { count } => {
                write!(f, "{count} strings exceed the limit of {MAX_STRINGS}")
            }
            Error::TooManySeries { count } => {
                write!(f, "{count} series exceed the limit of {MAX_SERIES}")
            }
            Error::TooManyMeasurements { count } => {
                write!(
                    f,
                    "{count} measurements exceed the limit of {MAX_MEASUREMENTS}"
                )
            }
            Error::BadStringIndex { index, strings } => {
                write!(
                    f,
                    "string index {index} is out of range (the table holds {strings})"
                )
            }
            Error::BadKind { kind } => write!(f, "unknown measurement kind {kind}"),
            Error::EmptySeries => f.write_str("series has no values"),
            Error::NonFiniteValue => f.write_str("gauge value is NaN or infinite"),
            Error::TrailingBytes { count } => write!(f, "{count} bytes follow the last series"),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "buffer of {available} bytes is too small for a frame of {needed}"
            ),
            Error::CapacityExceeded => f.write_str("builder capacity exceeded"),
            Error::KindMismatch => f.write_str("value kind does not match the series kind"),
            Error::UnknownHandle => f.write_str("handle does not belong to this builder"),
            Error::UnknownMessageType { found } => {
                write!(f, "relay message type {found} is not known")
            }
            Error::BadTopic => f.write_str("topic is neither empty nor a level followed by 0x00"),
            Error::TooManyTopics { count } => write!(
                f,
                "{count} topics exceed the limit of {}",
                crate::relay::MAX_WANTS
            ),
            Error::BadFlag { found } => write!(f, "flag byte {found} is neither 0 nor 1"),
        }
    }
}

impl core::error::Error for Error {}

impl From<postcard::Error> for Error {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeBadVarint => Error::BadVarint,
            postcard::Error::DeserializeBadUtf8 => Error::BadUtf8,
            postcard::Error::SerializeBufferFull => Error::BufferTooSmall {
                needed: 0,
                available: 0,
            },
            _ => Error::Truncated,
        }
    }
}
