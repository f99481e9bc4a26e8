//! The recording hot path: a per-thread cache of series ids and a per-thread
//! single-producer ring that the publisher drains. No lock, no allocation and no
//! shared-memory write on the steady-state path.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Instant;

use rtrb::{Producer, PushError, RingBuffer};

use crate::OverflowPolicy;
use crate::registry::{Key, KeyMap, KeyRef, SeriesId};
use crate::shared::{Event, Shared, ThreadCounters, bump};

/// Cached id for a key the registry refused (bad name, too many series), so a hot loop
/// with a bad name costs a lookup, not a lock.
const REJECTED: SeriesId = SeriesId::MAX;

/// What became of one recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Recorded,
    Rejected,
    Dropped,
}

struct Local {
    client: u64,
    shared: Weak<Shared>,
    producer: Producer<Event>,
    recent: Box<[Recent; RECENT]>,
    /// Every key this thread has used: its series id and its place in `keys`.
    cache: KeyMap<(SeriesId, u32)>,
    /// The same keys by place, so a recent slot confirms its key by index instead of
    /// holding a copy (whose reference counts would cost atomics on every miss).
    keys: Vec<Key>,
    counters: Arc<ThreadCounters>,
    until_nudge: usize,
}

/// Slots of the per-thread cache keyed by where the caller's strings are: 16 KiB per
/// recording thread and client.
const RECENT: usize = 1024;
const _: () = assert!(RECENT.is_power_of_two());

/// A recently used key, found by a fingerprint of the addresses and lengths of the
/// caller's strings (for literals and long-lived names, the same on every call) and
/// then confirmed by content, since memory is reused and fingerprints can collide:
/// mixing three addresses is cheaper than hashing the strings' bytes. Sixteen bytes, so
/// many fit in the first-level cache.
#[derive(Clone, Copy)]
struct Recent {
    fingerprint: u64,
    /// Index of the key in [`Local::keys`]; `u32::MAX` for an empty slot.
    key: u32,
    id: SeriesId,
}

const EMPTY: Recent = Recent {
    fingerprint: 0,
    key: u32::MAX,
    id: 0,
};

/// Where the caller's strings are, mixed into 64 bits; the top bits pick the slot.
#[inline]
fn fingerprint(key: &KeyRef<'_>) -> u64 {
    let place = |s: &str| (s.as_ptr() as u64) ^ ((s.len() as u64) << 48);
    let source = key.source.map_or(u64::MAX, place);
    place(key.level).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ place(key.name).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ source.wrapping_mul(0x1656_67B1_9E37_79F9)
        ^ u64::from(key.kind.code())
}

#[inline]
fn recent_slot(fingerprint: u64) -> usize {
    (fingerprint >> (u64::BITS - RECENT.trailing_zeros())) as usize % RECENT
}

impl Recent {
    #[inline]
    fn matches(&self, fingerprint: u64, key: &KeyRef<'_>, keys: &[Key]) -> bool {
        self.fingerprint == fingerprint
            && keys
                .get(self.key as usize)
                .is_some_and(|stored| key.equivalent_to(stored))
    }
}

thread_local! {
    static LOCALS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

impl Local {
    fn new(shared: &Arc<Shared>) -> Local {
        let (producer, consumer) = RingBuffer::new(shared.ring_capacity);
        let counters = Arc::new(ThreadCounters::default());
        shared
            .new_rings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(consumer);
        shared
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&counters));
        Local {
            client: shared.id,
            shared: Arc::downgrade(shared),
            producer,
            recent: Box::new([EMPTY; RECENT]),
            cache: KeyMap::default(),
            keys: Vec::new(),
            counters,
            until_nudge: nudge_interval(shared.ring_capacity),
        }
    }

    #[inline]
    fn push(&mut self, shared: &Shared, event: Event) -> Outcome {
        match self.producer.push(event) {
            Ok(()) => {
                self.until_nudge -= 1;
                if self.until_nudge == 0 {
                    // A quarter of the ring has filled since the last nudge: make sure
                    // the publisher is awake before the ring overflows.
                    self.until_nudge = nudge_interval(shared.ring_capacity);
                    shared.nudge();
                }
                Outcome::Recorded
            }
            Err(PushError::Full(event)) => self.push_full(shared, event),
        }
    }

    #[cold]
    fn push_full(&mut self, shared: &Shared, event: Event) -> Outcome {
        shared.nudge();
        if let OverflowPolicy::Block(timeout) = shared.overflow {
            // A timeout too long for the clock (`Duration::MAX`) waits as long as it takes.
            let deadline = Instant::now().checked_add(timeout);
            while deadline.is_none_or(|deadline| Instant::now() < deadline) {
                std::thread::yield_now();
                if self.producer.push(event).is_ok() {
                    return Outcome::Recorded;
                }
            }
        }
        bump(&self.counters.dropped);
        Outcome::Dropped
    }
}

