//! The broker's stream reader (`--stream`): any bytes through the COBS stream decoder
//! and every record through the frame decoder. Never panics; never holds more than its
//! buffer; and frames written with `encode_for_stream` between the fuzzer's bytes come
//! back whole after the next delimiter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_wire::Frame;
use zibrato_wire::stream::{StreamDecoder, encode_for_stream, stream_len};

const BUF: usize = 512;

fuzz_target!(|bytes: &[u8]| {
    let mut decoder = StreamDecoder::<BUF>::new();
    for &byte in bytes {
        if let Some(Ok(record)) = decoder.push(byte) {
            let _ = Frame::decode(record);
        }
        assert!(decoder.pending() <= BUF);
    }
    // Whatever came before, a delimiter and then an encoded record come back intact.
    let payload = &bytes[..bytes.len().min(BUF - 8)];
    let mut out = [0u8; stream_len(BUF)];
    let encoded = encode_for_stream(payload, &mut out).expect("the buffer fits");
    decoder.push(0);
    let mut found = None;
    for &byte in encoded {
        if let Some(result) = decoder.push(byte) {
            found = Some(result.map(<[u8]>::to_vec));
        }
    }
    if payload.is_empty() {
        assert!(found.is_none(), "an empty record is skipped");
    } else {
        assert_eq!(found, Some(Ok(payload.to_vec())));
    }
});
