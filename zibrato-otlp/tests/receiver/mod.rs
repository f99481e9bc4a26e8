//! The OTLP receiver the tests export to (tests/otlp_receiver.py, decoding with the
//! official Python `opentelemetry-proto` package, not our code), and reading what it
//! got. Shared by the test files; each uses some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato_testkit::{Daemon, require_otlp_python, start_worker};

pub const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-otlp");
pub const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_receiver.py");
pub const WAIT: Duration = Duration::from_secs(20);
pub const API_KEY: &str = "k3y-never-logged";

pub struct Receiver {
    pub daemon: Daemon,
    pub url: String,
}

impl Receiver {
    pub fn start(args: &[&str]) -> Option<Receiver> {
        let python = require_otlp_python()?;
        let mut all = vec![RECEIVER];
        all.extend_from_slice(args);
        let daemon = Daemon::start(python, &all);
        daemon.wait_for_output("listening ", WAIT);
        let port: u16 = daemon
            .output()
            .lines()
            .find_map(|l| l.strip_prefix("listening "))
            .and_then(|p| p.trim().parse().ok())
            .expect("a port");
        let scheme = if args.contains(&"--tls-cert") {
            "https"
        } else {
            "http"
        };
        Some(Receiver {
            daemon,
            url: format!("{scheme}://127.0.0.1:{port}"),
        })
    }

    /// Every export the receiver decoded, in order.
    pub fn exports(&self) -> Vec<Json> {
        self.daemon
            .output()
            .lines()
            .filter(|l| l.starts_with("{\"headers\""))
            .map(|l| serde_json::from_str(l).expect("the receiver's JSON"))
            .collect()
    }

    /// Every data point of metric `name`, with its metric, from non-empty exports.
    pub fn points(&self, name: &str) -> Vec<(Json, Json)> {
        let mut out = Vec::new();
        for export in self.exports() {
            for rm in array(&export["request"]["resource_metrics"]) {
                for sm in array(&rm["scope_metrics"]) {
                    for m in array(&sm["metrics"]) {
                        if m["name"] != name {
                            continue;
                        }
                        for kind in [
                            "sum",
                            "gauge",
                            "exponential_histogram",
                            "histogram",
                            "summary",
                        ] {
                            for p in array(&m[kind]["data_points"]) {
                                out.push((m.clone(), p.clone()));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    pub fn wait_for(&self, what: &str, check: impl Fn(&Receiver) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; receiver:\n{}",
                self.daemon.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn array(v: &Json) -> Vec<Json> {
    v.as_array().cloned().unwrap_or_default()
}

/// A number that protobuf's JSON form may write as a string (64-bit integers).
pub fn num(v: &Json) -> f64 {
    match v {
        Json::String(s) => s.parse().expect("a number"),
        Json::Number(n) => n.as_f64().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

pub fn attributes(point: &Json) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = array(&point["attributes"])
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_string(),
                kv["value"]["string_value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

pub fn sum_of(receiver: &Receiver, name: &str) -> f64 {
    receiver
        .points(name)
        .iter()
        .map(|(_, p)| num(&p["as_int"]))
        .sum()
}

pub fn worker(port: u16, receiver: &Receiver, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut args = vec![
        "--levels",
        "info",
        "--flush",
        "1",
        "--endpoint",
        receiver.url.as_str(),
    ];
    args.extend_from_slice(extra);
    start_worker(WORKER, port, &args, env, "info")
}

/// A private certificate authority and what it signed, made with the `openssl` command
/// in `dir`: a server certificate for 127.0.0.1 and a client certificate whose common
/// name is `zibrato-test-client`.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signed(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// Makes the [`Pki`] in `dir` (created if needed).
pub fn make_pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=zibrato-test-ca",
        ],
    );
    signed(
        dir,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    signed(
        dir,
        "client",
        "/CN=zibrato-test-client",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}
