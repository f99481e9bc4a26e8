//! The broker's command line as a function: what the `zibrato-broker` binary runs, and
//! what other hosts (the Python package's `python -m zibrato.backend`) run in-process.

use std::ffi::OsString;
use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use zibrato_common::curve::KeyPair;
use zibrato_common::{Reload, Shutdown, init_logging};

use crate::{Broker, Config};

/// Receives measurement frames from publishers on PORT, validates each one, and
/// forwards it to the workers on PORT+1 that subscribe to its level. Other brokers
/// link to PORT+2 (acknowledged links, for a fleet of hosts).
#[derive(Debug, Parser)]
#[command(name = "zibrato-broker", version, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a new CURVE key pair: DIR/NAME.key, the public certificate (give it to
    /// the brokers that are to allow NAME), and DIR/NAME.key_secret, readable by its
    /// owner only (give it to --curve-secret-file of NAME's broker, client or worker).
    Keygen {
        /// The name of the host or program the keys are for (the files' names).
        name: String,
        /// Where to write the two files.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// The exit status of a stop that dropped frames a destination was waiting for (held
/// for workers within the grace, or not acknowledged by a linked broker in time).
pub const UNDELIVERED_EXIT_CODE: u8 = 3;

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-broker` command line and runs the broker until a stop signal: the
/// binary's whole behaviour, logging, signals and exit codes included (2 for a bad
/// command line, 1 for a failure, 0 after a clean stop, 3 after a stop that dropped
/// frames a destination was waiting for).
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; a bad flag is (2), said in one line.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if let Some(Command::Keygen { name, dir }) = cli.command {
        return keygen(&name, &dir);
    }
    let config = cli.config;
    if let Err(message) = init_logging(&config.log_level) {
        eprintln!("zibrato-broker: {message}");
        return ExitCode::from(2);
    }
    zibrato_common::exit_on_panic();
    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut broker = match Broker::bind(&config) {
        Ok(broker) => broker,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match Reload::install() {
        Ok(reload) => broker.reload_on(reload),
        Err(e) => warn!("cannot install the SIGHUP handler; keys are not reloaded: {e}"),
    }
    if config.insecure {
        warn!(
            "--insecure: the ports and links this broker exposes to other hosts are neither encrypted nor authenticated"
        );
    }
    info!(
        publishers = %config.publisher_endpoint(),
        workers = %config.worker_endpoint(),
        relays = %config.relay_endpoint(),
        upstream = config.upstream.as_deref().unwrap_or("none"),
        "broker listening"
    );
    let result = broker.run(&shutdown);
    broker.log_summary();
    match result {
        Ok(stopped) if stopped.undelivered.frames > 0 => {
            error!(
                signal = %shutdown.signal_name().unwrap_or("none"),
                frames = stopped.undelivered.frames,
                measurements = stopped.undelivered.measurements,
                "broker stopped with frames undelivered"
            );
            ExitCode::from(UNDELIVERED_EXIT_CODE)
        }
        Ok(_) => {
            info!(signal = %shutdown.signal_name().unwrap_or("none"), "broker stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `zibrato-broker keygen NAME`: writes the pair, says where.
fn keygen(name: &str, dir: &std::path::Path) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("zibrato-broker keygen: cannot make {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let written = KeyPair::generate().and_then(|pair| pair.write(dir, name));
    match written {
        Ok((public, secret)) => {
            println!(
                "public key:  {} (give it to the brokers that allow {name})",
                public.display()
            );
            println!(
                "secret key:  {} (readable by its owner only: --curve-secret-file)",
                secret.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zibrato-broker keygen: {e}");
            ExitCode::FAILURE
        }
    }
}
