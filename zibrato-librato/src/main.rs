//! `zibrato-librato`: see `zibrato-librato --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_librato::cli::main_with_args(std::env::args_os()))
}
