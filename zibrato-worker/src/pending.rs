//! Windows waiting for delivery: bounded in memory, and on disk when there is a spool.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{error, warn};
use zibrato_common::RateLimiter;

use crate::spool::{Spool, SpoolFile};
use crate::{Window, WorkerStats};

/// The bounds of the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Most bytes of windows held in memory (`--max-pending-bytes`).
    pub memory: usize,
    /// Most bytes of window files in the spool (`--spool-max-bytes`).
    pub spool: u64,
}

#[derive(Debug)]
struct Entry {
    /// The window, unless it is kept on disk only until its turn.
    window: Option<Window>,
    /// Its size in memory when loaded.
    bytes: usize,
    file: Option<SpoolFile>,
}

/// The queue of windows not yet delivered, oldest first.
pub(crate) struct Pending {
    queue: VecDeque<Entry>,
    bounds: Bounds,
    memory: usize,
    spooled: u64,
    spool: Option<Spool>,
    stats: Arc<WorkerStats>,
    drop_log: RateLimiter,
    spool_log: RateLimiter,
}

impl Pending {
    /// A queue with these bounds; with a spool, starting with the windows a previous
    /// run left in it (read when their turn comes).
    pub fn new(
        bounds: Bounds,
        spool: Option<(Spool, Vec<SpoolFile>)>,
        stats: Arc<WorkerStats>,
    ) -> Pending {
        let mut pending = Pending {
            queue: VecDeque::new(),
            bounds,
            memory: 0,
            spooled: 0,
            spool: None,
            stats,
            drop_log: RateLimiter::new(Duration::from_secs(10)),
            spool_log: RateLimiter::new(Duration::from_secs(10)),
        };
        if let Some((spool, files)) = spool {
            for file in files {
                pending.spooled += file.bytes;
                pending.queue.push_back(Entry {
                    window: None,
                    bytes: 0,
                    file: Some(file),
                });
            }
            pending.spool = Some(spool);
            pending.enforce();
        }
        pending
    }

    /// Windows waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes of window files in the spool.
    pub fn spooled_bytes(&self) -> u64 {
        self.spooled
    }

    /// Adds a flushed window: written to the spool first, if there is one.
    pub fn push(&mut self, window: Window) {
        let file = match &mut self.spool {
            Some(spool) => match spool.write(&window) {
                Ok(file) => Some(file),
                Err(e) => {
                    self.stats.spool_errors.fetch_add(1, Ordering::Relaxed);
                    if let Some(suppressed) = self.spool_log.check() {
                        error!(error = %e, measure_time = window.measure_time, suppressed, "cannot write the window to the spool; it is kept in memory only");
                    }
                    None
                }
            },
            None => None,
        };
        let bytes = window.approx_bytes();
        self.memory += bytes;
        self.spooled += file.as_ref().map_or(0, |f| f.bytes);
        self.queue.push_back(Entry {
            window: Some(window),
            bytes,
            file,
        });
        self.enforce();
    }

    /// The oldest window, read from the spool if it waited there. A file that does not
    /// read back is reported, set aside and skipped.
    pub fn front(&mut self) -> Option<&mut Window> {
        loop {
            let entry = self.queue.front_mut()?;
            if entry.window.is_some() {
                break;
            }
            let (Some(file), Some(spool)) = (&entry.file, &self.spool) else {
                self.queue.pop_front();
                continue;
            };
            match spool.read(file) {
                Ok(window) => {
                    entry.bytes = window.approx_bytes();
                    self.memory += entry.bytes;
                    entry.window = Some(window);
                    break;
                }
                Err(corrupt) => {
                    self.stats.spool_errors.fetch_add(1, Ordering::Relaxed);
                    error!(
                        file = %corrupt.path.display(),
                        reason = %corrupt.reason,
                        "a spooled window cannot be read back; it is set aside and not replayed"
                    );
                    self.spooled = self.spooled.saturating_sub(file.bytes);
                    self.queue.pop_front();
                }
            }
        }
        self.queue.front_mut()?.window.as_mut()
    }

    /// The oldest window is done with (delivered, or refused for good).
    pub fn done(&mut self) {
        if let Some(entry) = self.queue.pop_front() {
            self.forget(&entry);
        }
    }

    /// Part of the oldest window was delivered before a failure: its spool file is
    /// rewritten with the rest, so a replay after a crash does not resend that part.
    pub fn partly_done(&mut self) {
        let (Some(entry), Some(spool)) = (self.queue.front_mut(), &mut self.spool) else {
            return;
        };
        let (Some(window), Some(file)) = (&entry.window, &entry.file) else {
            return;
        };
        match spool.rewrite(file, window) {
            Ok(new) => {
                self.spooled = self.spooled.saturating_sub(file.bytes) + new.bytes;
                entry.file = Some(new);
            }
            Err(e) => {
                self.stats.spool_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.spool_log.check() {
                    error!(error = %e, suppressed, "cannot rewrite a partly delivered window in the spool; after a crash its delivered part would be sent again");
                }
            }
        }
    }

