//! The exit statuses every Zibrato daemon uses, one table for all of them, and the
//! command line parsed the way every daemon parses it.
//!
//! | status | meaning |
//! |---:|---|
//! | 0 | stopped cleanly (or `--help`, `--version`) |
//! | 1 | could not start (a port taken, a backend that refuses the credentials, a spool in use) or failed while running |
//! | 2 | a bad command line: an unknown flag, a bad value, flags that contradict each other |
//! | 3 | stopped on a signal with measurements it had accepted left undelivered (counted and logged) |
//! | 101 | a panic on any thread |
//! | 130 | a second stop signal while the first was being handled |

use std::ffi::OsString;

/// Stopped cleanly.
pub const SUCCESS: u8 = 0;
/// Could not start, or failed while running.
pub const FAILURE: u8 = 1;
/// A bad command line.
pub const USAGE: u8 = 2;
/// Stopped with measurements it had accepted left undelivered at its shutdown timeout.
pub const UNDELIVERED: u8 = 3;
/// A panic on any thread (the status Rust gives a panicking `main`).
pub const PANIC: u8 = 101;
/// A second stop signal while the first was being handled.
pub const SECOND_SIGNAL: u8 = 130;

/// Parses `args` (the program name first) as the command line `C`. On `--help` or
/// `--version` prints them and returns `Err(SUCCESS)`; on a bad command line prints
/// clap's message and returns `Err(USAGE)`. Never exits the process, so a daemon run
/// inside another program (the Python package's `python -m`) returns instead.
///
/// # Errors
/// The status to exit with when the program should not run.
pub fn parse_args<C, I, T>(args: I) -> Result<C, u8>
where
    C: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    C::try_parse_from(args).map_err(|error| {
        let _ = error.print();
        if error.use_stderr() { USAGE } else { SUCCESS }
    })
}

/// A daemon's `main_with_args`: parses `args` as [`parse_args`] does and runs `run`
/// with the command line, or returns the status to exit with when it should not run.
pub fn run_parsed<C, I, T>(args: I, run: impl FnOnce(C) -> u8) -> u8
where
    C: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_args(args).map_or_else(|status| status, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    #[command(name = "daemon", version)]
    struct Cli {
        #[arg(long)]
        port: u16,
    }

    #[test]
    fn a_good_command_line_parses() {
        let cli: Cli = parse_args(["daemon", "--port", "5550"]).unwrap();
        assert_eq!(cli.port, 5550);
    }

    #[test]
    fn run_parsed_runs_a_good_command_line_and_returns_the_status_of_a_bad_one() {
        assert_eq!(
            run_parsed(["daemon", "--port", "7"], |cli: Cli| cli.port as u8),
            7
        );
        assert_eq!(run_parsed(["daemon"], |_: Cli| SUCCESS), USAGE);
    }

    #[test]
    fn a_bad_command_line_is_usage_and_help_is_success() {
        assert_eq!(
            parse_args::<Cli, _, _>(["daemon", "--port", "x"]).unwrap_err(),
            USAGE
        );
        assert_eq!(
            parse_args::<Cli, _, _>(["daemon", "--nope"]).unwrap_err(),
            USAGE
        );
        assert_eq!(parse_args::<Cli, _, _>(["daemon"]).unwrap_err(), USAGE);
        assert_eq!(
            parse_args::<Cli, _, _>(["daemon", "--help"]).unwrap_err(),
            SUCCESS
        );
        assert_eq!(
            parse_args::<Cli, _, _>(["daemon", "--version"]).unwrap_err(),
            SUCCESS
        );
    }
}
