//! The Prometheus worker's exposition, from a frame's names (untrusted strings: any
//! UTF-8 without control characters, `;`, `=`, quotes and backslashes included) through
//! decode → aggregate → merge → render. Never panics, and every line of the text is
//! legal in the text format: `# HELP`/`# TYPE` with a legal metric name, samples with a
//! legal name, legal label names, escaped values and a number; no family declared
//! twice; no sample line twice.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use zibrato_prometheus::Exposition;
use zibrato_wire::Frame;
use zibrato_worker::Window;
use zibrato_worker::internals::Aggregator;

fn metric_name(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..end];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

/// Checks `{label="value",…}` and returns what follows it.
fn labels(mut text: &str) -> &str {
    text = text.strip_prefix('{').expect("labels open with {");
    loop {
        let end = text.find('=').expect("label has =");
        let name = &text[..end];
        assert!(
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "label name {name:?}"
        );
        text = text[end + 1..]
            .strip_prefix('"')
            .expect("value opens with \"");
        let mut chars = text.char_indices();
        let close = loop {
            match chars.next().expect("value closes") {
                (_, '\\') => {
                    let (_, escaped) = chars.next().expect("escape completes");
                    assert!(matches!(escaped, '\\' | '"' | 'n'), "escape \\{escaped}");
                }
                (i, '"') => break i,
                (_, c) => assert!(c != '\n', "raw line feed in a value"),
            }
        };
        text = &text[close + 1..];
        if let Some(rest) = text.strip_prefix(',') {
            text = rest;
        } else {
            return text.strip_prefix('}').expect("labels close with }");
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(frame) = Frame::decode(bytes) else {
        return;
    };
    let now = Instant::now();
    let mut aggregator = Aggregator::new(vec![0.5, 0.99], Duration::from_secs(60));
    aggregator.ingest(&frame, now);
    let window = Window::new(0, Duration::from_secs(1), aggregator.flush(now));
    let mut exposition = Exposition::new("", Duration::from_secs(60));
    exposition.merge(&window);
    exposition.merge(&window);
    let text = exposition.render();

    let mut families = HashSet::new();
    let mut samples = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = metric_name(rest).expect("HELP names a metric");
            assert!(rest[name.len()..].starts_with(' '), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = metric_name(rest).expect("TYPE names a metric");
            let kind = &rest[name.len()..];
            assert!(matches!(kind, " counter" | " gauge" | " summary"), "{line}");
            assert!(families.insert(name.to_string()), "family twice: {line}");
        } else {
            let name = metric_name(line).expect("a sample starts with a metric name");
            let rest = &line[name.len()..];
            let value = if rest.starts_with('{') {
                labels(rest)
            } else {
                rest
            };
            let value = value.strip_prefix(' ').expect("a space before the value");
            assert!(
                matches!(value, "NaN" | "+Inf" | "-Inf") || value.parse::<f64>().is_ok(),
                "value {value:?}"
            );
            assert!(
                samples.insert(line[..line.len() - value.len()].to_string()),
                "sample twice: {line}"
            );
        }
    }
});
