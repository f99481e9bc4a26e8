//! `zibrato-console`: see `zibrato-console --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_console::cli::main_with_args(std::env::args_os()))
}
