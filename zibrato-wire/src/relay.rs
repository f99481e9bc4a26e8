//! The relay protocol: the messages two brokers exchange on an acknowledged link.
//!
//! A broker that forwards to another (`--upstream`) connects to that broker's relay
//! port. Frames cross the link numbered per sending session, each side acknowledges
//! what it has taken, and a sender keeps every frame until it is acknowledged, sending
//! it again after a reconnect; a receiver drops a frame it already has. Each side also
//! tells the other which level topics it wants, so a level nobody wants stays where it
//! was recorded. Section 10 of `docs/wire-format.md` is the specification; these types
//! are its messages.
//!
//! Every message starts with the magic `ZR` and the version; a [`Message::Frame`] is
//! followed by exactly one more ZeroMQ message part, the frame itself.
//!
//! # Examples
//!
//! ```
//! use zibrato_wire::relay::{Ack, Message, Wants};
//!
//! let topics: [&[u8]; 2] = [b"info\0", b"crit\0"];
//! let hello = Message::Hello { name: "web-1:5550", session: 7, ack: None, wants: Wants::list(&topics) };
//! let mut buf = [0u8; 64];
//! let bytes = hello.encode(&mut buf)?;
//! assert_eq!(&bytes[..4], b"ZR\x01\x01");
//!
//! match Message::decode(bytes)? {
//!     Message::Hello { name, session, ack, wants } => {
//!         assert_eq!((name, session, ack), ("web-1:5550", 7, None));
//!         assert!(wants.iter().eq(topics.iter().copied()));
//!     }
//!     _ => unreachable!(),
//! }
//! let ack = Message::Ack(Ack { session: 7, next: 1_000 }).encode(&mut buf)?;
//! assert_eq!(ack, b"ZR\x01\x04\x07\xe8\x07");
//! # Ok::<(), zibrato_wire::Error>(())
//! ```

use crate::codec::{Writer, read_str, read_u64, varint_len};
use crate::limits::{MAX_NAME_LEN, MAX_TOPIC_LEN};
use crate::{Error, Level, validate_name};

/// The first two bytes of every relay message: `ZR`.
pub const MAGIC: [u8; 2] = *b"ZR";

/// The version of the relay protocol this crate speaks.
pub const VERSION: u8 = 1;

/// The most topics a [`Message::Hello`] or [`Message::Welcome`] may list.
pub const MAX_WANTS: usize = 4096;

/// The longest relay message (not counting a frame's own part): a hello listing
/// [`MAX_WANTS`] topics of the longest level, with an acknowledgement.
pub const MAX_MESSAGE_LEN: usize =
    4 + 2 + MAX_NAME_LEN + 10 + 21 + 2 + MAX_WANTS * (1 + MAX_TOPIC_LEN);

const HELLO: u8 = 1;
const WELCOME: u8 = 2;
const FRAME: u8 = 3;
const ACK: u8 = 4;
const WANT: u8 = 5;
const UNWANT: u8 = 6;

/// What a receiver has taken from one sending session: every frame numbered below
/// `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ack {
    /// The sending session whose frames are acknowledged.
    pub session: u64,
    /// The sequence number the receiver expects next from it.
    pub next: u64,
}

/// One relay message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// The first message on every connection, from the broker that connected: its
    /// name and session, what it has taken from the other side's session (if it knows
    /// it), and the topics it wants from the other side.
    Hello {
        /// The sender's name, the same across its restarts (a name, as in a frame:
        /// 1 to 255 bytes of UTF-8 without control characters).
        name: &'a str,
        /// The sender's session: a random number chosen when it starts.
        session: u64,
        /// How far the sender has taken the other side's frames.
        ack: Option<Ack>,
        /// The topics the sender wants to receive.
        wants: Wants<'a>,
    },
    /// The answer to a hello, from the broker that was connected to.
    Welcome {
        /// The sender's session.
        session: u64,
        /// How far the sender has taken the other side's frames, if it knows its
        /// session: the other side resends from there.
        ack: Option<Ack>,
        /// The topics the sender wants to receive.
        wants: Wants<'a>,
    },
    /// A frame follows in the next message part: number `sequence` of `session`.
    Frame {
        /// The sending session.
        session: u64,
        /// The frame's number in that session: 0, 1, 2, … in the order first sent.
        sequence: u64,
    },
    /// Every frame of a session numbered below `next` has been taken.
    Ack(Ack),
    /// The sender now also wants this topic.
    Want(&'a [u8]),
    /// The sender no longer wants this topic.
    Unwant(&'a [u8]),
}

/// The topics listed in a hello or welcome: each a level's topic (the level and a
/// `0x00`), or the empty topic, which wants every level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Wants<'a> {
    repr: WantsRepr<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum WantsRepr<'a> {
    /// Topics to encode.
    List(&'a [&'a [u8]]),
    /// Validated encoded topics, as decoded: `count` length-prefixed topics.
    Encoded { count: usize, bytes: &'a [u8] },
}

