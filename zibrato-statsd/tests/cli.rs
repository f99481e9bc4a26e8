//! Bad command lines: one clear line and exit code 2.

use zibrato_testkit::assert_bad_command_lines;

#[test]
fn bad_command_lines_are_named() {
    assert_bad_command_lines(
        env!("CARGO_BIN_EXE_zibrato-statsd"),
        &[
            (&["--statsd", "127.0.0.1:8125"], "--levels"),
            (
                &["--levels", "info", "--statsd", "not an address"],
                "not HOST:PORT",
            ),
            (
                &["--levels", "info", "--mode", "sometimes"],
                "invalid value 'sometimes'",
            ),
            (&["--levels", "info", "--max-datagram", "10"], "10"),
            (&["--levels", "in fo"], "invalid level"),
        ],
    );
}
