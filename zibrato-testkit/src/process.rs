//! Daemons as real child processes.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Path of a binary of this workspace, next to the running test's `deps/` folder.
/// `cargo test --workspace` builds every binary before it runs the tests.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: tests build it through `cargo test --workspace`, benchmarks \
         need `cargo build --release --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs `program` with each bad command line and checks it exits with code 2 and says
/// `expected` (the one clear line a user gets for a bad flag).
pub fn assert_bad_command_lines(program: impl Into<PathBuf>, cases: &[(&[&str], &str)]) {
    let program = program.into();
    for (args, expected) in cases {
        let mut daemon = Daemon::start(&program, args);
        let status = daemon
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{args:?}: still running"));
        let output = daemon.output();
        assert_eq!(status.code(), Some(2), "{args:?}: {output}");
        assert!(
            output.contains(expected),
            "{args:?}: expected {expected:?} in {output}"
        );
    }
}

/// A running daemon whose stderr and stdout are collected. Dropping it sends SIGTERM
/// and waits; tests that care about the exit call [`Daemon::stop`].
pub struct Daemon {
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts `program` with `args`.
    pub fn start(program: impl Into<PathBuf>, args: &[&str]) -> Daemon {
        Self::start_with_env(program, args, &[])
    }

    /// Starts `program` with `args` and extra environment variables.
    pub fn start_with_env(
        program: impl Into<PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let program = program.into();
        let mut command = Command::new(&program);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [stdout, stderr] {
            let output = Arc::clone(&output);
            readers.push(thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            }));
        }
        Daemon {
            child: Some(child),
            output,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything the daemon printed so far, stdout and stderr interleaved by line.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`; panics with the output after `timeout`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {needle:?} within {timeout:?}; output:\n{}",
            self.output()
        );
    }

    /// Waits until 127.0.0.1:`port` accepts TCP connections.
    pub fn wait_for_port(&self, port: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "port {port} not open within {timeout:?}; output:\n{}",
            self.output()
        );
    }

    /// A figure from a stopped broker's totals (its `broker totals` log line), such as
    /// `dropped_malformed`; panics, with the output, if there is none.
    pub fn broker_total(&self, field: &str) -> u64 {
        self.logged("broker totals", field)
    }

    /// A figure from a stopped worker's totals (its `worker stopped` log line), such as
    /// `lost_frames`; panics, with the output, if there is none.
    pub fn worker_total(&self, field: &str) -> u64 {
        self.logged("worker stopped", field)
    }

    /// How many levels this broker's upstream wants of it, as its log last said (the
    /// link's welcome, then each want and unwant); `None` before the link is up.
    pub fn upstream_wants(&self) -> Option<u64> {
        self.output()
            .lines()
            .rev()
            .find(|l| l.contains("upstream broker linked") || l.contains("wants a level"))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("wants="))
                    .and_then(|v| v.parse().ok())
            })
    }

    /// The number `field=N` on the last line that contains `marker`; panics, with the
    /// output, if there is none.
    pub fn logged(&self, marker: &str, field: &str) -> u64 {
        let output = self.output();
        logged_value(&output, marker, field)
            .unwrap_or_else(|| panic!("no {field} on a {marker:?} line:\n{output}"))
    }

    /// The sum of the counter `name` over every window a console worker printed as
    /// JSON (`--format json`).
    pub fn console_sum(&self, name: &str) -> i64 {
        self.output()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|o| o["name"] == name)
            .map(|o| o["sum"].as_i64().unwrap_or(0))
            .sum()
    }

    /// Sends `signal` (`TERM`, `INT`, `QUIT`, …) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit, up to `timeout`; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` and waits for the exit; panics if it does not come in 10 s.
    pub fn stop(&mut self, signal: &str) -> ExitStatus {
        self.signal(signal);
        self.wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no exit 10 s after SIG{signal}; output:\n{}", self.output()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `done` holds, checking every 50 ms; panics naming `what` after
/// `timeout`. The one way tests wait for a condition instead of sleeping.
pub fn wait_until(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    wait_until_showing(what, timeout, &[], done);
}

/// [`wait_until`], and on a timeout the panic shows what each of `daemons` printed, so
/// a failure in CI says why.
pub fn wait_until_showing(
    what: &str,
    timeout: Duration,
    daemons: &[(&str, &Daemon)],
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            let outputs: String = daemons
                .iter()
                .map(|(name, daemon)| format!("\n--- {name}:\n{}", daemon.output()))
                .collect();
            panic!("timed out after {timeout:?} waiting for {what}{outputs}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The number `field=N` (or `field="N"`) on the last line of `output` that contains
/// `marker`, if there is one.
pub fn logged_value(output: &str, marker: &str, field: &str) -> Option<u64> {
    output
        .lines()
        .rev()
        .find(|l| l.contains(marker))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{field}=")))
        })
        .and_then(|v| v.trim_matches('"').parse().ok())
}
