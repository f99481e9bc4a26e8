//! The Librato worker's command line as a function: what the `zibrato-librato` binary
//! runs, and what other hosts (the Python package's `python -m zibrato.librato`) run
//! in-process.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Librato, Secret, Settings};
use clap::Parser;
use zibrato_worker::{WorkerArgs, parse_seconds};

/// Subscribes to levels at a Zibrato broker, aggregates each flush window and posts it
/// to Librato.
///
/// The API token is read from --apitoken-file (or LIBRATO_TOKEN_FILE) when given,
/// otherwise from --apitoken or LIBRATO_TOKEN (the flag wins over the variable). Prefer
/// the file or the variable: a token given on the command line is visible to every user
/// of the machine in `ps`.
#[derive(Debug, Parser)]
#[command(name = "zibrato-librato", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    worker: WorkerArgs,

    /// Librato user (the account's email address).
    #[arg(long, env = "LIBRATO_USERNAME")]
    username: Option<String>,

    /// Librato API token. Prefer LIBRATO_TOKEN or --apitoken-file: argv is visible in `ps`.
    #[arg(long, env = "LIBRATO_TOKEN", hide_env_values = true)]
    apitoken: Option<String>,

    /// File holding the API token (surrounding whitespace ignored); preferred over
    /// LIBRATO_TOKEN and --apitoken when given.
    #[arg(long, env = "LIBRATO_TOKEN_FILE")]
    apitoken_file: Option<PathBuf>,

    /// Librato's metrics endpoint.
    #[arg(
        long,
        env = "LIBRATO_API_URL",
        default_value = "https://metrics-api.librato.com/v1/metrics"
    )]
    api_url: String,

    /// Most gauge entries per request.
    #[arg(long, env = "LIBRATO_BATCH_SIZE", default_value = "300", value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,

    /// Seconds after which an undelivered window is dropped instead of sent: Librato
    /// refuses measurements more than about two hours old.
    #[arg(long, env = "LIBRATO_MAX_AGE", default_value = "7000", value_parser = parse_seconds)]
    max_age: Duration,

    /// Seconds one request may take.
    #[arg(long, env = "LIBRATO_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    request_timeout: Duration,

    /// Seconds a (name, source) pair that Librato refused twice within an hour is held
    /// back (not sent) before it is tried again; 0 never holds. A first refusal only
    /// drops that measurement from its window. Nothing is blocked for good.
    #[arg(long, env = "LIBRATO_REFUSAL_HOLD", default_value = "600", value_parser = parse_hold)]
    refusal_hold: Duration,

    /// Print the JSON each request would carry, one request per line, and post nothing.
    /// Needs no credentials.
    #[arg(long)]
    dry_run: bool,
}

fn token(cli: &Cli) -> Result<Option<Secret>, String> {
    if let Some(path) = &cli.apitoken_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("the token file {} is empty", path.display()));
        }
        return Ok(Some(Secret::new(token.to_string())));
    }
    Ok(cli
        .apitoken
        .clone()
        .filter(|t| !t.trim().is_empty())
        .map(Secret::new))
}

fn parse_hold(text: &str) -> Result<Duration, zibrato_common::SecondsError> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_seconds(text)
}

/// Parses `args` (the program name first, as `std::env::args_os()` gives it) as the
/// `zibrato-librato` command line and runs the worker until a stop signal: the
/// binary's whole behaviour, logging, signals and exit codes included.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    zibrato_common::exit::run_parsed(args, run_cli)
}

/// Runs the daemon with its parsed command line; returns the exit status.
fn run_cli(cli: Cli) -> u8 {
    if cli.worker.flush.subsec_nanos() != 0 {
        // Librato's measure_time is in whole seconds: two windows of a fractional
        // interval could carry the same time and overwrite each other.
        eprintln!(
            "zibrato-librato: --flush must be a whole number of seconds for Librato (its measure_time has no fractions), not {:?}",
            cli.worker.flush
        );
        return zibrato_common::exit::USAGE;
    }
    let token = match token(&cli) {
        Ok(token) => token,
        Err(message) => {
            eprintln!("zibrato-librato: {message}");
            return zibrato_common::exit::USAGE;
        }
    };
    let (username, token) = match (cli.username.clone(), token, cli.dry_run) {
        (Some(user), Some(token), _) => (user, token),
        (user, token, true) => (user.unwrap_or_default(), token.unwrap_or_default()),
        (None, _, false) => {
            eprintln!(
                "zibrato-librato: --username (or LIBRATO_USERNAME) is required, unless --dry-run"
            );
            return zibrato_common::exit::USAGE;
        }
        (_, None, false) => {
            eprintln!(
                "zibrato-librato: an API token is required (LIBRATO_TOKEN, --apitoken-file or --apitoken), unless --dry-run"
            );
            return zibrato_common::exit::USAGE;
        }
    };
    let settings = Settings {
        api_url: cli.api_url.clone(),
        username,
        token,
        batch_size: cli.batch_size as usize,
        max_age: cli.max_age,
        timeout: cli.request_timeout,
        refusal_hold: cli.refusal_hold,
        dry_run: cli.dry_run,
    };
    let backend = match Librato::new(settings) {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("zibrato-librato: {message}");
            return zibrato_common::exit::FAILURE;
        }
    };
    zibrato_worker::run(cli.worker, backend)
}
