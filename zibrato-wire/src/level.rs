//! Levels, and the topic that makes a ZeroMQ prefix subscription match one level exactly.

use core::fmt;

use crate::Error;
use crate::limits::{MAX_LEVEL_LEN, MAX_TOPIC_LEN};

/// The byte that ends every topic. It cannot occur in a level, so the subscription
/// prefix `info\0` matches the level `info` and never `information` or `info2`.
pub const TOPIC_TERMINATOR: u8 = 0x00;

/// A validated level: 1 to [`MAX_LEVEL_LEN`] bytes of `A-Z a-z 0-9 _ - .`.
///
/// Levels route measurements: every frame carries one, workers subscribe to the
/// levels they want, and a publisher drops the levels nobody subscribes to.
/// Comparison is byte-wise and case-sensitive.
///
/// # Examples
///
/// ```
/// use zibrato_wire::{Error, Level};
///
/// let level = Level::new("info")?;
/// assert_eq!(level.as_str(), "info");
/// assert_eq!(Level::new("no spaces"), Err(Error::InvalidLevelByte { byte: b' ', position: 2 }));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Level<'a>(&'a str);

impl<'a> Level<'a> {
    /// Validates `level`.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyLevel`], [`Error::LevelTooLong`] or [`Error::InvalidLevelByte`].
    pub const fn new(level: &'a str) -> Result<Self, Error> {
        match validate(level.as_bytes()) {
            Ok(()) => Ok(Level(level)),
            Err(e) => Err(e),
        }
    }

    /// The level as text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The topic of this level: the level's bytes followed by [`TOPIC_TERMINATOR`].
    /// Frames start with it; subscribe with it to receive exactly this level.
    ///
    /// # Examples
    ///
    /// ```
    /// use zibrato_wire::Level;
    ///
    /// let topic = Level::new("info")?.topic();
    /// assert_eq!(topic.as_bytes(), b"info\0");
    /// # Ok::<(), zibrato_wire::Error>(())
    /// ```
    pub fn topic(&self) -> Topic {
        let mut bytes = [0u8; MAX_TOPIC_LEN];
        let len = self.0.len();
        bytes[..len].copy_from_slice(self.0.as_bytes());
        bytes[len] = TOPIC_TERMINATOR;
        Topic {
            bytes,
            len: len as u8 + 1,
        }
    }

    /// Reads the level at the start of `frame` and returns it with the rest of the
    /// bytes after its terminator.
    ///
    /// # Errors
    ///
    /// [`Error::MissingTopic`] when no terminator follows a level of legal length,
    /// or the errors of [`Level::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use zibrato_wire::Level;
    ///
    /// let (level, rest) = Level::split_topic(b"crit\0Z\x01")?;
    /// assert_eq!(level.as_str(), "crit");
    /// assert_eq!(rest, b"Z\x01");
    /// # Ok::<(), zibrato_wire::Error>(())
    /// ```
    pub fn split_topic(frame: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let window = &frame[..frame.len().min(MAX_TOPIC_LEN)];
        let end = window
            .iter()
            .position(|&b| b == TOPIC_TERMINATOR)
            .ok_or(Error::MissingTopic)?;
        let level_bytes = &frame[..end];
        validate(level_bytes)?;
        // Validation admits ASCII only, so this cannot fail; map instead of unwrap
        // to keep the decoder free of panics.
        let level = core::str::from_utf8(level_bytes).map_err(|_| Error::BadUtf8)?;
        Ok((Level(level), &frame[end + 1..]))
    }
}

impl fmt::Display for Level<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for Level<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Level<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <&'de str>::deserialize(deserializer)?;
        Level::new(s).map_err(serde::de::Error::custom)
    }
}

/// Whether `byte` may appear in a level.
pub const fn is_level_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

const fn validate(bytes: &[u8]) -> Result<(), Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyLevel);
    }
    if bytes.len() > MAX_LEVEL_LEN {
        return Err(Error::LevelTooLong { len: bytes.len() });
    }
    let mut position = 0;
    while position < bytes.len() {
        let byte = bytes[position];
        if !is_level_byte(byte) {
            return Err(Error::InvalidLevelByte { byte, position });
        }
        position += 1;
    }
    Ok(())
}

/// The topic of a level, held inline: the level's bytes and a `0x00`.
///
/// Use [`Topic::as_bytes`] as the ZeroMQ subscription of a worker that wants that
/// level and nothing else.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Topic {
    bytes: [u8; MAX_TOPIC_LEN],
    len: u8,
}

impl Topic {
    /// The topic's bytes, terminator included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", self.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(Level::new("Info_2-b.x").is_ok());
        assert!(Level::new(core::str::from_utf8(&[b'a'; MAX_LEVEL_LEN]).unwrap()).is_ok());
    }

    #[test]
    fn rejects_the_rest() {
        assert_eq!(Level::new(""), Err(Error::EmptyLevel));
        assert_eq!(
            Level::new(core::str::from_utf8(&[b'a'; MAX_LEVEL_LEN + 1]).unwrap()),
            Err(Error::LevelTooLong {
                len: MAX_LEVEL_LEN + 1
            })
        );
        assert_eq!(
            Level::new("in\0fo"),
            Err(Error::InvalidLevelByte {
                byte: 0,
                position: 2
            })
        );
        assert_eq!(
            Level::new("é"),
            Err(Error::InvalidLevelByte {
                byte: 0xc3,
                position: 0
            })
        );
    }

    #[test]
    fn topic_of_a_level_is_no_prefix_of_a_longer_level() {
        let info = Level::new("info").unwrap().topic();
        let information = Level::new("information").unwrap().topic();
        assert!(!information.as_bytes().starts_with(info.as_bytes()));
        assert!(info.as_bytes().starts_with(info.as_bytes()));
    }

    #[test]
    fn split_topic_needs_a_terminator_within_reach() {
        assert_eq!(Level::split_topic(b"info"), Err(Error::MissingTopic));
        let long = [b'a'; MAX_TOPIC_LEN + 1];
        assert_eq!(Level::split_topic(&long), Err(Error::MissingTopic));
        assert_eq!(Level::split_topic(b"\0rest"), Err(Error::EmptyLevel));
    }
}
