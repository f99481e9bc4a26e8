//! Helpers shared by Zibrato's benchmarks; the benchmarks themselves are in
//! `benches/`. Run them with `cargo bench -p zibrato-bench`.

pub mod daemons;
pub mod links;
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

/// Offers work at `rate` items per second for `seconds`: calls `send(due)` with how
/// many items are due now, `send` returns how many it did (it may do fewer, in
/// batches), and sleeps 50 µs whenever it is ahead. Returns how many were done.
pub fn paced(rate: f64, seconds: f64, mut send: impl FnMut(u64) -> u64) -> u64 {
    let start = Instant::now();
    let total = (rate * seconds) as u64;
    let mut done = 0u64;
    while done < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        if done >= due {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        done += send(due - done);
    }
    done
}
