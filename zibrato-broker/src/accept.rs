//! The per-frame decision: forward or drop, and why.

use zibrato_wire::{Error, Frame};

/// Why the broker dropped a frame. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a Zibrato frame: no topic, a bad level, or a wrong magic byte.
    NotZibrato,
    /// A Zibrato frame of a version this broker does not know.
    UnknownVersion,
    /// A Zibrato frame of the right version that fails validation.
    Malformed,
    /// A message of more than one part; frames are single-part.
    Multipart,
    /// A frame over `--max-frame-bytes` (from a publisher, a datagram or a stream).
    Oversized,
    /// A stream record that is not valid COBS (device ingress over `--stream`).
    BadFraming,
    /// A frame a linked broker sent again that this broker already had (a resend after
    /// a reconnect): dropped so nothing is forwarded twice.
    Duplicate,
    /// A frame from a connection whose CURVE key was revoked (SIGHUP) since it came in.
    Revoked,
}

impl DropReason {
    /// Every reason, in the order of [`DropReason::index`].
    pub const ALL: [DropReason; 8] = [
        DropReason::NotZibrato,
        DropReason::UnknownVersion,
        DropReason::Malformed,
        DropReason::Multipart,
        DropReason::Oversized,
        DropReason::BadFraming,
        DropReason::Duplicate,
        DropReason::Revoked,
    ];

    /// The reason's name in logs and metric names.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::NotZibrato => "not_zibrato",
            DropReason::UnknownVersion => "unknown_version",
            DropReason::Malformed => "malformed",
            DropReason::Multipart => "multipart",
            DropReason::Oversized => "oversized",
            DropReason::BadFraming => "bad_framing",
            DropReason::Duplicate => "duplicate",
            DropReason::Revoked => "revoked",
        }
    }

    /// Position in [`DropReason::ALL`], for counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason for a frame the decoder rejected with `error`.
    pub fn of(error: Error) -> Self {
        match error {
            Error::MissingTopic
            | Error::EmptyLevel
            | Error::LevelTooLong { .. }
            | Error::InvalidLevelByte { .. }
            | Error::BadMagic { .. } => DropReason::NotZibrato,
            Error::UnsupportedVersion { .. } => DropReason::UnknownVersion,
            _ => DropReason::Malformed,
        }
    }
}

/// What the broker learns from a frame it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Number of measurements in the frame.
    pub measurements: usize,
}

/// The broker's accept path: the exact check it runs on every frame a publisher sends.
/// The whole frame is validated, so nothing malformed reaches a worker.
///
/// # Errors
///
/// The decoder's error, which [`DropReason::of`] classifies.
///
/// # Examples
///
/// ```
/// use zibrato_broker::{DropReason, accept};
///
/// let good = b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04";
/// assert_eq!(accept(good).unwrap().measurements, 2);
/// let future = b"info\0Z\x02";
/// assert_eq!(DropReason::of(accept(future).unwrap_err()), DropReason::UnknownVersion);
/// ```
pub fn accept(frame: &[u8]) -> Result<Accepted, Error> {
    let frame = Frame::decode(frame)?;
    Ok(Accepted {
        measurements: frame.measurement_count(),
    })
}
