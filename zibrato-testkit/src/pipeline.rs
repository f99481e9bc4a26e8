//! The real pipeline's parts, started and waited for the way every end-to-end test
//! needs them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use zibrato_client::Zibrato;

use crate::{Daemon, Subscriber, bin_path};

/// How long start-up may take before a test gives up.
const START: Duration = Duration::from_secs(15);

/// The real broker on 127.0.0.1: publishers on `port`, workers on `port + 1`, once it
/// listens.
pub fn start_broker(port: u16, extra: &[&str]) -> Daemon {
    let port = port.to_string();
    let mut args = vec!["--port", port.as_str()];
    args.extend_from_slice(extra);
    let broker = Daemon::start(bin_path("zibrato-broker"), &args);
    broker.wait_for_output("broker listening", START);
    broker
}

/// A worker binary connected to the broker on `broker_port` (its worker port is
/// `broker_port + 1`), once it has subscribed and the broker routes `level` to it.
pub fn start_worker(
    program: impl Into<PathBuf>,
    broker_port: u16,
    args: &[&str],
    env: &[(&str, &str)],
    level: &str,
) -> Daemon {
    let worker_port = (broker_port + 1).to_string();
    let mut all = vec!["--port", worker_port.as_str()];
    all.extend_from_slice(args);
    let worker = Daemon::start_with_env(program, &all, env);
    worker.wait_for_output("worker subscribed", START);
    Subscriber::connect(broker_port + 1, &[]).wait_until_routed(broker_port, level, START);
    worker
}

/// The real `zibrato-console` on the broker at `port`: levels `info` and `zibrato` (the
/// self-metrics), windows of 1 s printed as JSON lines, once `info` is routed to it.
pub fn start_console_json(port: u16) -> Daemon {
    start_worker(
        bin_path("zibrato-console"),
        port,
        &[
            "--levels",
            "info,zibrato",
            "--flush",
            "1",
            "--format",
            "json",
        ],
        &[],
        "info",
    )
}

/// A client of the broker on `port`, once it is connected and knows what is subscribed.
pub fn connected_client(port: u16) -> Zibrato {
    let client = Zibrato::builder().port(port).build().expect("client");
    let deadline = Instant::now() + START;
    while !client.stats().connected {
        assert!(
            Instant::now() < deadline,
            "the client never connected to port {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    client
}
