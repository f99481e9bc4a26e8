//! State shared between the recording threads, the handles and the publisher thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::OverflowPolicy;
use crate::registry::{Registry, SeriesId};

/// One recorded measurement on its way to the publisher: 16 bytes, no pointers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub series: SeriesId,
    /// The value's bits: the counter increment as `i64`, the gauge as `f64` bits, the
    /// timer in nanoseconds.
    pub raw: u64,
}

/// Counters written by a single thread and read by anyone.
///
/// A single writer can increment with a plain load and store, which costs no more
/// than an ordinary memory write and never bounces the cache line between threads
/// the way a shared atomic increment would.
#[derive(Debug, Default)]
pub(crate) struct ThreadCounters {
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
}

/// Adds one to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Counters the publisher thread writes.
#[derive(Debug, Default)]
pub(crate) struct PublisherCounters {
    /// Measurements taken from the threads' buffers: counted here rather than by each
    /// record call, which keeps a counter write off the hot path.
    pub taken: AtomicU64,
    pub frames_sent: AtomicU64,
    pub measurements_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub dropped_backlog: AtomicU64,
    pub filtered: AtomicU64,
    pub backlog_frames: AtomicU64,
    pub backlog_measurements: AtomicU64,
    pub backlog_bytes: AtomicU64,
    pub connected: AtomicBool,
}

/// Requests from handles to the publisher thread, and its answers.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub flush_requested: u64,
    pub flush_done: u64,
    pub shutdown: bool,
}

pub(crate) struct Shared {
    pub id: u64,
    pub registry: Registry,
    pub ring_capacity: usize,
    pub overflow: OverflowPolicy,
    pub new_rings: Mutex<Vec<rtrb::Consumer<Event>>>,
    pub threads: Mutex<Vec<Arc<ThreadCounters>>>,
    /// Counts for recordings made where no thread state exists (during thread exit),
    /// and those of threads that have exited.
    pub orphans: Mutex<ThreadCountersSnapshot>,
    pub publisher: PublisherCounters,
    pub requests: Mutex<Requests>,
    pub wake: Condvar,
    pub sleeping: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ThreadCountersSnapshot {
    pub dropped: u64,
    pub rejected: u64,
}

impl Shared {
    pub(crate) fn new(
        id: u64,
        registry: Registry,
        ring_capacity: usize,
        overflow: OverflowPolicy,
    ) -> Self {
        Shared {
            id,
            registry,
            ring_capacity,
            overflow,
            new_rings: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            orphans: Mutex::new(ThreadCountersSnapshot::default()),
            publisher: PublisherCounters::default(),
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            sleeping: AtomicBool::new(false),
        }
    }

    /// Wakes the publisher if it is waiting; cheap when it is not.
    pub(crate) fn nudge(&self) {
        if self.sleeping.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// The totals of every recording thread, alive or gone. The counters of threads
    /// that have exited are folded into one total and let go, so a program that starts
    /// a thread per task does not grow this list without bound.
    pub(crate) fn thread_totals(&self) -> ThreadCountersSnapshot {
        let mut retired = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        let mut live = ThreadCountersSnapshot::default();
        threads.retain(|counters| {
            let dropped = counters.dropped.load(Ordering::Relaxed);
            let rejected = counters.rejected.load(Ordering::Relaxed);
            // Only this list holds it: its thread is gone and will never write again.
            let total = if Arc::strong_count(counters) == 1 {
                &mut *retired
            } else {
                &mut live
            };
            total.dropped += dropped;
            total.rejected += rejected;
            Arc::strong_count(counters) > 1
        });
        ThreadCountersSnapshot {
            dropped: retired.dropped + live.dropped,
            rejected: retired.rejected + live.rejected,
        }
    }

    /// How many recording threads' counters are held (live threads, and exited ones
    /// not yet folded into the totals).
    #[cfg(test)]
    pub(crate) fn thread_count(&self) -> usize {
        self.threads.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Asks the publisher to send everything recorded so far and waits up to
    /// `timeout` for the queue to empty. Returns whether it did.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        // A timeout too long for the clock (`Duration::MAX`) means no deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests.flush_requested += 1;
        let ticket = requests.flush_requested;
        self.wake.notify_all();
        while requests.flush_done < ticket {
            let left = deadline.map_or(Duration::from_secs(3600), |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            requests = self
                .wake
                .wait_timeout(requests, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Answers every flush requested so far.
    pub(crate) fn complete_flushes(&self) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests.flush_done = requests.flush_requested;
        self.wake.notify_all();
    }

    pub(crate) fn request_shutdown(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use crate::Zibrato;

    #[test]
    fn exited_threads_leave_their_counts_not_their_state() {
        let (z, _spy) = Zibrato::spy();
        for _ in 0..500 {
            let z = z.clone();
            std::thread::spawn(move || {
                z.count("info", "task");
                z.count("info", "bad\nname");
            })
            .join()
            .unwrap();
        }
        let stats = z.stats();
        assert_eq!(stats.rejected, 500, "the exited threads' counts are kept");
        assert!(
            z.shared().thread_count() <= 1,
            "{} thread states held",
            z.shared().thread_count()
        );
        assert_eq!(z.stats().rejected, 500, "and counted once");
    }
}
