//! `zibrato-prometheus`: see `zibrato-prometheus --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_prometheus::cli::main_with_args(std::env::args_os()))
}
