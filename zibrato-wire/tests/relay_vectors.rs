//! Checks every relay message vector of `docs/wire-format.md` (section 10) against the
//! decoder and the encoder.
//!
//! A vector's `message:` line is the decoded message written out: `hello name="…"
//! session=N ack=none|S/N wants=a,b`, `welcome session=N ack=… wants=…`, `frame
//! session=N sequence=N`, `ack session=N next=N`, `want TOPIC`, `unwant TOPIC`; a topic
//! is its level, or `*` for the empty topic (every level); an empty list is `-`.

use zibrato_wire::relay::{Ack, Message, Wants};

struct Vector {
    name: String,
    bytes: Vec<u8>,
    message: Option<String>,
    error: Option<String>,
}

fn parse_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire-format.md");
    let spec = std::fs::read_to_string(path).expect("docs/wire-format.md is readable");
    let mut out = Vec::new();
    for block in spec.split("```relay-vector\n").skip(1) {
        let body = block.split("```").next().unwrap();
        let mut v = Vector {
            name: String::new(),
            bytes: Vec::new(),
            message: None,
            error: None,
        };
        let mut hex = String::new();
        let mut in_hex = false;
        for line in body.lines() {
            if line.starts_with(' ') && in_hex {
                hex.push_str(line);
                continue;
            }
            in_hex = false;
            let (key, value) = line.split_once(": ").expect("key: value line");
            match key {
                "name" => v.name = value.to_string(),
                "hex" => {
                    hex.push_str(value);
                    in_hex = true;
                }
                "message" => v.message = Some(value.to_string()),
                "error" => v.error = Some(value.to_string()),
                other => panic!("unknown vector key {other}"),
            }
        }
        v.bytes = parse_hex(&hex);
        out.push(v);
    }
    out
}

fn topic(topic: &[u8]) -> String {
    match topic.strip_suffix(b"\0") {
        Some(level) => String::from_utf8_lossy(level).into_owned(),
        None => "*".into(),
    }
}

fn topics<'a>(wants: impl Iterator<Item = &'a [u8]>) -> String {
    let all: Vec<String> = wants.map(topic).collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join(",")
    }
}

fn ack(ack: Option<Ack>) -> String {
    ack.map_or("none".into(), |a| format!("{}/{}", a.session, a.next))
}

/// The `message:` notation of a decoded message.
fn written(message: &Message<'_>) -> String {
    match message {
        Message::Hello {
            name,
            session,
            ack: a,
            wants,
        } => format!(
            "hello name={} session={session} ack={} wants={}",
            serde_json::to_string(name).unwrap(),
            ack(*a),
            topics(wants.iter())
        ),
        Message::Welcome {
            session,
            ack: a,
            wants,
        } => format!(
            "welcome session={session} ack={} wants={}",
            ack(*a),
            topics(wants.iter())
        ),
        Message::Frame { session, sequence } => {
            format!("frame session={session} sequence={sequence}")
        }
        Message::Ack(a) => format!("ack session={} next={}", a.session, a.next),
        Message::Want(t) => format!("want {}", topic(t)),
        Message::Unwant(t) => format!("unwant {}", topic(t)),
    }
}

#[test]
fn the_spec_has_a_vector_of_each_message_and_of_each_error() {
    let all = vectors();
    for kind in ["hello", "welcome", "frame", "ack", "want", "unwant"] {
        assert!(
            all.iter()
                .any(|v| v.message.as_deref().is_some_and(|m| m.starts_with(kind))),
            "no {kind} vector"
        );
    }
    for error in [
        "BadMagic",
        "UnsupportedVersion",
        "UnknownMessageType",
        "BadFlag",
        "TooManyTopics",
        "BadTopic",
        "TrailingBytes",
        "EmptyName",
    ] {
        assert!(
            all.iter().any(|v| v.error.as_deref() == Some(error)),
            "no {error} vector"
        );
    }
}

#[test]
fn valid_vectors_decode_to_their_message_and_reencode_to_their_bytes() {
    for v in vectors().into_iter().filter(|v| v.error.is_none()) {
        let message = Message::decode(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(Some(written(&message)), v.message, "{}", v.name);
        // Re-encoded from its parts (the wants as a fresh list), the same bytes.
        let list: Vec<&[u8]> = match &message {
            Message::Hello { wants, .. } | Message::Welcome { wants, .. } => wants.iter().collect(),
            _ => Vec::new(),
        };
        let rebuilt = match message {
            Message::Hello {
                name, session, ack, ..
            } => Message::Hello {
                name,
                session,
                ack,
                wants: Wants::list(&list),
            },
            Message::Welcome { session, ack, .. } => Message::Welcome {
                session,
                ack,
                wants: Wants::list(&list),
            },
            other => other,
        };
        let mut buf = vec![0u8; rebuilt.encoded_len()];
        assert_eq!(
            rebuilt.encode(&mut buf).unwrap(),
            &v.bytes[..],
            "{}",
            v.name
        );
    }
}

#[test]
fn invalid_vectors_fail_with_their_error() {
    for v in vectors().into_iter().filter(|v| v.error.is_some()) {
        let expected = v.error.unwrap();
        let err = Message::decode(&v.bytes).expect_err(&v.name);
        let debug = format!("{err:?}");
        let variant = debug.split([' ', '{', '(']).next().unwrap();
        assert_eq!(variant, expected, "{}: got {debug}", v.name);
    }
}
