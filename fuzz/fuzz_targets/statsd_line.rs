//! The broker's statsd line parser (`--statsd`), what any program on the network can
//! send: arbitrary bytes, split into lines as the ingress splits a datagram, never
//! panic; a line taken has a name of 1 to 255 characters the wire accepts, a sanitised
//! source, and finite samples with a positive rate and non-negative durations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_broker::statsd::{MAX_SAMPLES, Type, parse};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let mut samples = Vec::new();
    for line in text.split('\n') {
        let Ok(parsed) = parse(line, &["crit", "info"], &mut samples) else {
            continue;
        };
        zibrato_wire::validate_name(&parsed.name).expect("a name the wire takes");
        assert!(parsed.name.bytes().all(|b| b.is_ascii_graphic()));
        if let Some(source) = &parsed.source {
            zibrato_wire::validate_name(source).expect("a source the wire takes");
        }
        assert!(!samples.is_empty() && samples.len() <= MAX_SAMPLES);
        for sample in &samples {
            assert!(sample.value.is_finite() && sample.rate.is_finite() && sample.rate > 0.0);
            if sample.kind == Type::Timer {
                assert!(sample.value >= 0.0);
            }
        }
    }
});
