//! Bad command lines: one clear line and exit code 2.

use zibrato_testkit::assert_bad_command_lines;

#[test]
fn bad_command_lines_are_named() {
    assert_bad_command_lines(
        env!("CARGO_BIN_EXE_zibrato-console"),
        &[
            (&["--format", "table"], "--levels"),
            (
                &["--levels", "info", "--format", "xml"],
                "invalid value 'xml'",
            ),
            (
                &["--levels", "info", "--flush", "never"],
                "not a number of seconds",
            ),
            (&["--levels", "info", "--port", "0"], "0"),
        ],
    );
}

/// Starts a console worker (against no broker) with `env`, waits until it has
/// subscribed, and returns its log.
fn log_with_env(env: &[(&str, &str)]) -> String {
    let mut worker = zibrato_testkit::Daemon::start_with_env(
        env!("CARGO_BIN_EXE_zibrato-console"),
        &["--levels", "info", "--port", "1"],
        env,
    );
    worker.wait_for_output("worker subscribed", std::time::Duration::from_secs(10));
    worker.stop("TERM");
    worker.output()
}

#[test]
fn the_brokers_hwm_variable_still_reaches_a_worker_with_a_warning_until_renamed() {
    let warning = "ZIBRATO_WORKER_HWM set this worker's --hwm";
    let old = log_with_env(&[("ZIBRATO_WORKER_HWM", "500")]);
    assert!(old.contains(warning), "{old}");
    assert!(old.contains("hwm=500"), "{old}");
    let new = log_with_env(&[("ZIBRATO_WORKER_HWM", "500"), ("ZIBRATO_HWM", "700")]);
    assert!(!new.contains(warning), "{new}");
    let neither = log_with_env(&[]);
    assert!(!neither.contains(warning), "{neither}");
}
