//! Finding, starting and reading the daemons a harness runs.

/// A binary built beside the running harness (`target/release/NAME`).
///
/// # Panics
/// When it is missing, saying how to build it.
pub fn beside(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let path = exe.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --workspace --bins`",
        path.display()
    );
    path
}

/// `key=value` from the last line of a daemon's log containing `marker`; 0 when absent
/// (a total the daemon does not have in this configuration).
pub fn logged(output: &str, marker: &str, key: &str) -> u64 {
    zibrato_testkit::logged_value(output, marker, key).unwrap_or(0)
}

/// A broker started beside the harness on `port` with `args`, once it listens.
pub fn broker(port: u16, args: &[&str]) -> zibrato_testkit::Daemon {
    let port = port.to_string();
    let mut all = vec!["--port", port.as_str()];
    all.extend_from_slice(args);
    let daemon = zibrato_testkit::Daemon::start(beside("zibrato-broker"), &all);
    daemon.wait_for_output("broker listening", std::time::Duration::from_secs(10));
    daemon
}

/// A `zibrato-console` worker reading the broker's worker port `port` for `levels`:
/// JSON windows of 1 s into a pipe (no network backend to limit it), series kept for
/// an hour, `extra` arguments after; returned once it has subscribed.
pub fn console_worker(port: u16, levels: &str, extra: &[&str]) -> zibrato_testkit::Daemon {
    let port = port.to_string();
    let mut args = vec![
        "--port",
        port.as_str(),
        "--levels",
        levels,
        "--flush",
        "1",
        "--format",
        "json",
        "--expire-after",
        "3600",
    ];
    args.extend_from_slice(extra);
    let worker = zibrato_testkit::Daemon::start(beside("zibrato-console"), &args);
    worker.wait_for_output("worker subscribed", std::time::Duration::from_secs(10));
    worker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_with_the_marker_gives_the_value() {
        let log = "broker totals a=1 b=2\nother a=9\nbroker totals a=3 b=\"4\"\n";
        assert_eq!(logged(log, "broker totals", "a"), 3);
        assert_eq!(logged(log, "broker totals", "b"), 4);
        assert_eq!(logged(log, "broker totals", "c"), 0);
        assert_eq!(logged(log, "nothing", "a"), 0);
    }
}
