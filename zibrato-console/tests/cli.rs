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
