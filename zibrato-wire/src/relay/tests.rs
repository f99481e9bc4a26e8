//! The relay messages' encoding and decoding, message by message.

extern crate std;
use super::*;
use std::vec;
use std::vec::Vec;

fn round_trip(message: Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; message.encoded_len()];
    let bytes = message.encode(&mut buf).unwrap().to_vec();
    assert_eq!(bytes.len(), message.encoded_len());
    let decoded = Message::decode(&bytes).unwrap();
    // Wants compare by content, whatever their representation.
    match (decoded, message) {
        (
            Message::Hello {
                name: n,
                session: a,
                ack: b,
                wants: c,
            },
            Message::Hello {
                name: m,
                session: x,
                ack: y,
                wants: z,
            },
        ) => {
            assert_eq!((n, a, b), (m, x, y));
            assert!(c.iter().eq(z.iter()));
        }
        (
            Message::Welcome {
                session: a,
                ack: b,
                wants: c,
            },
            Message::Welcome {
                session: x,
                ack: y,
                wants: z,
            },
        ) => {
            assert_eq!((a, b), (x, y));
            assert!(c.iter().eq(z.iter()));
        }
        (decoded, message) => assert_eq!(decoded, message),
    }
    bytes
}

#[test]
fn every_message_round_trips() {
    let topics: [&[u8]; 3] = [b"info\0", b"", b"a.b-c_D\0"];
    round_trip(Message::Hello {
        name: "host-a:5550",
        session: u64::MAX,
        ack: Some(Ack {
            session: 1,
            next: 300,
        }),
        wants: Wants::list(&topics),
    });
    round_trip(Message::Welcome {
        session: 0,
        ack: None,
        wants: Wants::none(),
    });
    round_trip(Message::Frame {
        session: 9,
        sequence: u64::MAX,
    });
    round_trip(Message::Ack(Ack {
        session: 9,
        next: 0,
    }));
    round_trip(Message::Want(b"crit\0"));
    assert_eq!(round_trip(Message::Unwant(b"")), b"ZR\x01\x06\x00");
}

#[test]
fn bad_messages_are_named() {
    let cases: [(&[u8], Error); 12] = [
        (b"Z", Error::Truncated),
        (b"XR\x01\x04\x00\x00", Error::BadMagic { found: b'X' }),
        (b"ZX\x01\x04\x00\x00", Error::BadMagic { found: b'X' }),
        (
            b"ZR\x02\x04\x00\x00",
            Error::UnsupportedVersion { found: 2 },
        ),
        (b"ZR\x01\x09", Error::UnknownMessageType { found: 9 }),
        (b"ZR\x01\x04\x00", Error::Truncated),
        (b"ZR\x01\x01\x01a\x00\x02\x00", Error::BadFlag { found: 2 }),
        (b"ZR\x01\x01\x00\x00\x00\x00", Error::EmptyName),
        (b"ZR\x01\x05\x04info", Error::BadTopic),
        (b"ZR\x01\x05\x03in\0\0", Error::TrailingBytes { count: 1 }),
        (
            b"ZR\x01\x02\x00\x00\x81\x20",
            Error::TooManyTopics { count: 4097 },
        ),
        (b"ZR\x01\x05\x22", Error::BadTopic),
    ];
    for (bytes, error) in cases {
        assert_eq!(Message::decode(bytes), Err(error), "{bytes:02x?}");
    }
}

#[test]
fn encoding_refuses_what_decoding_would() {
    let mut buf = [0u8; 64];
    assert_eq!(
        Message::Want(b"info").encode(&mut buf),
        Err(Error::BadTopic)
    );
    let bad: [&[u8]; 1] = [b"in fo\0"];
    let hello = Message::Hello {
        name: "a",
        session: 1,
        ack: None,
        wants: Wants::list(&bad),
    };
    assert_eq!(hello.encode(&mut buf), Err(Error::BadTopic));
    assert!(matches!(
        Message::Want(b"info\0").encode(&mut [0u8; 5]),
        Err(Error::BufferTooSmall { .. })
    ));
}

#[test]
fn the_largest_hello_fits_the_stated_maximum() {
    let topic = [b'a'; MAX_TOPIC_LEN - 1]
        .iter()
        .copied()
        .chain([0])
        .collect::<Vec<u8>>();
    let topics: Vec<&[u8]> = (0..MAX_WANTS).map(|_| &topic[..]).collect();
    let name: std::string::String = "n".repeat(MAX_NAME_LEN);
    let hello = Message::Hello {
        name: &name,
        session: u64::MAX,
        ack: Some(Ack {
            session: u64::MAX,
            next: u64::MAX,
        }),
        wants: Wants::list(&topics),
    };
    assert!(hello.encoded_len() <= MAX_MESSAGE_LEN);
}
