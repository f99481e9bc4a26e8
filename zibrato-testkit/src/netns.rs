//! Two simulated hosts on one machine: network namespaces joined by a veth pair, made
//! by the test that asks for them and removed when it drops them. The link between
//! them fails the way a cable or a switch does: `ip link set … down` (this kernel has
//! no `netem`), so packets are neither delivered nor refused by the other host.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::Daemon;
use crate::tools::present_or_skip;

/// One of the two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The first host: 10.77.0.1 on the link.
    A,
    /// The second host: 10.77.0.2 on the link.
    B,
}

impl Host {
    /// The host's address on the link between the two.
    pub fn address(self) -> &'static str {
        match self {
            Host::A => "10.77.0.1",
            Host::B => "10.77.0.2",
        }
    }
}

/// Two hosts joined by one link. Each has its own loopback, so a daemon bound to
/// 127.0.0.1 on one is out of reach of the other, as on two machines.
pub struct Hosts {
    names: [String; 2],
    /// Host A's end of the link.
    veth: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// Makes the two hosts and the link between them, up; `None` (skip loudly;
    /// panic under `ZIBRATO_REQUIRE_TOOLS=1`) where this process may not (it needs
    /// root and iproute2).
    pub fn new() -> Option<Hosts> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hosts = Hosts {
            names: [format!("zb{id}a"), format!("zb{id}b")],
            veth: format!("zv{id}a"),
        };
        match hosts.build(&id) {
            Ok(()) => Some(hosts),
            Err(why) => {
                eprintln!("cannot make two network namespaces: {why}");
                present_or_skip(
                    false,
                    "network namespaces (root and iproute2)",
                    "run the tests as root with iproute2 installed",
                );
                None
            }
        }
    }

    fn build(&self, id: &str) -> Result<(), String> {
        let [a, b] = &self.names;
        let peer = format!("zv{id}b");
        ip(&["netns", "add", a])?;
        ip(&["netns", "add", b])?;
        ip(&[
            "link", "add", &self.veth, "netns", a, "type", "veth", "peer", "name", &peer, "netns",
            b,
        ])?;
        for (ns, dev, host) in [(a, &self.veth, Host::A), (b, &peer, Host::B)] {
            let address = format!("{}/30", host.address());
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &address, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    fn name(&self, host: Host) -> &str {
        match host {
            Host::A => &self.names[0],
            Host::B => &self.names[1],
        }
    }

    /// Starts `program` with `args` on `host`.
    pub fn start(&self, host: Host, program: impl Into<PathBuf>, args: &[&str]) -> Daemon {
        self.start_with_env(host, program, args, &[])
    }

    /// Starts `program` with `args` and extra environment variables on `host`.
    pub fn start_with_env(
        &self,
        host: Host,
        program: impl Into<PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let program = program.into();
        let program = program.to_string_lossy();
        let mut all = vec!["netns", "exec", self.name(host), program.as_ref()];
        all.extend_from_slice(args);
        // `ip netns exec` executes the program in place: the daemon's pid is its own.
        Daemon::start_with_env("ip", &all, env)
    }

    /// Fails the link: host A's end goes down, so neither side can reach the other.
    pub fn link_down(&self) {
        ip(&["-n", self.name(Host::A), "link", "set", &self.veth, "down"]).expect("link down");
    }

    /// Mends the link.
    pub fn link_up(&self) {
        ip(&["-n", self.name(Host::A), "link", "set", &self.veth, "up"]).expect("link up");
    }

    /// Starts recording every packet that crosses the link (tcpdump on host A's end),
    /// once it is recording; `None` (skip loudly; panic under
    /// `ZIBRATO_REQUIRE_TOOLS=1`) without tcpdump.
    pub fn capture(&self) -> Option<Capture> {
        if !crate::require_tool("tcpdump", "apt-get install tcpdump") {
            return None;
        }
        let path = std::env::temp_dir().join(format!("{}.pcap", self.veth));
        let file = path.to_string_lossy().into_owned();
        let args = [
            "-i",
            self.veth.as_str(),
            "-U",
            "-s",
            "0",
            "-w",
            file.as_str(),
        ];
        let tcpdump = self.start(Host::A, "tcpdump", &args);
        tcpdump.wait_for_output("listening on", Duration::from_secs(10));
        Some(Capture { tcpdump, path })
    }
}

/// Packets recorded on the link between two hosts.
pub struct Capture {
    tcpdump: Daemon,
    path: PathBuf,
}

impl Capture {
    /// Stops recording; returns the capture file's bytes (pcap: headers and every
    /// packet whole).
    pub fn finish(mut self) -> Vec<u8> {
        self.tcpdump.stop("INT");
        let bytes = std::fs::read(&self.path).expect("the capture file");
        let _ = std::fs::remove_file(&self.path);
        bytes
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
