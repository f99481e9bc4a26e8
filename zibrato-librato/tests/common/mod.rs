//! What the Librato worker's tests share: a real broker, a real `zibrato-librato` and a
//! Librato stand-in on 127.0.0.1.

#![allow(dead_code)] // each test file uses its own part

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use zibrato::Zibrato;
use zibrato_testkit::{
    Answer, Daemon, LibratoStandIn, connected_client, free_ports, start_broker, start_worker,
};

pub const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-librato");
pub const WAIT: Duration = Duration::from_secs(15);
/// How long a test waits for a condition that takes a few retries to come true.
pub const SETTLE: Duration = Duration::from_secs(40);

#[allow(unused_imports)] // each test file uses its own part
pub use zibrato_testkit::wait_until;
pub const USER: &str = "ops@example.com";
pub const TOKEN: &str = "s3cr3t-t0k3n";

pub struct Pipeline {
    pub port: u16,
    pub librato: LibratoStandIn,
    pub worker: Daemon,
    pub broker: Daemon,
}

impl Pipeline {
    pub fn start(flush: &str, extra: &[&str]) -> Pipeline {
        Self::start_with(flush, extra, Answer::Accept)
    }

    pub fn start_with(flush: &str, extra: &[&str], answer: Answer) -> Pipeline {
        let port = free_ports();
        let broker = start_broker(port, &[]);
        let librato = LibratoStandIn::start(USER, TOKEN);
        librato.answer(answer);
        let url = librato.url();
        let mut args = vec![
            "--levels",
            "info",
            "--flush",
            flush,
            "--username",
            USER,
            "--api-url",
            &url,
        ];
        args.extend_from_slice(&["--log-level", "debug"]);
        args.extend_from_slice(extra);
        let worker = start_worker(WORKER, port, &args, &[("LIBRATO_TOKEN", TOKEN)], "info");
        Pipeline {
            port,
            librato,
            worker,
            broker,
        }
    }

    pub fn client(&self) -> Zibrato {
        connected_client(self.port)
    }
}

pub fn named<'a>(gauges: &'a [Json], name: &str) -> Vec<&'a Json> {
    gauges.iter().filter(|g| g["name"] == name).collect()
}

/// The source of a series published without one: none is posted.
pub const NO_SOURCE: &str = "";

pub fn sum_values(gauges: &[Json], name: &str, source: &str) -> f64 {
    named(gauges, name)
        .iter()
        .filter(|g| g["source"].as_str().unwrap_or(NO_SOURCE) == source)
        .map(|g| g["value"].as_f64().unwrap())
        .sum()
}

/// Sleeps until just after a multiple of `interval` seconds, so what follows falls in
/// one window.
pub fn start_of_window(interval: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = now.as_millis() as u64 % (interval * 1000);
    std::thread::sleep(Duration::from_millis(interval * 1000 - into + 100));
}