fn nudge_interval(capacity: usize) -> usize {
    (capacity / 4).max(1)
}

/// Runs `f` with this thread's state for `shared`, creating it on first use.
#[inline]
fn with_local<R>(shared: &Arc<Shared>, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCALS
        .try_with(|locals| {
            let mut locals = locals.borrow_mut();
            let index = match locals.iter().position(|l| l.client == shared.id) {
                Some(index) => index,
                None => {
                    // Forget the state of clients that are gone before adding one.
                    locals.retain(|l| l.shared.strong_count() > 0);
                    locals.push(Local::new(shared));
                    locals.len() - 1
                }
            };
            f(&mut locals[index])
        })
        .ok()
}

/// Records `raw` for the series `key`, registering the series on first use.
#[inline]
pub(crate) fn record(shared: &Arc<Shared>, key: KeyRef<'_>, raw: u64) -> Outcome {
    let outcome = with_local(shared, |local| {
        let fingerprint = fingerprint(&key);
        let slot = recent_slot(fingerprint);
        let recent = &local.recent[slot];
        let id = if recent.matches(fingerprint, &key, &local.keys) {
            recent.id
        } else {
            lookup(shared, local, key, fingerprint)
        };
        if id == REJECTED {
            bump(&local.counters.rejected);
            return Outcome::Rejected;
        }
        local.push(shared, Event { series: id, raw })
    });
    outcome.unwrap_or_else(|| orphan(shared, Outcome::Dropped))
}

/// The key was not among the recent ones: find it in the thread's map (or register
/// it) and remember it in its recent slot.
fn lookup(shared: &Shared, local: &mut Local, key: KeyRef<'_>, fingerprint: u64) -> SeriesId {
    let (id, index) = match local.cache.get(&key) {
        Some(&found) => found,
        None => cache_miss(shared, local, key),
    };
    local.recent[recent_slot(fingerprint)] = Recent {
        fingerprint,
        key: index,
        id,
    };
    id
}

#[cold]
fn cache_miss(shared: &Shared, local: &mut Local, key: KeyRef<'_>) -> (SeriesId, u32) {
    let id = shared.registry.resolve(key).unwrap_or(REJECTED);
    if local.cache.len() >= 1 << 16 {
        // Bounded: a program inventing names forever costs lookups, not memory.
        local.cache.clear();
        local.keys.clear();
        local.recent.fill(EMPTY);
    }
    let index = local.keys.len() as u32;
    let stored = Key::of(key);
    local.keys.push(stored.clone());
    local.cache.insert(stored, (id, index));
    (id, index)
}

/// Records `raw` for an already registered series (the kept-handle path).
#[inline]
pub(crate) fn record_series(shared: &Arc<Shared>, series: SeriesId, raw: u64) -> Outcome {
    with_local(shared, |local| local.push(shared, Event { series, raw }))
        .unwrap_or_else(|| orphan(shared, Outcome::Dropped))
}

/// Counts a value refused before it reached the ring (e.g. a NaN gauge).
pub(crate) fn reject(shared: &Arc<Shared>) {
    with_local(shared, |local| bump(&local.counters.rejected)).unwrap_or_else(|| {
        orphan(shared, Outcome::Rejected);
    });
}

/// Counts a recording made while this thread's state is being torn down.
#[cold]
fn orphan(shared: &Shared, outcome: Outcome) -> Outcome {
    let mut orphans = shared.orphans.lock().unwrap_or_else(|e| e.into_inner());
    match outcome {
        Outcome::Rejected => orphans.rejected += 1,
        _ => orphans.dropped += 1,
    }
    outcome
}
