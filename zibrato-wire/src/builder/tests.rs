//! The frame builder's rules: tables, capacities, encoding.

use super::*;
use crate::Frame;

fn header() -> Header {
    Header {
        publisher: 0xfeed,
        sequence: 9,
        time_us: 1_700_000_000_000_000,
    }
}

#[test]
fn encoded_len_is_exact() {
    let mut b = FrameBuilder::<&str, 16, 16, 1024>::new();
    let level = Level::new("debug").unwrap();
    for i in 0..600i64 {
        let name = ["a", "bb", "ccc"][i as usize % 3];
        let value = match i % 3 {
            0 => Value::Counter(i * 1000 - 7),
            1 => Value::Gauge(i as f64 / 3.0),
            _ => Value::Timer(i as u64 * 1_000_003),
        };
        b.push(Measurement::new(name, Some("src"), value).unwrap())
            .unwrap();
        let mut buf = [0u8; 8192];
        let len = b.encode(level, &header(), &mut buf).unwrap().len();
        assert_eq!(len, b.encoded_len(level, &header()));
        let small = Header::default(); // three one-byte varints
        assert_eq!(
            b.encoded_len(level, &small),
            "debug".len() + 3 + 3 + b.tables_len()
        );
    }
}

#[test]
fn owned_strings_let_a_builder_be_kept_and_reused() {
    extern crate std;
    use std::sync::Arc;
    let mut b = FrameBuilder::<Arc<str>, 4, 4, 8>::new();
    let level = Level::new("x").unwrap();
    for round in 0..3 {
        let name: Arc<str> = Arc::from("reused");
        let id = b.add_string(Arc::clone(&name)).unwrap();
        let series = b.add_series(Kind::Counter, id, None).unwrap();
        b.push_value(series, Value::Counter(round)).unwrap();
        let mut buf = [0u8; 64];
        let frame = Frame::decode(b.encode(level, &header(), &mut buf).unwrap()).unwrap();
        assert_eq!(
            frame.measurements().next().unwrap().value,
            Value::Counter(round)
        );
        b.clear();
    }
}

#[test]
fn series_without_values_are_left_out() {
    let mut b = FrameBuilder::<&str, 4, 4, 4>::new();
    let name = b.add_string("idle").unwrap();
    b.add_series(Kind::Gauge, name, None).unwrap();
    let mut buf = [0u8; 64];
    let level = Level::new("x").unwrap();
    let bytes = b.encode(level, &header(), &mut buf).unwrap();
    let frame = Frame::decode(bytes).unwrap();
    assert_eq!(frame.series_count(), 0);
}

#[test]
fn capacity_and_kinds_are_enforced() {
    let mut b = FrameBuilder::<&str, 2, 2, 2>::new();
    let name = b.add_string("n").unwrap();
    let series = b.add_series(Kind::Counter, name, None).unwrap();
    assert_eq!(
        b.push_value(series, Value::Timer(1)),
        Err(Error::KindMismatch)
    );
    b.push_value(series, Value::Counter(1)).unwrap();
    b.push_value(series, Value::Counter(1)).unwrap();
    assert_eq!(
        b.push_value(series, Value::Counter(1)),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(
        b.push_value(SeriesId(7), Value::Counter(1)),
        Err(Error::UnknownHandle)
    );
    let mut tiny = [0u8; 4];
    assert!(matches!(
        b.encode(Level::new("x").unwrap(), &header(), &mut tiny),
        Err(Error::BufferTooSmall { .. })
    ));
}

#[test]
fn max_encoded_len_bounds_a_full_builder() {
    type B<'a> = FrameBuilder<&'a str, 2, 2, 8>;
    let long = core::str::from_utf8(&[b'n'; MAX_NAME_LEN]).unwrap();
    let long2 = core::str::from_utf8(&[b'm'; MAX_NAME_LEN]).unwrap();
    let mut b = B::new();
    for i in 0..8 {
        let value = Value::Timer(u64::MAX - i);
        b.push(Measurement::new(long, Some(long2), value).unwrap())
            .unwrap();
    }
    let level = Level::new(core::str::from_utf8(&[b'l'; MAX_LEVEL_LEN]).unwrap()).unwrap();
    let header = Header {
        publisher: u64::MAX,
        sequence: u64::MAX,
        time_us: u64::MAX,
    };
    assert!(b.encoded_len(level, &header) <= B::MAX_ENCODED_LEN);
}
