//! The outbox's rules: holding, acknowledging, bounds and what is counted.

use std::time::Duration;

use super::*;

fn entry(topic: &[u8], arrival: u64) -> Entry<Vec<u8>> {
    let mut frame = topic.to_vec();
    frame.extend_from_slice(b"Z\x01rest");
    Entry {
        frame,
        topic_len: topic.len(),
        measurements: 2,
        arrival,
    }
}

fn outbox(start: Instant) -> Outbox<Vec<u8>> {
    Outbox::new(Grace::new(Duration::from_secs(10), 16, start))
}

#[test]
fn held_frames_wait_for_their_level_in_order() {
    let start = Instant::now();
    let mut o = outbox(start);
    assert!(matches!(
        o.offer(entry(b"a\0", 1), true, || Some(start)),
        Offered::Wanted(_)
    ));
    assert!(matches!(
        o.offer(entry(b"a\0", 2), false, || Some(start)),
        Offered::Held
    ));
    assert!(matches!(
        o.offer(entry(b"b\0", 3), false, || Some(start)),
        Offered::Held
    ));
    assert!(matches!(
        o.offer(entry(b"a\0", 4), false, || Some(start)),
        Offered::Held
    ));
    o.want(b"a\0");
    let released: Vec<u64> = std::iter::from_fn(|| o.pop_ready())
        .map(|e| e.arrival)
        .collect();
    assert_eq!(released, [2, 4]);
    assert_eq!(o.pending(), Tally::one(2), "b stays held");
    // Past the start-up grace, b was never wanted: unwanted, no loss.
    let later = start + Duration::from_secs(11);
    let dropped = o.expire(later);
    assert_eq!(
        (dropped.unwanted, dropped.lost),
        (Tally::one(2), Tally::default())
    );
    assert!(matches!(
        o.offer(entry(b"c\0", 5), false, || Some(later)),
        Offered::Unwanted(_)
    ));
    // A level that lost its subscriber is held, and lost when the grace runs out.
    assert!(o.unwant(b"c\0", later));
    assert!(matches!(
        o.offer(entry(b"c\0", 6), false, || Some(later)),
        Offered::Held
    ));
    let dropped = o.expire(later + Duration::from_secs(10));
    assert_eq!(dropped.lost, Tally::one(2));
    assert!(o.is_empty());
    assert_eq!(o.bytes(), 0);
}

#[test]
fn a_link_resends_what_was_not_acknowledged_first() {
    let start = Instant::now();
    let mut o = outbox(start);
    for arrival in 0..4 {
        o.queue(entry(b"a\0", arrival));
    }
    let mut sent = Vec::new();
    for _ in 0..3 {
        let (sequence, e) = o.next_to_send().unwrap();
        sent.push((sequence, e.arrival));
        o.sent();
    }
    assert_eq!(sent, [(0, 0), (1, 1), (2, 2)]);
    assert_eq!(o.ack(1), Tally::one(2));
    // The connection breaks; the receiver says it has 0 and 1: 2 goes again.
    assert_eq!(o.rewind(Some(2)), Tally::one(2));
    assert_eq!(o.next_to_send().map(|(s, e)| (s, e.arrival)), Some((2, 2)));
    o.sent();
    assert_eq!(o.next_to_send().map(|(s, e)| (s, e.arrival)), Some((3, 3)));
    // Not sent (the socket was full): the same frame and number next time.
    assert_eq!(o.next_to_send().map(|(s, _)| s), Some(3));
    o.sent();
    assert!(!o.has_unsent());
    assert_eq!(
        o.ack(4),
        Tally {
            frames: 2,
            measurements: 4
        }
    );
    assert!(o.is_empty());
    assert_eq!(o.bytes(), 0);
}

#[test]
fn the_oldest_frame_goes_first_wherever_it_waits() {
    let start = Instant::now();
    let mut o = outbox(start);
    o.queue(entry(b"a\0", 5));
    o.next_to_send();
    o.sent();
    assert!(matches!(
        o.offer(entry(b"b\0", 3), false, || Some(start)),
        Offered::Held
    ));
    o.queue(entry(b"a\0", 7));
    let order: Vec<(u64, Option<Keep>)> = std::iter::from_fn(|| o.pop_oldest())
        .map(|(e, keep)| (e.arrival, keep))
        .collect();
    assert_eq!(
        order,
        [(3, Some(Keep::StartUp)), (5, None), (7, None)],
        "a frame held since start-up was never wanted"
    );
    assert_eq!(o.bytes(), 0);
    assert!(!o.has_unsent());
}

#[test]
fn clearing_tells_nobody_wanted_from_lost() {
    let start = Instant::now();
    let mut o = outbox(start);
    assert!(matches!(
        o.offer(entry(b"a\0", 1), false, || Some(start)),
        Offered::Held
    ));
    o.unwant(b"b\0", start);
    assert!(matches!(
        o.offer(entry(b"b\0", 2), false, || Some(start)),
        Offered::Held
    ));
    o.queue(entry(b"c\0", 3));
    let dropped = o.clear();
    assert_eq!(dropped.unwanted, Tally::one(2));
    assert_eq!(
        dropped.lost,
        Tally {
            frames: 2,
            measurements: 4
        }
    );
    assert!(o.is_empty());
}
