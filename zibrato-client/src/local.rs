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
    recent: Box<[Option<Recent>; RECENT]>,
    /// Every key this thread has used: its series id and its place in `keys`.
    cache: KeyMap<(SeriesId, u32)>,
    /// The same keys by place, so a recent slot confirms its key by index instead of
    /// holding a copy (whose reference counts would cost atomics on every miss).
    keys: Vec<Key>,
    counters: Arc<ThreadCounters>,
    until_nudge: usize,
}

/// Slots of the per-thread cache keyed by where the caller's strings are.
const RECENT: usize = 64;
const _: () = assert!(RECENT.is_power_of_two());

/// A recently used key, found by the address and length of the caller's strings (for
/// literals, the same on every call) and then confirmed by content, since memory is
/// reused: hashing two addresses is cheaper than hashing the strings' bytes.
struct Recent {
    kind: u8,
    level: (usize, usize),
    name: (usize, usize),
    source: (usize, usize),
    /// Index of the key in [`Local::keys`].
    key: u32,
    id: SeriesId,
}

fn location(s: &str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

fn source_location(s: Option<&str>) -> (usize, usize) {
    s.map_or((0, usize::MAX), location)
}

#[inline]
fn recent_slot(key: &KeyRef<'_>) -> usize {
    let mixed = (key.level.as_ptr() as usize)
        .wrapping_mul(31)
        .wrapping_add(key.name.as_ptr() as usize)
        .wrapping_add(key.source.map_or(0, |s| s.as_ptr() as usize))
        .wrapping_add(key.kind.code() as usize);
    // The top bits of a multiplicative hash: as many as index RECENT slots.
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize)
        >> (usize::BITS - RECENT.trailing_zeros()))
        % RECENT
}

impl Recent {
    #[inline]
    fn matches(&self, key: &KeyRef<'_>, keys: &[Key]) -> bool {
        self.kind == key.kind.code()
            && self.name == location(key.name)
            && self.level == location(key.level)
            && self.source == source_location(key.source)
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
            recent: Box::new([const { None }; RECENT]),
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
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
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
        let slot = recent_slot(&key);
        let id = match &local.recent[slot] {
            Some(recent) if recent.matches(&key, &local.keys) => recent.id,
            _ => lookup(shared, local, key, slot),
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
fn lookup(shared: &Shared, local: &mut Local, key: KeyRef<'_>, slot: usize) -> SeriesId {
    let (id, index) = match local.cache.get(&key) {
        Some(&found) => found,
        None => cache_miss(shared, local, key),
    };
    local.recent[slot] = Some(Recent {
        kind: key.kind.code(),
        level: location(key.level),
        name: location(key.name),
        source: source_location(key.source),
        key: index,
        id,
    });
    id
}

#[cold]
fn cache_miss(shared: &Shared, local: &mut Local, key: KeyRef<'_>) -> (SeriesId, u32) {
    let id = shared.registry.resolve(key).unwrap_or(REJECTED);
    if local.cache.len() >= 1 << 16 {
        // Bounded: a program inventing names forever costs lookups, not memory.
        local.cache.clear();
        local.keys.clear();
        local.recent.fill_with(|| None);
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
