//! A small instrumented program for tests that must run an application on a simulated
//! host: it records `+1` on one counter at a steady rate through the real client until
//! SIGTERM or SIGINT, then flushes, closes, and prints one JSON line with how many it
//! recorded and what its client counted.
//!
//! `zibrato-load [--host 127.0.0.1] --port PORT [--level info] [--name seq] [--rate 200]
//! [--curve-secret-file FILE --curve-server-key KEY]`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use zibrato_client::Zibrato;
use zibrato_common::Shutdown;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let (Ok(port), Ok(rate)) = (
        flag("--port", "5550").parse::<u16>(),
        flag("--rate", "200").parse::<u32>(),
    ) else {
        eprintln!("usage: zibrato-load --port PORT [--level info] [--name seq] [--rate 200]");
        return ExitCode::from(2);
    };
    let (level, name) = (flag("--level", "info"), flag("--name", "seq"));
    let (secret, server) = (
        flag("--curve-secret-file", ""),
        flag("--curve-server-key", ""),
    );
    let shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Self-metrics only at close, so nothing but the counter travels meanwhile.
    let mut builder = Zibrato::builder()
        .host(flag("--host", "127.0.0.1"))
        .port(port)
        .stats_interval(Duration::from_secs(3600));
    if !secret.is_empty() {
        builder = builder.curve(secret, server);
    }
    let z = match builder.build() {
        Ok(z) => z,
        Err(e) => {
            eprintln!("cannot build the client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !z.stats().connected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The broker passes on what is wanted as soon as the connection is made.
    std::thread::sleep(Duration::from_millis(300));
    println!("recording");
    let pause = Duration::from_secs(1) / rate.max(1);
    let mut recorded: u64 = 0;
    while !shutdown.is_requested() {
        z.count(&level, &name);
        recorded += 1;
        std::thread::sleep(pause);
    }
    // Short enough to stop well within a test's 10 s, long enough for any loopback broker.
    let flushed = z.flush(Duration::from_secs(5)).is_ok();
    let stats = z.stats();
    z.close();
    println!(
        "{{\"recorded\":{recorded},\"flushed\":{flushed},\"filtered\":{},\"dropped\":{},\"rejected\":{},\"sent\":{}}}",
        stats.filtered,
        stats.dropped(),
        stats.rejected,
        stats.measurements_sent
    );
    ExitCode::SUCCESS
}
