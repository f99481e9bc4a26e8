//! Frame decoding and validation (zibrato-wire): arbitrary bytes never panic, and a
//! frame that decodes re-encodes to the same level, header and measurements, which
//! decode again the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_wire::{Frame, FrameBuilder, Measurement};

fuzz_target!(|bytes: &[u8]| {
    let Ok(frame) = Frame::decode(bytes) else {
        return;
    };
    let measurements: Vec<Measurement> = frame.measurements().collect();
    assert_eq!(measurements.len(), frame.measurement_count());
    assert_eq!(frame.strings().count(), frame.strings().len());

    // Re-encode. Duplicate strings or series in the input are merged by `push`, so
    // compare measurements per series, in order.
    let mut builder = Box::new(FrameBuilder::<&str, 8192, 4096, 65535>::new());
    for m in &measurements {
        builder.push(*m).expect("a decoded measurement is valid");
    }
    let mut buf = vec![0u8; builder.encoded_len(frame.level(), &frame.header())];
    let encoded = builder
        .encode(frame.level(), &frame.header(), &mut buf)
        .expect("encodes");
    let again = Frame::decode(encoded).expect("a re-encoded frame decodes");
    assert_eq!(again.level(), frame.level());
    assert_eq!(again.header(), frame.header());
    let mut first: Vec<_> = measurements
        .iter()
        .map(|m| (m.name, m.source, m.kind().code()))
        .collect();
    let mut second: Vec<_> = again
        .measurements()
        .map(|m| (m.name, m.source, m.kind().code()))
        .collect();
    first.sort();
    second.sort();
    assert_eq!(first, second);
    for series in again.measurements() {
        let sent: Vec<_> = measurements
            .iter()
            .filter(|m| {
                m.name == series.name && m.source == series.source && m.kind() == series.kind()
            })
            .map(|m| m.value)
            .collect();
        let got: Vec<_> = again
            .measurements()
            .filter(|m| {
                m.name == series.name && m.source == series.source && m.kind() == series.kind()
            })
            .map(|m| m.value)
            .collect();
        assert_eq!(sent, got);
    }
});
