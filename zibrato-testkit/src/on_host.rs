//! The daemons the multi-host tests start on one of the simulated hosts, each started
//! the same way everywhere and returned once it is ready: a broker, a console worker
//! and `zibrato-load`.

use std::time::Duration;

use crate::{Daemon, Host, Hosts, Load, bin_path};

/// How long a daemon on a simulated host may take to be ready.
const READY: Duration = Duration::from_secs(30);

impl Hosts {
    /// A broker on `host` with `args` (its self-metrics only hourly, so they do not
    /// crowd its log), once it listens.
    pub fn broker(&self, host: Host, args: &[&str]) -> Daemon {
        let mut all = vec!["--stats-interval", "3600"];
        all.extend_from_slice(args);
        let broker = self.start(host, bin_path("zibrato-broker"), &all);
        broker.wait_for_output("broker listening", READY);
        broker
    }

    /// A console worker on `host` for the level `info`, printing a JSON line per series
    /// every second, with `args` (where its broker is, which keys), once subscribed.
    pub fn console(&self, host: Host, args: &[&str]) -> Daemon {
        let mut all = vec!["--levels", "info", "--flush", "1", "--format", "json"];
        all.extend_from_slice(args);
        let worker = self.start(host, bin_path("zibrato-console"), &all);
        worker.wait_for_output("worker subscribed", READY);
        worker
    }

    /// `zibrato-load` on `host` adding 1 to the counter `name` 200 times a second, with
    /// `args` (where its broker is, which keys), once it records.
    pub fn load(&self, host: Host, name: &str, args: &[&str]) -> Load {
        let mut all = vec!["--rate", "200", "--name", name];
        all.extend_from_slice(args);
        Load::recording(self.start(host, bin_path("zibrato-load"), &all))
    }
}
