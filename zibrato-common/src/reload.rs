//! A reload requested by SIGHUP (the broker rereads its allowed keys).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::SIGHUP;

/// A flag raised by SIGHUP, the usual "reread your configuration" signal; a daemon's
/// loop takes it on its next turn.
#[derive(Debug, Clone)]
pub struct Reload {
    requested: Arc<AtomicBool>,
}

impl Reload {
    /// Installs the handler.
    ///
    /// # Errors
    ///
    /// The operating system's error if the handler cannot be installed.
    pub fn install() -> io::Result<Self> {
        let requested = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGHUP, Arc::clone(&requested))?;
        Ok(Reload { requested })
    }

    /// A flag no signal raises; [`request`](Self::request) still does. For tests and
    /// embedding.
    pub fn manual() -> Self {
        Reload {
            requested: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a reload was requested since the last call (which takes the request).
    pub fn take(&self) -> bool {
        self.requested.swap(false, Ordering::Relaxed)
    }

    /// Requests a reload from inside the program.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighup_is_taken_once() {
        let reload = Reload::install().unwrap();
        assert!(!reload.take());
        signal_hook::low_level::raise(SIGHUP).unwrap();
        assert!(reload.take());
        assert!(!reload.take());
    }
}
