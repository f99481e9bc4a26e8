//! The postcard primitives the format is made of, read from and written to slices.
//!
//! Every field of a frame is one postcard value: unsigned integers as LEB128
//! varints, signed ones zigzag-then-varint, `f64` as 8 little-endian bytes, strings as
//! a varint length and UTF-8 bytes.

use crate::Error;

/// Number of bytes of the varint encoding of `value`.
pub(crate) const fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Zigzag mapping used by postcard for signed integers.
pub(crate) const fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Reads a postcard varint. Written out rather than through postcard's deserializer
/// because it is the innermost loop of every decoder: one branch for the common
/// one-byte case, and the same rules as postcard (at most 10 bytes, the 10th at most 1).
#[inline]
pub(crate) fn read_u64(input: &mut &[u8]) -> Result<u64, Error> {
    match input.first() {
        Some(&byte) if byte < 0x80 => {
            *input = &input[1..];
            Ok(u64::from(byte))
        }
        _ => read_u64_long(input),
    }
}

fn read_u64_long(input: &mut &[u8]) -> Result<u64, Error> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().take(10).enumerate() {
        if i == 9 && byte > 1 {
            return Err(Error::BadVarint);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Ok(value);
        }
    }
    if input.len() >= 10 {
        Err(Error::BadVarint)
    } else {
        Err(Error::Truncated)
    }
}

#[inline]
pub(crate) fn read_i64(input: &mut &[u8]) -> Result<i64, Error> {
    let raw = read_u64(input)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[inline]
pub(crate) fn read_f64(input: &mut &[u8]) -> Result<f64, Error> {
    let (bytes, rest) = input.split_first_chunk::<8>().ok_or(Error::Truncated)?;
    *input = rest;
    Ok(f64::from_le_bytes(*bytes))
}

pub(crate) fn read_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, Error> {
    let mut rest = *input;
    let bytes = read_bytes(&mut rest)?;
    let value = core::str::from_utf8(bytes).map_err(|_| Error::BadUtf8)?;
    *input = rest;
    Ok(value)
}

/// Reads a length-prefixed string's bytes without checking their UTF-8 (for tables
/// [`Frame::decode`](crate::Frame::decode) has already checked).
pub(crate) fn read_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], Error> {
    let mut rest = *input;
    let len = read_u64(&mut rest)?;
    // A string longer than a name may be is refused before its bytes are looked at.
    if len > crate::limits::MAX_NAME_LEN as u64 {
        return Err(Error::NameTooLong { len: len as usize });
    }
    let (bytes, rest) = rest
        .split_at_checked(len as usize)
        .ok_or(Error::Truncated)?;
    *input = rest;
    Ok(bytes)
}

/// Advances past `count` varints without decoding them.
pub(crate) fn skip_varints(input: &mut &[u8], count: usize) -> Result<(), Error> {
    let mut seen = 0;
    for (i, &byte) in input.iter().enumerate() {
        if byte & 0x80 == 0 {
            seen += 1;
            if seen == count {
                *input = &input[i + 1..];
                return Ok(());
            }
        }
    }
    if count == 0 {
        return Ok(());
    }
    Err(Error::Truncated)
}

/// A cursor that writes postcard values into a caller's buffer.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.pos + bytes.len();
        let available = self.buf.len();
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall {
                needed: end,
                available,
            })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn value<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let available = self.buf.len();
        let used = postcard::to_slice(value, &mut self.buf[self.pos..])
            .map_err(|_| Error::BufferTooSmall {
                needed: self.pos + 1,
                available,
            })?
            .len();
        self.pos += used;
        Ok(())
    }

    pub(crate) fn finish(self) -> &'b mut [u8] {
        &mut self.buf[..self.pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_postcard() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = [0u8; 16];
            let used = postcard::to_slice(&value, &mut buf).unwrap().len();
            assert_eq!(varint_len(value), used, "{value}");
        }
    }

    #[test]
    fn zigzag_matches_postcard() {
        for value in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            let signed = postcard::to_slice(&value, &mut a).unwrap().to_vec();
            let unsigned = postcard::to_slice(&zigzag(value), &mut b).unwrap().to_vec();
            assert_eq!(signed, unsigned);
        }
    }

    #[test]
    fn varint_reads_agree_with_postcard() {
        let cases: [&[u8]; 7] = [
            &[0x00],
            &[0xac, 0x02],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[0x80, 0x80],
            &[0xff; 11],
            &[0x80, 0x00],
        ];
        for bytes in cases {
            let mut input = bytes;
            let ours = read_u64(&mut input).ok();
            let theirs = postcard::take_from_bytes::<u64>(bytes).ok().map(|(v, _)| v);
            assert_eq!(ours, theirs, "{bytes:02x?}");
            let mut input = bytes;
            let ours = read_i64(&mut input).ok();
            let theirs = postcard::take_from_bytes::<i64>(bytes).ok().map(|(v, _)| v);
            assert_eq!(ours, theirs, "{bytes:02x?}");
        }
    }

    #[test]
    fn skip_varints_stops_after_the_last() {
        let mut input: &[u8] = &[0x01, 0x80, 0x01, 0x7f, 0xaa];
        skip_varints(&mut input, 3).unwrap();
        assert_eq!(input, &[0xaa]);
        let mut short: &[u8] = &[0x80, 0x80];
        assert_eq!(skip_varints(&mut short, 1), Err(Error::Truncated));
    }
}
