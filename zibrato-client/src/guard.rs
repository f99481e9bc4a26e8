//! Guards that record when they go out of scope.

use std::time::{Duration, Instant};

use crate::Zibrato;

/// Counts when dropped. Made by [`Zibrato::count_me`].
///
/// Counts on every way out of the scope — the end, `return`, `?` — except a panic, so
/// a call that fails by returning an error is counted and a call that panics is not
/// (the original counted nothing when the function raised).
#[must_use = "the guard counts when it is dropped; bind it with `let _guard = …`"]
#[derive(Debug)]
pub struct CountGuard<'a> {
    client: &'a Zibrato,
    level: &'a str,
    name: &'a str,
    value: i64,
    armed: bool,
}

impl<'a> CountGuard<'a> {
    pub(crate) fn new(client: &'a Zibrato, level: &'a str, name: &'a str, value: i64) -> Self {
        CountGuard {
            client,
            level,
            name,
            value,
            armed: true,
        }
    }

    /// Drops the guard without counting.
    pub fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for CountGuard<'_> {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            self.client.count_by(self.level, self.name, self.value);
        }
    }
}

/// Records the time since it was made when dropped. Made by [`Zibrato::time_me`].
///
/// Records on every way out of the scope except a panic, like [`CountGuard`].
#[must_use = "the guard records the time when it is dropped; bind it with `let _guard = …`"]
#[derive(Debug)]
pub struct TimeGuard<'a> {
    client: &'a Zibrato,
    level: &'a str,
    name: &'a str,
    start: Instant,
    armed: bool,
}

impl<'a> TimeGuard<'a> {
    pub(crate) fn new(client: &'a Zibrato, level: &'a str, name: &'a str) -> Self {
        TimeGuard {
            client,
            level,
            name,
            start: Instant::now(),
            armed: true,
        }
    }

    /// Time elapsed so far.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records now instead of at the end of the scope, and returns what was recorded.
    pub fn stop(mut self) -> Duration {
        let elapsed = self.start.elapsed();
        self.client.time(self.level, self.name, elapsed);
        self.armed = false;
        elapsed
    }

    /// Drops the guard without recording.
    pub fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for TimeGuard<'_> {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            self.client
                .time(self.level, self.name, self.start.elapsed());
        }
    }
}
