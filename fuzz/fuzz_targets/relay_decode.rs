//! Relay message decoding (zibrato-wire's `relay`, what a broker reads on its relay
//! port from any peer): arbitrary bytes never panic, and a message that decodes
//! re-encodes, from its parts, to exactly the same bytes (every field has one encoding
//! a decoder accepts back, varints aside, which must then decode to the same message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_wire::relay::{Message, Wants};

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = Message::decode(bytes) else {
        return;
    };
    let list: Vec<&[u8]> = match &message {
        Message::Hello { wants, .. } | Message::Welcome { wants, .. } => {
            assert_eq!(wants.iter().count(), wants.len());
            wants.iter().collect()
        }
        _ => Vec::new(),
    };
    let rebuilt = match message {
        Message::Hello { name, session, ack, .. } => Message::Hello {
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
    let encoded = rebuilt.encode(&mut buf).expect("a decoded message encodes");
    assert_eq!(encoded.len(), rebuilt.encoded_len());
    let again = Message::decode(encoded).expect("a re-encoded message decodes");
    let same = match (&again, &rebuilt) {
        (Message::Hello { wants: a, .. }, Message::Hello { wants: b, .. })
        | (Message::Welcome { wants: a, .. }, Message::Welcome { wants: b, .. }) => {
            a.iter().eq(b.iter())
        }
        (a, b) => a == b,
    };
    assert!(same, "{again:?} != {rebuilt:?}");
    assert!(encoded.len() <= bytes.len(), "the shortest form is never longer");
});
