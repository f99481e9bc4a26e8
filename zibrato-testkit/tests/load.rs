//! `zibrato-load`, the instrumented program the multi-host tests run on a simulated
//! host: what it says it recorded is what a real worker counts. (Being an integration
//! test of this package also makes `cargo test --workspace` build the binary.)

use std::time::{Duration, Instant};

use zibrato_testkit::{Daemon, free_ports, start_broker, start_console_json};

#[test]
fn what_the_load_reports_is_what_the_worker_counts() {
    let port = free_ports();
    let _broker = start_broker(port, &["--stats-interval", "3600"]);
    let mut worker = start_console_json(port);
    let port_text = port.to_string();
    let mut load = Daemon::start(
        env!("CARGO_BIN_EXE_zibrato-load"),
        &["--port", &port_text, "--rate", "500", "--name", "load.test"],
    );
    load.wait_for_output("recording", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    assert!(load.stop("TERM").success());
    let output = load.output();
    let line = output.lines().find(|l| l.starts_with('{')).expect(&output);
    let stats: serde_json::Value = serde_json::from_str(line).unwrap();
    let recorded = stats["recorded"].as_i64().unwrap();
    assert!(recorded > 100, "{output}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while worker.console_sum("load.test") != recorded && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(worker.console_sum("load.test"), recorded);
    assert!(worker.stop("TERM").success());
}
