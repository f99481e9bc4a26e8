//! The values the daemons parse from their command lines and environment: seconds
//! (`--flush`, `--stats-interval`, …) and levels (`--levels`). Never panic; what parses
//! is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zibrato_wire::Level;

fuzz_target!(|text: &str| {
    if let Ok(duration) = zibrato_common::parse_seconds(text) {
        assert!(!duration.is_zero());
    }
    for part in text.split(',') {
        if let Ok(level) = Level::new(part.trim()) {
            let topic = level.topic();
            assert_eq!(topic.as_bytes().last(), Some(&0));
            assert_eq!(
                Level::split_topic(topic.as_bytes()).map(|(l, _)| l),
                Ok(level)
            );
        }
    }
});
