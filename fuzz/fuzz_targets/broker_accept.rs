//! The broker's accept path, the exact function it runs on every frame a publisher
//! sends: never panics, and accepts exactly what the wire decoder accepts, with the same
//! measurement count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_broker::{DropReason, accept};
use zibrato_wire::Frame;

fuzz_target!(|bytes: &[u8]| {
    match (accept(bytes), Frame::decode(bytes)) {
        (Ok(accepted), Ok(frame)) => assert_eq!(accepted.measurements, frame.measurement_count()),
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            let _ = DropReason::of(a).as_str();
        }
        (a, b) => panic!("accept {a:?} but decode {b:?}"),
    }
});