impl<'a> Wants<'a> {
    /// Topics to send. Each must be a level's topic or empty; [`Message::encode`]
    /// checks them.
    pub const fn list(topics: &'a [&'a [u8]]) -> Self {
        Wants {
            repr: WantsRepr::List(topics),
        }
    }

    /// No topics.
    pub const fn none() -> Self {
        Wants::list(&[])
    }

    /// How many topics.
    pub fn len(&self) -> usize {
        match self.repr {
            WantsRepr::List(list) => list.len(),
            WantsRepr::Encoded { count, .. } => count,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The topics, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        let (list, mut rest, mut left): (&'a [&'a [u8]], &'a [u8], usize) = match self.repr {
            WantsRepr::List(list) => (list, &[], 0),
            WantsRepr::Encoded { count, bytes } => (&[], bytes, count),
        };
        list.iter().copied().chain(core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // Validated when decoded: these reads cannot fail.
            read_topic(&mut rest).ok()
        }))
    }
}

/// Whether `topic` is one a relay message may carry: empty, or one level and `0x00`.
pub fn is_topic(topic: &[u8]) -> bool {
    topic.is_empty() || Level::split_topic(topic).is_ok_and(|(_, rest)| rest.is_empty())
}

fn read_topic<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], Error> {
    let len = read_u64(input)?;
    if len > MAX_TOPIC_LEN as u64 {
        return Err(Error::BadTopic);
    }
    let (topic, rest) = input
        .split_at_checked(len as usize)
        .ok_or(Error::Truncated)?;
    if !is_topic(topic) {
        return Err(Error::BadTopic);
    }
    *input = rest;
    Ok(topic)
}

fn read_ack(input: &mut &[u8]) -> Result<Option<Ack>, Error> {
    let (&flag, rest) = input.split_first().ok_or(Error::Truncated)?;
    *input = rest;
    match flag {
        0 => Ok(None),
        1 => Ok(Some(Ack {
            session: read_u64(input)?,
            next: read_u64(input)?,
        })),
        _ => Err(Error::BadFlag { found: flag }),
    }
}

fn read_wants<'a>(input: &mut &'a [u8]) -> Result<Wants<'a>, Error> {
    let count = read_u64(input)?;
    if count > MAX_WANTS as u64 {
        return Err(Error::TooManyTopics { count });
    }
    let start = *input;
    for _ in 0..count {
        read_topic(input)?;
    }
    let used = start.len() - input.len();
    Ok(Wants {
        repr: WantsRepr::Encoded {
            count: count as usize,
            bytes: &start[..used],
        },
    })
}

