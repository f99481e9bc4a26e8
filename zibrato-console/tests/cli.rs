//! Bad command lines: one clear line and exit code 2.

use std::time::Duration;

use zibrato_testkit::Daemon;

#[test]
fn bad_command_lines_are_named() {
    for (args, expected) in [
        (vec!["--format", "table"], "--levels"),
        (
            vec!["--levels", "info", "--format", "xml"],
            "invalid value 'xml'",
        ),
        (
            vec!["--levels", "info", "--flush", "never"],
            "not a number of seconds",
        ),
        (vec!["--levels", "info", "--port", "0"], "0"),
    ] {
        let mut worker = Daemon::start(env!("CARGO_BIN_EXE_zibrato-console"), &args);
        let status = worker.wait_exit(Duration::from_secs(10)).expect("exits");
        assert_eq!(status.code(), Some(2), "{args:?}: {}", worker.output());
        assert!(
            worker.output().contains(expected),
            "{args:?}: {}",
            worker.output()
        );
    }
}
