//! Sealing a frame: the one rule every Zibrato publisher follows, on a device or a
//! server.

use zibrato_wire::{Error, FrameBuilder, Header, Level};

/// Encodes the open frame of `level` into `out` with the publisher's header and the
/// level's next sequence number, empties `builder` for the next frame, and advances
/// `sequence`.
///
/// This is how sequence numbers run for every Zibrato publisher (`zibrato-core`'s
/// [`Recorder`](crate::Recorder) and the std client's publisher both seal through
/// it): each level counts its own frames from 0; a number is used by every frame that
/// is sealed, whether or not the frame then reaches the broker (a failed send, a full
/// backlog), so a worker sees every frame lost after sealing as a gap; a frame that
/// cannot be encoded uses no number, and its measurements are the caller's to count
/// as dropped. The numbers wrap at 2^64.
///
/// # Errors
///
/// The encoder's error (the buffer too small for the frame). The builder is emptied
/// either way: its measurements are sealed or dropped, never sent twice.
///
/// # Examples
///
/// ```
/// use zibrato_core::seal;
/// use zibrato_wire::{Frame, FrameBuilder, Level, Measurement, Value};
///
/// let mut builder = FrameBuilder::<&str, 4, 4, 8>::new();
/// let mut sequence = 0;
/// let mut out = [0u8; 64];
/// builder.push(Measurement::new("hits", None, Value::Counter(1))?)?;
/// let level = Level::new("info")?;
/// let frame = seal(&mut builder, level, 7, &mut sequence, 0, &mut out)?;
/// assert_eq!(Frame::decode(frame)?.header().sequence, 0);
/// assert_eq!(sequence, 1);
/// assert!(builder.is_empty());
/// # Ok::<(), zibrato_wire::Error>(())
/// ```
pub fn seal<'o, S, const STRINGS: usize, const SERIES: usize, const VALUES: usize>(
    builder: &mut FrameBuilder<S, STRINGS, SERIES, VALUES>,
    level: Level<'_>,
    publisher: u64,
    sequence: &mut u64,
    time_us: u64,
    out: &'o mut [u8],
) -> Result<&'o [u8], Error>
where
    S: AsRef<str>,
{
    let header = Header {
        publisher,
        sequence: *sequence,
        time_us,
    };
    let encoded = builder.encode(level, &header, out);
    builder.clear();
    let frame = encoded?;
    *sequence = sequence.wrapping_add(1);
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zibrato_wire::{Measurement, Value};

    #[test]
    fn a_frame_that_cannot_be_encoded_uses_no_number_and_is_not_kept() {
        let mut builder = FrameBuilder::<&str, 4, 4, 8>::new();
        let mut sequence = u64::MAX;
        let level = Level::new("info").unwrap();
        builder
            .push(Measurement::new("hits", None, Value::Counter(1)).unwrap())
            .unwrap();
        assert!(seal(&mut builder, level, 7, &mut sequence, 0, &mut [0u8; 4]).is_err());
        assert_eq!(sequence, u64::MAX);
        assert!(builder.is_empty());
        builder
            .push(Measurement::new("hits", None, Value::Counter(1)).unwrap())
            .unwrap();
        assert!(seal(&mut builder, level, 7, &mut sequence, 0, &mut [0u8; 64]).is_ok());
        assert_eq!(sequence, 0, "numbers wrap");
    }
}