    /// At shutdown, what could not be delivered: windows only in memory are dropped and
    /// counted; spooled ones stay for the next start. Returns (dropped, kept).
    pub fn abandon(&mut self) -> (u64, u64) {
        let mut dropped = 0;
        let mut kept = 0;
        for entry in self.queue.drain(..) {
            if entry.file.is_some() {
                kept += 1;
            } else {
                dropped += 1;
            }
        }
        self.stats
            .dropped_windows
            .fetch_add(dropped, Ordering::Relaxed);
        (dropped, kept)
    }

    fn forget(&mut self, entry: &Entry) {
        if entry.window.is_some() {
            self.memory = self.memory.saturating_sub(entry.bytes);
        }
        if let (Some(file), Some(spool)) = (&entry.file, &self.spool) {
            self.spooled = self.spooled.saturating_sub(file.bytes);
            spool.remove(file);
        }
    }

    /// Keeps both bounds: past the spool's, the oldest spooled window is dropped; past
    /// the memory's, the newest spooled window leaves memory (it waits on disk), and
    /// with none left to move, the oldest window is dropped.
    fn enforce(&mut self) {
        while self.spooled > self.bounds.spool {
            let Some(at) = self.queue.iter().position(|e| e.file.is_some()) else {
                break;
            };
            self.drop_at(at, "the spool is full (--spool-max-bytes)");
        }
        while self.memory > self.bounds.memory && self.queue.len() > 1 {
            // The front is the one being delivered: it stays.
            let movable = self
                .queue
                .iter()
                .rposition(|e| e.window.is_some() && e.file.is_some());
            match movable {
                Some(at) if at > 0 => {
                    let entry = &mut self.queue[at];
                    entry.window = None;
                    self.memory = self.memory.saturating_sub(entry.bytes);
                }
                _ => {
                    let oldest = self.queue.iter().skip(1).position(|e| e.window.is_some());
                    let Some(at) = oldest else { break };
                    self.drop_at(
                        at + 1,
                        "delivery is failing for longer than --max-pending-bytes holds",
                    );
                }
            }
        }
    }

    fn drop_at(&mut self, at: usize, why: &str) {
        let Some(entry) = self.queue.remove(at) else {
            return;
        };
        self.forget(&entry);
        self.stats.dropped_windows.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.drop_log.check() {
            warn!(
                measure_time = entry.window.as_ref().map(|w| w.measure_time),
                pending = self.queue.len(),
                suppressed,
                "{why}; dropped the oldest window"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeriesSummary, Summary};
    use zibrato_wire::Kind;

    fn window(measure_time: u64, series: usize) -> Window {
        Window {
            measure_time,
            interval: Duration::from_secs(1),
            series: (0..series)
                .map(|i| SeriesSummary {
                    level: Arc::from("info"),
                    kind: Kind::Counter,
                    name: Arc::from(format!("api.requests.{i}")),
                    source: Arc::from("web-1"),
                    summary: Summary::Counter { sum: 1 },
                })
                .collect(),
        }
    }

    fn times(pending: &mut Pending) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(w) = pending.front() {
            out.push(w.measure_time);
            pending.done();
        }
        out
    }

    #[test]
    fn five_minutes_of_one_second_windows_fit_by_default() {
        // 1 000 series a window, a window a second, for five minutes.
        let bytes = window(0, 1_000).approx_bytes() * 300;
        assert!(bytes < 268_435_456 / 2, "{bytes} bytes");
    }

    #[test]
    fn in_memory_the_oldest_go_first_and_are_counted() {
        let stats = Arc::new(WorkerStats::default());
        let one = window(0, 10).approx_bytes();
        let bounds = Bounds {
            memory: one * 3,
            spool: 0,
        };
        let mut pending = Pending::new(bounds, None, Arc::clone(&stats));
        for t in 1..=5 {
            pending.push(window(t, 10));
        }
        assert_eq!(stats.dropped_windows.load(Ordering::Relaxed), 2);
        // The front (being delivered) stays; the next oldest went.
        assert_eq!(times(&mut pending), [1, 4, 5]);
    }

    #[test]
    fn with_a_spool_the_newest_wait_on_disk_and_come_back_in_order() {
        let dir = std::env::temp_dir().join(format!("zibrato-pending-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stats = Arc::new(WorkerStats::default());
        let one = window(0, 10).approx_bytes();
        let bounds = Bounds {
            memory: one * 2,
            spool: 1 << 20,
        };
        let spool = Spool::open(&dir).unwrap();
        let mut pending = Pending::new(bounds, Some(spool), Arc::clone(&stats));
        for t in 1..=6 {
            pending.push(window(t, 10));
        }
        assert!(pending.memory <= one * 2);
        assert_eq!(stats.dropped_windows.load(Ordering::Relaxed), 0);
        // Part of the front is delivered, then the worker dies: the rewrite keeps only
        // the rest.
        pending.front().unwrap().series.truncate(3);
        pending.partly_done();
        drop(pending);
        let spool = Spool::open(&dir).unwrap();
        let mut pending = Pending::new(bounds, Some(spool), Arc::clone(&stats));
        assert_eq!(pending.front().unwrap().series.len(), 3);
        assert_eq!(times(&mut pending), [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            Spool::open(&dir).map(|(_, files)| files.len()).ok(),
            None,
            "still locked by the queue"
        );
        drop(pending);
        assert_eq!(
            Spool::open(&dir).unwrap().1.len(),
            0,
            "delivered windows are removed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
