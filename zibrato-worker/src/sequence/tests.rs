//! The sequence tracker's rules, frame by frame.

use super::*;

fn lost(o: Observed) -> u64 {
    match o {
        Observed::New { lost } => lost,
        other => panic!("not new: {other:?}"),
    }
}

#[test]
fn a_gap_is_lost_once_it_has_been_missing_past_the_allowance() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    assert_eq!(
        lost(t.observe(1, 0, 5, now)),
        0,
        "the first frame sets the start"
    );
    assert_eq!(lost(t.observe(1, 0, 6, now)), 0);
    assert_eq!(
        lost(t.observe(1, 0, 9, now)),
        0,
        "7 and 8 are missing, not lost yet"
    );
    assert_eq!(lost(t.observe(1, 1, 0, now)), 0, "levels are counted apart");
    assert_eq!(
        lost(t.observe(2, 0, 0, now)),
        0,
        "publishers are counted apart"
    );
    // Within the allowance, 8 arrives: reordered, never lost.
    assert_eq!(t.observe(1, 0, 8, now), Observed::Reordered);
    t.settle(now + REORDER_ALLOWANCE / 2, REORDER_ALLOWANCE);
    assert_eq!(t.lost, 0, "not missing for long enough yet");
    t.settle(now + REORDER_ALLOWANCE, REORDER_ALLOWANCE);
    assert_eq!(t.lost, 1, "7 is lost once missing for the allowance");
    // 7 after all: late (it was counted lost), and not counted twice.
    assert_eq!(t.observe(1, 0, 7, now), Observed::Late);
    assert_eq!(t.observe(1, 0, 7, now), Observed::Duplicate);
    assert_eq!(
        t.observe(1, 0, 9, now),
        Observed::Duplicate,
        "the last one again"
    );
    assert_eq!(lost(t.observe(1, 0, 10, now)), 0, "the numbering goes on");
    t.settle(now + 10 * REORDER_ALLOWANCE, Duration::ZERO);
    assert_eq!(
        (t.lost, t.late, t.reordered, t.duplicates),
        (1, 1, 1, 2),
        "lost for good: lost less late, 0"
    );
}

#[test]
fn a_missing_frame_that_falls_out_of_the_window_is_lost_at_once() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    t.observe(1, 0, 0, now);
    assert_eq!(lost(t.observe(1, 0, 2, now)), 0, "1 is missing");
    for sequence in 3..=WINDOW {
        assert_eq!(lost(t.observe(1, 0, sequence, now)), 0, "{sequence}");
    }
    assert_eq!(
        lost(t.observe(1, 0, WINDOW + 1, now)),
        1,
        "1 leaves the window"
    );
    // A gap wider than the window: the part below it is lost at once, the rest
    // is missing.
    assert_eq!(
        lost(t.observe(1, 0, WINDOW + 2 + 100, now)),
        100 - (WINDOW - 1)
    );
    t.settle(now, Duration::ZERO);
    assert_eq!(t.lost, 1 + 100, "every skipped number, once");
}

#[test]
fn what_a_forgotten_or_renumbered_pair_missed_is_lost() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    t.observe(1, 0, 0, now);
    t.observe(1, 0, 3, now);
    t.expire(now + Duration::from_secs(10), Duration::from_secs(1));
    assert_eq!(t.lost, 2, "1 and 2, when the pair is forgotten");
    t.observe(2, 0, 10, now);
    t.observe(2, 0, 12, now);
    assert_eq!(
        lost(t.observe(2, 0, 0, now)),
        1,
        "a new numbering ends the old one"
    );
    assert_eq!(t.lost, 3);
}

#[test]
fn numbers_before_the_first_frame_were_never_expected() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    t.observe(1, 0, 100, now);
    t.observe(1, 0, 101, now);
    t.settle(now, Duration::ZERO);
    assert_eq!(
        t.lost, 0,
        "99 and before belong to before the receiver joined"
    );
    assert_eq!(t.observe(1, 0, 99, now), Observed::Reordered);
    assert_eq!(t.lost, 0);
}

#[test]
fn resent_frames_are_duplicates_within_the_window_only() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    for sequence in 100..200 {
        t.observe(1, 0, sequence, now);
    }
    assert_eq!(
        t.observe(1, 0, 199 - (WINDOW - 1), now),
        Observed::Duplicate
    );
    assert_eq!(
        lost(t.observe(1, 0, 199 - WINDOW, now)),
        0,
        "beyond the window: a restart of the numbering"
    );
    assert_eq!(t.resets, 1);
}

#[test]
fn frame_zero_starts_a_new_numbering() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    for sequence in 0..10 {
        t.observe(1, 0, sequence, now);
    }
    // A device's level came back to a slot and numbers from 0 again: taken.
    assert_eq!(lost(t.observe(1, 0, 0, now)), 0);
    assert_eq!(lost(t.observe(1, 0, 1, now)), 0);
    assert_eq!((t.duplicates, t.resets), (0, 1));
}

#[test]
fn wrapping_is_a_step_and_huge_jumps_are_restarts() {
    let mut t = SequenceTracker::default();
    let now = Instant::now();
    t.observe(1, 0, u64::MAX - 1, now);
    assert_eq!(lost(t.observe(1, 0, u64::MAX, now)), 0);
    assert_eq!(lost(t.observe(1, 0, 0, now)), 0, "wraps to 0");
    assert_eq!(
        t.observe(1, 0, u64::MAX, now),
        Observed::Duplicate,
        "across the wrap"
    );
    assert_eq!(lost(t.observe(1, 0, 3, now)), 0, "a gap across nothing odd");
    t.settle(now, Duration::ZERO);
    assert_eq!(t.lost, 2, "1 and 2");
    assert_eq!(
        lost(t.observe(1, 0, u64::MAX / 2, now)),
        0,
        "a crafted jump"
    );
    assert_eq!(t.resets, 1);
    assert_eq!(lost(t.observe(1, 0, 2, now)), 0, "and back");
    assert_eq!(t.resets, 2);
    assert_eq!(t.lost, 2, "no overflow, no absurd loss");
    assert_eq!(
        lost(t.observe(1, 0, 3 + MAX_SEQUENCE_GAP, now)),
        MAX_SEQUENCE_GAP - (WINDOW - 1),
        "the largest gap, less what is still in the window"
    );
}

#[test]
fn a_flood_of_publishers_stays_within_the_capacity() {
    let mut t = SequenceTracker::with_capacity(1000);
    assert_eq!(t.capacity(), 1000);
    let now = Instant::now();
    t.observe(7, 0, 0, now);
    for publisher in 100..100_000u64 {
        t.observe(publisher, 0, 0, now);
        if publisher % 100 == 0 {
            // A real publisher that keeps sending keeps its place.
            t.observe(7, 0, publisher / 100, now);
        }
        assert!(t.len() <= t.capacity());
    }
    assert_eq!(t.lost, 0, "publisher 7 was never forgotten");
    t.expire(now + Duration::from_secs(10), Duration::from_secs(1));
    assert!(t.is_empty());
}
