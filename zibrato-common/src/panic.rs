//! A panic on any thread ends the daemon.

use crate::exit;

/// Makes a panic on any thread end the whole process with [`exit::PANIC`], after
/// the usual panic message.
///
/// By default a panic ends only its own thread: a worker whose delivery thread died
/// would go on aggregating and never deliver again, and supervisord or systemd would
/// see a live process. With this hook the supervisor sees the exit and restarts it.
/// Daemons call it once, first thing in `main`.
pub fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(i32::from(exit::PANIC));
    }));
}
