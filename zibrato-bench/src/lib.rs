//! Helpers shared by Zibrato's benchmarks; the benchmarks themselves are in
//! `benches/`. Run them with `cargo bench -p zibrato-bench`.

pub mod peers;
pub mod procstat;
pub mod realistic;

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(i)` for `iterations` on each of `threads` threads at once and returns the
/// mean wall time one thread took for its `iterations` calls: what criterion's
/// `iter_custom` wants, so the figure is the cost of one call while the other threads
/// record too.
pub fn time_on_threads<F>(threads: usize, iterations: u64, work: F) -> Duration
where
    F: Fn(u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iterations {
                        work(i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .sum()
    });
    total / threads as u32
}
