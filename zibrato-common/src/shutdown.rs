//! Shutdown requested by SIGTERM, SIGINT or SIGQUIT.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};

use crate::exit;

/// A flag raised by SIGTERM, SIGINT or SIGQUIT (supervisord's `stopsignal=QUIT`).
///
/// The handlers only store the signal number, so a daemon's loop notices it on its
/// next turn; loops poll with a short timeout for that reason. Cloning shares the flag.
///
/// A second stop signal while the first is being handled (an operator pressing
/// Ctrl-C again while a worker waits on a slow service) ends the process at once with
/// [`exit::SECOND_SIGNAL`].
#[derive(Debug, Clone)]
pub struct Shutdown {
    signal: Arc<AtomicUsize>,
}

impl Shutdown {
    /// Installs the handlers.
    ///
    /// # Errors
    ///
    /// The operating system's error if a handler cannot be installed.
    pub fn install() -> io::Result<Self> {
        let signal = Arc::new(AtomicUsize::new(0));
        let signalled = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT, SIGQUIT] {
            // Registered first, so it sees the flag as the previous signal left it.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                i32::from(exit::SECOND_SIGNAL),
                Arc::clone(&signalled),
            )?;
            signal_hook::flag::register(sig, Arc::clone(&signalled))?;
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        }
        Ok(Shutdown { signal })
    }

    /// A flag no signal raises; [`request`](Self::request) still does. For tests and
    /// embedding.
    pub fn manual() -> Self {
        Shutdown {
            signal: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.signal.load(Ordering::Relaxed) != 0
    }

    /// The name of the signal that requested shutdown, if one did.
    pub fn signal_name(&self) -> Option<&'static str> {
        match self.signal.load(Ordering::Relaxed) as i32 {
            0 => None,
            SIGTERM => Some("SIGTERM"),
            SIGINT => Some("SIGINT"),
            SIGQUIT => Some("SIGQUIT"),
            _ => Some("request"),
        }
    }

    /// Requests shutdown from inside the program.
    pub fn request(&self) {
        self.signal.store(usize::MAX, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_raises_the_flag() {
        let shutdown = Shutdown::install().unwrap();
        assert!(!shutdown.is_requested());
        signal_hook::low_level::raise(SIGQUIT).unwrap();
        assert!(shutdown.is_requested());
        assert_eq!(shutdown.signal_name(), Some("SIGQUIT"));
    }
}
