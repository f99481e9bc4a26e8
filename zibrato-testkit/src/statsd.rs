//! Etsy statsd (npm `statsd`) as a peer: started on 127.0.0.1 with its management port.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where statsd's `stats.js` is: `ZIBRATO_STATSD_JS`, then the tools folder `.ci/run`
/// installs into (`~/.zibrato-tools`), then npm's global folder.
pub fn find_statsd() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ZIBRATO_STATSD_JS") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let local = PathBuf::from(home).join(".zibrato-tools/node_modules/statsd/stats.js");
    if local.exists() {
        return Some(local);
    }
    let global = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let path =
        PathBuf::from(String::from_utf8_lossy(&global.stdout).trim()).join("statsd/stats.js");
    path.exists().then_some(path)
}

/// A running statsd; killed (by its PID) when dropped.
pub struct Statsd {
    child: Child,
    /// UDP port for metrics.
    pub port: u16,
    /// TCP management port.
    pub mgmt_port: u16,
    config: PathBuf,
}

impl Statsd {
    /// Starts statsd on 127.0.0.1 with no backend and a one-hour flush, so its
    /// counters accumulate for reading through the management port.
    pub fn start(stats_js: &PathBuf, port: u16, mgmt_port: u16) -> std::io::Result<Statsd> {
        let config =
            std::env::temp_dir().join(format!("zibrato-statsd-{}-{port}.js", std::process::id()));
        std::fs::write(
            &config,
            format!(
                "{{ port: {port}, address: \"127.0.0.1\", mgmt_port: {mgmt_port}, mgmt_address: \"127.0.0.1\", \
                 flushInterval: 3600000, backends: [], deleteIdleStats: false }}"
            ),
        )?;
        let child = Command::new("node")
            .arg(stats_js)
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let statsd = Statsd {
            child,
            port,
            mgmt_port,
            config,
        };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", mgmt_port)).is_ok() {
                return Ok(statsd);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(
            "statsd did not open its management port",
        ))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a management command (`counters`, `timers`, `gauges`, `stats`) and returns
    /// the answer up to `END`.
    pub fn command(&self, command: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.mgmt_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        let mut out = String::new();
        for line in BufReader::new(stream).lines() {
            let line = line?;
            if line == "END" {
                break;
            }
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    /// The value of `statsd.metrics_received` since start.
    pub fn metrics_received(&self) -> u64 {
        self.counter("statsd.metrics_received").unwrap_or(0.0) as u64
    }

    /// A counter's value from the management port, if statsd has it.
    pub fn counter(&self, name: &str) -> Option<f64> {
        let counters = self.command("counters").ok()?;
        entry(&counters, name).and_then(|v| v.parse().ok())
    }

    /// A gauge's value from the management port, if statsd has it.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        let gauges = self.command("gauges").ok()?;
        entry(&gauges, name).and_then(|v| v.parse().ok())
    }

    /// A timer's values (milliseconds), as statsd holds them, if it has the timer.
    ///
    /// # Panics
    /// When the timer holds more than 100 values: node prints only the first 100 of
    /// an array (`... N more items`), so a test's timers stay within 100.
    pub fn timer(&self, name: &str) -> Option<Vec<f64>> {
        let timers = self.command("timers").ok()?;
        let start = timers
            .find(&format!("'{name}': ["))
            .or_else(|| timers.find(&format!("{name}: [")))?;
        let rest = &timers[start..];
        let open = rest.find('[')?;
        let close = rest.find(']')?;
        let values = &rest[open + 1..close];
        assert!(
            !values.contains("more item"),
            "statsd printed only 100 of {name}'s values"
        );
        Some(
            values
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .filter_map(|v| v.parse().ok())
                .collect(),
        )
    }
}

impl Drop for Statsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// The value of `name` in statsd's JavaScript-object answer for counters or gauges
/// (`{ 'a.b': 1, c: 2 }`, on one line or several; keys quoted only when they need it).
fn entry<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .split([',', '\n'])
        .map(|part| {
            part.trim()
                .trim_start_matches('{')
                .trim_end_matches('}')
                .trim()
        })
        .filter_map(|part| part.split_once(": "))
        .find(|(key, _)| key.trim().trim_matches('\'') == name)
        .map(|(_, value)| value.trim())
}

/// Resident and peak memory of a process, in bytes, from `/proc/<pid>/status`.
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
