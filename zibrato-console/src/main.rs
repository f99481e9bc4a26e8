//! `zibrato-console`: see `zibrato-console --help`.

use std::process::ExitCode;

use clap::Parser;
use zibrato_console::{Console, Format};
use zibrato_worker::WorkerArgs;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    zibrato_worker::run(cli.worker, Console::new(cli.format))
}