impl<'a> Message<'a> {
    /// Decodes and validates one relay message (the first part of a frame message).
    ///
    /// # Errors
    ///
    /// The first rule of section 10.3 of the specification the bytes break:
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::UnknownMessageType`], [`Error::Truncated`], [`Error::BadVarint`],
    /// [`Error::BadFlag`], [`Error::TooManyTopics`], [`Error::BadTopic`] or
    /// [`Error::TrailingBytes`].
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, Error> {
        let (magic, mut rest) = bytes.split_first_chunk::<2>().ok_or(Error::Truncated)?;
        if *magic != MAGIC {
            let found = if magic[0] == MAGIC[0] {
                magic[1]
            } else {
                magic[0]
            };
            return Err(Error::BadMagic { found });
        }
        let (&version, tail) = rest.split_first().ok_or(Error::Truncated)?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion { found: version });
        }
        let (&kind, tail) = tail.split_first().ok_or(Error::Truncated)?;
        rest = tail;
        let input = &mut rest;
        let message = match kind {
            HELLO => {
                let name = read_str(input)?;
                validate_name(name)?;
                Message::Hello {
                    name,
                    session: read_u64(input)?,
                    ack: read_ack(input)?,
                    wants: read_wants(input)?,
                }
            }
            WELCOME => Message::Welcome {
                session: read_u64(input)?,
                ack: read_ack(input)?,
                wants: read_wants(input)?,
            },
            FRAME => Message::Frame {
                session: read_u64(input)?,
                sequence: read_u64(input)?,
            },
            ACK => Message::Ack(Ack {
                session: read_u64(input)?,
                next: read_u64(input)?,
            }),
            WANT => Message::Want(read_topic(input)?),
            UNWANT => Message::Unwant(read_topic(input)?),
            found => return Err(Error::UnknownMessageType { found }),
        };
        if !rest.is_empty() {
            return Err(Error::TrailingBytes { count: rest.len() });
        }
        Ok(message)
    }

    /// The exact length of the encoding.
    pub fn encoded_len(&self) -> usize {
        let ack_len =
            |ack: &Option<Ack>| 1 + ack.map_or(0, |a| varint_len(a.session) + varint_len(a.next));
        let topic_len = |topic: &[u8]| varint_len(topic.len() as u64) + topic.len();
        let name_len = match self {
            Message::Hello { name, .. } => varint_len(name.len() as u64) + name.len(),
            _ => 0,
        };
        4 + name_len
            + match self {
                Message::Hello {
                    session,
                    ack,
                    wants,
                    ..
                }
                | Message::Welcome {
                    session,
                    ack,
                    wants,
                } => {
                    varint_len(*session)
                        + ack_len(ack)
                        + varint_len(wants.len() as u64)
                        + wants.iter().map(topic_len).sum::<usize>()
                }
                Message::Frame { session, sequence } => {
                    varint_len(*session) + varint_len(*sequence)
                }
                Message::Ack(ack) => varint_len(ack.session) + varint_len(ack.next),
                Message::Want(topic) | Message::Unwant(topic) => topic_len(topic),
            }
    }

    /// Encodes the message into `buf`; returns the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BadTopic`] for a topic that is neither empty nor a level's topic,
    /// [`Error::TooManyTopics`] past [`MAX_WANTS`], [`Error::BufferTooSmall`].
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], Error> {
        let mut w = Writer::new(buf);
        w.bytes(&MAGIC)?;
        let kind = match self {
            Message::Hello { .. } => HELLO,
            Message::Welcome { .. } => WELCOME,
            Message::Frame { .. } => FRAME,
            Message::Ack(_) => ACK,
            Message::Want(_) => WANT,
            Message::Unwant(_) => UNWANT,
        };
        w.bytes(&[VERSION, kind])?;
        let topic = |w: &mut Writer<'_>, topic: &[u8]| {
            if !is_topic(topic) {
                return Err(Error::BadTopic);
            }
            w.value(&(topic.len() as u64))?;
            w.bytes(topic)
        };
        if let Message::Hello { name, .. } = self {
            validate_name(name)?;
            w.value(*name)?;
        }
        match self {
            Message::Hello {
                session,
                ack,
                wants,
                ..
            }
            | Message::Welcome {
                session,
                ack,
                wants,
            } => {
                if wants.len() > MAX_WANTS {
                    return Err(Error::TooManyTopics {
                        count: wants.len() as u64,
                    });
                }
                w.value(session)?;
                match ack {
                    None => w.bytes(&[0])?,
                    Some(ack) => {
                        w.bytes(&[1])?;
                        w.value(&ack.session)?;
                        w.value(&ack.next)?;
                    }
                }
                w.value(&(wants.len() as u64))?;
                for t in wants.iter() {
                    topic(&mut w, t)?;
                }
            }
            Message::Frame { session, sequence } => {
                w.value(session)?;
                w.value(sequence)?;
            }
            Message::Ack(ack) => {
                w.value(&ack.session)?;
                w.value(&ack.next)?;
            }
            Message::Want(t) | Message::Unwant(t) => topic(&mut w, t)?,
        }
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests;
