//! `zibrato-broker`: see `zibrato-broker --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(zibrato_broker::cli::main_with_args(std::env::args_os()))
}
