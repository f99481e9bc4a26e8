//! The steady-state record call allocates nothing: counted with an instrumented
//! global allocator that only counts on the thread under test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use zibrato_client::Zibrato;

struct Counting;

thread_local! {
    // Both per thread: tests run in parallel, and only the thread under test counts.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counting
// only touches const-initialised thread-locals, which do not allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn steady_state_recording_allocates_nothing() {
    let (z, _spy) = Zibrato::spy();
    let web = z.with_source("web-1");
    let hits = z.register_counter("info", "kept.hits").unwrap();
    let latency = z.register_timer("info", "kept.latency").unwrap();
    let record = |i: u64| {
        z.count("info", "requests");
        z.count_by("info", "bytes", i as i64);
        web.gauge("info", "depth", i as f64);
        z.time_ns("debug", "latency", i);
        z.time("debug", "latency", Duration::from_nanos(i));
        hits.increment(1);
        latency.record_ns(i);
        let _guard = z.time_me("info", "guarded");
        let _count = z.count_me("info", "guarded.calls");
    };
    // Warm up: the first use of each series on this thread registers it (allocating
    // once), and the first record creates this thread's buffer.
    record(0);
    let mut n = 1;
    let allocations = allocations_during(|| {
        for _ in 0..5_000 {
            record(n);
            n += 1;
        }
    });
    assert_eq!(allocations, 0, "the record path allocated");
    z.flush(Duration::from_secs(5)).unwrap();
    let stats = z.stats();
    // Nine measurements per round; a full buffer drops (and counts), never allocates.
    assert_eq!(
        stats.recorded + stats.dropped_buffer_full,
        5_001 * 9,
        "{stats:?}"
    );
}

#[test]
fn many_series_beyond_the_recent_slots_allocate_nothing_either() {
    let z = Zibrato::noop();
    let names: Vec<String> = (0..500).map(|i| format!("series.{i}")).collect();
    for name in &names {
        z.count("info", name);
    }
    let allocations = allocations_during(|| {
        for _ in 0..10 {
            for name in &names {
                z.count("info", name);
            }
        }
    });
    assert_eq!(allocations, 0);
}

#[test]
fn the_allocator_counts_what_it_should() {
    let allocations = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(allocations, 1);
}
