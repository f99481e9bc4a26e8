//! `zibrato-otlp`: see `zibrato-otlp --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_otlp::cli::main_with_args(std::env::args_os()))
}
