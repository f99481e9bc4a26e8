//! A panic on any thread of a daemon ends the process with a failure status.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_panicking_thread_ends_the_whole_process() {
    let exe = std::env::current_exe().unwrap();
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples");
    let program = examples.join("panic_in_thread");
    assert!(
        program.exists(),
        "cargo test builds the examples: {}",
        program.display()
    );
    let mut child = Command::new(&program)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process outlived its panicking thread");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(i32::from(zibrato_common::exit::PANIC)));
    assert!(stderr.contains("a deliberate panic"), "{stderr}");
}
