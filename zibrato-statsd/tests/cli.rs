//! Bad command lines: one clear line and exit code 2.

use std::time::Duration;

use zibrato_testkit::Daemon;

#[test]
fn bad_command_lines_are_named() {
    for (args, expected) in [
        (vec!["--statsd", "127.0.0.1:8125"], "--levels"),
        (
            vec!["--levels", "info", "--statsd", "not an address"],
            "not HOST:PORT",
        ),
        (
            vec!["--levels", "info", "--mode", "sometimes"],
            "invalid value 'sometimes'",
        ),
        (vec!["--levels", "info", "--max-datagram", "10"], "10"),
        (vec!["--levels", "in fo"], "invalid level"),
    ] {
        let mut worker = Daemon::start(env!("CARGO_BIN_EXE_zibrato-statsd"), &args);
        let status = worker.wait_exit(Duration::from_secs(10)).expect("exits");
        assert_eq!(status.code(), Some(2), "{args:?}: {}", worker.output());
        assert!(
            worker.output().contains(expected),
            "{args:?}: {}",
            worker.output()
        );
    }
}
