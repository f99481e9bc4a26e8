//! The broker's command line as a function: what the `zibrato-broker` binary runs, and
//! what other hosts (the Python package's `python -m zibrato.backend`) run in-process.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use zibrato_common::curve::KeyPair;
use zibrato_common::exit::{FAILURE, SUCCESS, UNDELIVERED, USAGE};
use zibrato_common::{Reload, Shutdown, init_logging};

use crate::{Broker, BrokerArgs, BrokerOptions};

/// Receives measurement frames from publishers on PORT, validates each one, and
/// forwards it to the workers on PORT+1 that subscribe to its level. Other brokers
/// link to PORT+2 (acknowledged links, for a fleet of hosts).
#[derive(Debug, Parser)]
#[command(name = "zibrato-broker", version, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: BrokerArgs,
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

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-broker` command line and runs the broker until a stop signal: the
/// binary's whole behaviour, logging and signals included. Returns the exit status
/// ([`zibrato_common::exit`]): 2 for a bad command line (and for a non-loopback address
/// without keys or `--insecure`), 1 for a failure, 0 after a clean stop, 3 after a stop
/// that dropped frames a destination was waiting for (held for workers within the
/// grace, or not acknowledged by a linked broker in time).
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    zibrato_common::exit::run_parsed(args, run_cli)
}

/// Runs the daemon with its parsed command line; returns the exit status.
fn run_cli(cli: Cli) -> u8 {
    if let Some(Command::Keygen { name, dir }) = cli.command {
        return keygen(&name, &dir);
    }
    let config = BrokerOptions::from(cli.config);
    if let Err(message) = init_logging(&config.log_level) {
        eprintln!("zibrato-broker: {message}");
        return USAGE;
    }
    zibrato_common::exit_on_panic();
    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return FAILURE;
        }
    };
    let mut broker = match Broker::bind(&config) {
        Ok(broker) => broker,
        Err(e) => {
            error!("{e}");
            // Exposed without keys is a command line to correct, not a failure to retry.
            return match e {
                crate::BrokerError::Insecure { .. } | crate::BrokerError::Options { .. } => USAGE,
                _ => FAILURE,
            };
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
            UNDELIVERED
        }
        Ok(_) => {
            info!(signal = %shutdown.signal_name().unwrap_or("none"), "broker stopped");
            SUCCESS
        }
        Err(e) => {
            error!("{e}");
            FAILURE
        }
    }
}

/// `zibrato-broker keygen NAME`: writes the pair, says where.
fn keygen(name: &str, dir: &std::path::Path) -> u8 {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("zibrato-broker keygen: cannot make {}: {e}", dir.display());
        return FAILURE;
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
            SUCCESS
        }
        Err(e) => {
            eprintln!("zibrato-broker keygen: {e}");
            FAILURE
        }
    }
}
