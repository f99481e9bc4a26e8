//! Hard limits of version 1 of the format.
//!
//! Decoders reject anything beyond them, so a frame from an untrusted peer can cost at
//! most these amounts of work. Encoders never produce frames beyond them.

/// Longest level, in bytes.
pub const MAX_LEVEL_LEN: usize = 32;

/// Longest name or source, in bytes (Librato's limit for names).
pub const MAX_NAME_LEN: usize = 255;

/// Most entries in a frame's string table.
pub const MAX_STRINGS: usize = 8192;

/// Most series in one frame.
pub const MAX_SERIES: usize = 4096;

/// Most measurements in one frame, over all its series.
pub const MAX_MEASUREMENTS: usize = 65_535;

/// Longest frame, in bytes, topic included.
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// Length of the topic of the longest level: the level and its `0x00` terminator.
pub const MAX_TOPIC_LEN: usize = MAX_LEVEL_LEN + 1;
