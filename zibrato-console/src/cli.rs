//! The console worker's command line as a function: what the `zibrato-console` binary
//! runs, and what another program can run in-process.

use std::ffi::OsString;

use clap::Parser;
use zibrato_worker::WorkerArgs;
use zibrato_worker::exit::run_parsed;

use crate::{Console, Format};

/// Subscribes to levels at a Zibrato broker, aggregates each flush window and prints
/// it: an aligned table, or JSON lines for other tools.
#[derive(Debug, Parser)]
#[command(name = "zibrato-console", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,

    /// `table` for people, `json` for one JSON object per series and window.
    #[arg(
        long,
        env = "ZIBRATO_CONSOLE_FORMAT",
        value_enum,
        default_value = "table"
    )]
    format: Format,
}

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-console` command line and runs the worker until a stop signal: the binary's
/// whole behaviour. Returns the exit status (the table in [`zibrato_worker::exit`]).
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_parsed(args, run_cli)
}

/// Runs the daemon with its parsed command line; returns the exit status.
fn run_cli(cli: Cli) -> u8 {
    zibrato_worker::run(cli.worker, Console::new(cli.format))
}
