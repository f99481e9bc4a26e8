//! Property tests: every valid frame survives encode → decode, and no input makes the
//! decoder panic.

use proptest::prelude::*;
use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement, Value, limits};

fn level() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,32}"
}

fn name() -> impl Strategy<Value = String> {
    // Any non-control characters, including multi-byte ones, up to the byte limit.
    "[^\\x00-\\x1f\\x7f]{1,40}"
        .prop_filter("at most 255 bytes", |s| s.len() <= limits::MAX_NAME_LEN)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Counter),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(Value::Gauge),
        any::<u64>().prop_map(Value::Timer),
    ]
}

type Input = (
    String,
    (u64, u64, u64),
    Vec<(usize, Option<usize>, Value)>,
    Vec<String>,
);

fn frame_input() -> impl Strategy<Value = Input> {
    (
        level(),
        any::<(u64, u64, u64)>(),
        prop::collection::vec((0usize..8, prop::option::of(0usize..8), value()), 0..200),
        prop::collection::vec(name(), 8),
    )
}

proptest! {
    #[test]
    fn valid_frames_round_trip((level, (p, s, t), items, names) in frame_input()) {
        let level = Level::new(&level).unwrap();
        let header = Header { publisher: p, sequence: s, time_us: t };
        let pushed: Vec<Measurement> = items
            .iter()
            .map(|&(n, src, v)| Measurement::new(&names[n], src.map(|i| names[i].as_str()), v).unwrap())
            .collect();
        let mut builder = FrameBuilder::<&str, 16, 256, 256>::new();
        for m in &pushed {
            builder.push(*m).unwrap();
        }
        let mut buf = vec![0u8; FrameBuilder::<&str, 16, 256, 256>::MAX_ENCODED_LEN];
        let bytes = builder.encode(level, &header, &mut buf).unwrap();
        prop_assert_eq!(bytes.len(), builder.encoded_len(level, &header));

        let frame = Frame::decode(bytes).unwrap();
        prop_assert_eq!(frame.level(), level);
        prop_assert_eq!(frame.header(), header);
        let decoded: Vec<Measurement> = frame.measurements().collect();
        prop_assert_eq!(decoded.len(), pushed.len());
        // Grouping by series reorders across series but never within one.
        for m in &pushed {
            let same = |x: &&Measurement| x.name == m.name && x.source == m.source && x.kind() == m.kind();
            let sent: Vec<Value> = pushed.iter().filter(same).map(|x| x.value).collect();
            let got: Vec<Value> = decoded.iter().filter(same).map(|x| x.value).collect();
            prop_assert_eq!(sent, got);
        }
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_with_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(frame) = Frame::decode(&bytes) {
            // A frame that decodes is fully readable.
            prop_assert_eq!(frame.measurements().count(), frame.measurement_count());
            prop_assert_eq!(frame.strings().count(), frame.strings().len());
            prop_assert!(
                frame.string_bytes().eq(frame.strings().map(str::as_bytes)),
                "string_bytes and strings disagree"
            );
        }
    }

    #[test]
    fn valid_prefix_then_arbitrary_tail_never_panics(
        tail in prop::collection::vec(any::<u8>(), 0..256),
        cut in 0usize..64,
    ) {
        let mut bytes = b"info\0Z\x01\x01\x00\x02\x01\x04hits\x01\x00\x00\x00\x02\x02\x04".to_vec();
        bytes.truncate(bytes.len().saturating_sub(cut % bytes.len()));
        bytes.extend_from_slice(&tail);
        if let Ok(frame) = Frame::decode(&bytes) {
            prop_assert_eq!(frame.measurements().count(), frame.measurement_count());
        }
    }
}
