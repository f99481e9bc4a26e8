//! A daemon whose background thread panics: with `exit_on_panic` the whole process
//! ends with status 101, as a supervisor needs to see. Run by `tests/panic.rs`.

use std::time::Duration;

fn main() {
    zibrato_common::exit_on_panic();
    let _worker = std::thread::spawn(|| panic!("a deliberate panic on a worker thread"));
    // The main thread goes on as a daemon's would; only the hook can end the process.
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}
