//! What the client has done, for `stats()`.

/// Counts since the client was built. Every measurement recorded ends up in exactly
/// one of: sent, queued, filtered or a `dropped_*` counter (or is still in a
/// per-thread buffer or a frame under construction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Measurements accepted by a record call and taken by the publisher from the
    /// recording threads' buffers. A measurement still in a buffer is counted once the
    /// publisher takes it (within a few milliseconds); after a [`flush`], all are.
    ///
    /// [`flush`]: crate::Zibrato::flush
    pub recorded: u64,
    /// Record calls refused: an invalid level, name or source, a NaN or infinite
    /// gauge, or a new series beyond `max_series`.
    pub rejected: u64,
    /// Measurements dropped because the recording thread's buffer was full.
    pub dropped_buffer_full: u64,
    /// Measurements dropped from the backlog of frames (broker away or slow for longer
    /// than the backlog holds, or not taken before the client closed).
    pub dropped_backlog: u64,
    /// Measurements of levels no worker subscribes to (never did, or not for longer
    /// than the level grace), discarded.
    pub filtered: u64,
    /// Frames handed to ZeroMQ.
    pub frames_sent: u64,
    /// Measurements in those frames.
    pub measurements_sent: u64,
    /// Bytes in those frames.
    pub bytes_sent: u64,
    /// Frames waiting in the backlog now, including those held for a level whose
    /// subscribers are away (within the level grace).
    pub queued_frames: u64,
    /// Measurements in those frames.
    pub queued_measurements: u64,
    /// Bytes in those frames.
    pub queued_bytes: u64,
    /// Whether the client is connected to a broker and knows its subscriptions.
    pub connected: bool,
}

impl ClientStats {
    /// All measurements dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_buffer_full + self.dropped_backlog
    }
}
