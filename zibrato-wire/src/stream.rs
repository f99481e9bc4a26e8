//! Frames on a byte stream (a serial line, a FIFO): COBS-encoded, each followed by a
//! `0x00` delimiter.
//!
//! COBS (Consistent Overhead Byte Stuffing) rewrites a frame so it holds no zero byte,
//! at a cost of one byte per 254, so the zero can mark where each frame ends. A reader
//! that starts mid-stream, or loses bytes, finds the next frame at the next zero. An
//! empty record (two zeros in a row) is allowed and ignored: a writer may send a zero
//! at start-up to end whatever partial record the reader held.

use core::fmt;

use crate::Error;

/// The stream's delimiter.
pub const DELIMITER: u8 = 0;

/// Bytes a frame of `frame_len` bytes takes on a stream, at most: COBS adds one byte per
/// 254, and the delimiter one more.
pub const fn stream_len(frame_len: usize) -> usize {
    cobs::max_encoding_length(frame_len) + 1
}

/// Writes `frame` COBS-encoded and delimited into `out`; returns the bytes to send.
///
/// # Errors
///
/// [`Error::BufferTooSmall`] when `out` is shorter than [`stream_len`]`(frame.len())`.
///
/// # Examples
///
/// ```
/// use zibrato_wire::stream::{StreamDecoder, encode_for_stream, stream_len};
///
/// let frame = b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04";
/// let mut out = [0u8; stream_len(64)];
/// let bytes = encode_for_stream(frame, &mut out)?;
/// assert!(!bytes[..bytes.len() - 1].contains(&0));
///
/// let mut decoder = StreamDecoder::<64>::new();
/// let mut frames = 0;
/// for &byte in bytes {
///     if let Some(decoded) = decoder.push(byte) {
///         assert_eq!(decoded.unwrap(), frame);
///         frames += 1;
///     }
/// }
/// assert_eq!(frames, 1);
/// # Ok::<(), zibrato_wire::Error>(())
/// ```
pub fn encode_for_stream<'a>(frame: &[u8], out: &'a mut [u8]) -> Result<&'a [u8], Error> {
    let needed = stream_len(frame.len());
    if out.len() < needed {
        return Err(Error::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    let len = cobs::encode(frame, out);
    out[len] = DELIMITER;
    Ok(&out[..=len])
}

/// Why a record on a stream was not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StreamError {
    /// More than the decoder's capacity arrived before a delimiter; those bytes were
    /// discarded up to the next delimiter.
    Oversized,
    /// The bytes between two delimiters are not valid COBS.
    BadEncoding,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::Oversized => "a record longer than the stream buffer (no delimiter)",
            StreamError::BadEncoding => "a record that is not valid COBS",
        })
    }
}

impl core::error::Error for StreamError {}

/// Splits a byte stream into frames, in a fixed buffer of `N` bytes: no allocator, and
/// bounded whatever arrives — a stream that never delimits costs `N` bytes, and each
/// record too long or not COBS is reported once, at its delimiter.
///
/// What it returns is COBS-decoded bytes, not yet a validated frame: pass them to
/// [`Frame::decode`](crate::Frame::decode).
#[derive(Debug, Clone)]
pub struct StreamDecoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for StreamDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> StreamDecoder<N> {
    /// An empty decoder.
    pub const fn new() -> Self {
        StreamDecoder {
            buf: [0; N],
            len: 0,
            overflowed: false,
        }
    }

    /// Takes one byte. At a delimiter that ends a record, returns the decoded record or
    /// why it is not one; otherwise `None`.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], StreamError>> {
        if byte != DELIMITER {
            if self.len < N {
                self.buf[self.len] = byte;
                self.len += 1;
            } else {
                self.overflowed = true;
            }
            return None;
        }
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.overflowed) {
            return Some(Err(StreamError::Oversized));
        }
        if len == 0 {
            return None;
        }
        Some(match cobs::decode_in_place(&mut self.buf[..len]) {
            Ok(decoded) => Ok(&self.buf[..decoded]),
            Err(_) => Err(StreamError::BadEncoding),
        })
    }

    /// Bytes held of a record not yet delimited.
    pub fn pending(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records<const N: usize>(
        decoder: &mut StreamDecoder<N>,
        bytes: &[u8],
    ) -> Vec<Result<Vec<u8>, StreamError>> {
        bytes
            .iter()
            .filter_map(|&b| decoder.push(b).map(|r| r.map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn frames_with_zeros_and_long_runs_round_trip() {
        let mut frame = b"info\0Z\x01".to_vec();
        frame.extend((0..600).map(|i| (i % 7) as u8));
        let mut out = vec![0u8; stream_len(frame.len())];
        let encoded = encode_for_stream(&frame, &mut out).unwrap().to_vec();
        let mut stream = vec![0, 0];
        stream.extend(&encoded);
        stream.extend(&encoded);
        let mut decoder = StreamDecoder::<1024>::new();
        assert_eq!(
            records(&mut decoder, &stream),
            [Ok(frame.clone()), Ok(frame)]
        );
    }

    #[test]
    fn garbage_and_floods_are_reported_and_the_next_frame_found() {
        let frame = b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04";
        let mut out = [0u8; 64];
        let good = encode_for_stream(frame, &mut out).unwrap().to_vec();
        let mut decoder = StreamDecoder::<32>::new();
        // A record longer than the buffer, then a good frame.
        let mut stream = vec![7u8; 10_000];
        stream.push(0);
        stream.extend(&good);
        // Bad COBS (a code byte pointing past the record's end), then the good frame.
        stream.extend([9, 1, 2, 0]);
        stream.extend(&good);
        assert_eq!(
            records(&mut decoder, &stream),
            [
                Err(StreamError::Oversized),
                Ok(frame.to_vec()),
                Err(StreamError::BadEncoding),
                Ok(frame.to_vec())
            ]
        );
        // A stream that never delimits holds no more than the buffer.
        for _ in 0..100_000 {
            assert!(decoder.push(1).is_none());
        }
        assert_eq!(decoder.pending(), 32);
        assert!(encode_for_stream(frame, &mut [0u8; 8]).is_err());
    }
}
