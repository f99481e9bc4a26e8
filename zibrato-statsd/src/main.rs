//! `zibrato-statsd`: see `zibrato-statsd --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_statsd::cli::main_with_args(std::env::args_os()))
}
