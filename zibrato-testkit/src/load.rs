//! `zibrato-load`, the small instrumented program the multi-host tests run: started,
//! then stopped for what it recorded; and waiting for a worker to have counted it.

use std::time::{Duration, Instant};

use crate::Daemon;

/// A running `zibrato-load`.
pub struct Load {
    daemon: Daemon,
}

/// What a stopped `zibrato-load` recorded, and what its client counted.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Increments recorded.
    pub recorded: i64,
    /// What its client dropped (buffer or backlog full).
    pub dropped: i64,
    /// What its client filtered (levels nobody wanted).
    pub filtered: i64,
    /// Whether its last flush completed.
    pub flushed: bool,
}

impl Load {
    /// Takes a started `zibrato-load` once it records.
    pub fn recording(daemon: Daemon) -> Load {
        daemon.wait_for_output("recording", Duration::from_secs(30));
        Load { daemon }
    }

    /// Stops it (SIGTERM: it flushes and closes) and reads its report.
    pub fn stop(mut self) -> LoadReport {
        assert!(
            self.daemon.stop("TERM").success(),
            "{}",
            self.daemon.output()
        );
        let output = self.daemon.output();
        let line = output
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no report:\n{output}"));
        let json: serde_json::Value = serde_json::from_str(line).expect("a JSON report");
        let number = |key: &str| json[key].as_i64().unwrap_or(-1);
        LoadReport {
            recorded: number("recorded"),
            dropped: number("dropped"),
            filtered: number("filtered"),
            flushed: json["flushed"] == true,
        }
    }
}

impl Daemon {
    /// Waits until this console worker has counted `total` of the counter `name`, or
    /// its count stops moving for `quiet` (it will not get there); returns the count.
    pub fn settle_sum(&self, name: &str, total: i64, quiet: Duration) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = self.console_sum(name);
        let mut quiet_since = Instant::now();
        while seen != total && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.console_sum(name);
            if now != seen {
                quiet_since = Instant::now();
                seen = now;
            } else if seen > total || quiet_since.elapsed() > quiet {
                break;
            }
        }
        seen
    }
}
