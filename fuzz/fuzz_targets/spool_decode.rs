//! The spool's reader, on bytes from a damaged disk or a hostile hand: never panics,
//! and what it accepts encodes again to what decodes the same. Half the inputs are
//! taken as a payload and given a correct header, so the fuzzer reaches the postcard
//! decoding behind the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_worker::spool::{decode, encode};

fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut file = b"ZBSPOOL1".to_vec();
        file.extend_from_slice(&(rest.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(rest).to_le_bytes());
        file.extend_from_slice(rest);
        file
    };
    if let Ok(window) = decode(&file) {
        let again = encode(&window).expect("a decoded window encodes");
        let twice = decode(&again).expect("an encoded window decodes");
        assert_eq!(encode(&twice).expect("encodes"), again);
    }
});
