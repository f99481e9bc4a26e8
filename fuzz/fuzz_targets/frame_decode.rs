//! Frame decoding and validation (zibrato-wire): arbitrary bytes never panic, and a
//! frame that decodes re-encodes to the same level, header and measurements, which
//! decode again the same.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use zibrato_wire::{Frame, FrameBuilder, Measurement, Value};

type Series<'a> = BTreeMap<(&'a str, Option<&'a str>, u8), Vec<Value>>;

fn by_series<'a>(measurements: impl Iterator<Item = Measurement<'a>>) -> Series<'a> {
    let mut series = Series::new();
    for m in measurements {
        series
            .entry((m.name, m.source, m.kind().code()))
            .or_default()
            .push(m.value);
    }
    series
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(frame) = Frame::decode(bytes) else {
        return;
    };
    let measurements: Vec<Measurement> = frame.measurements().collect();
    assert_eq!(measurements.len(), frame.measurement_count());
    assert_eq!(frame.strings().count(), frame.strings().len());
    assert!(
        frame.string_bytes().eq(frame.strings().map(str::as_bytes)),
        "string_bytes and strings disagree"
    );

    // Re-encode. Duplicate strings or series in the input are merged by `push`, so
    // compare per series.
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
    // Every series keeps its values, in order; nothing is added or lost.
    assert_eq!(
        by_series(measurements.iter().copied()),
        by_series(again.measurements())
    );
});
