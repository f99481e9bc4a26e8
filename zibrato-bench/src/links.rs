//! The brokers a `zibrato-e2e` run goes through: one broker, or a local broker linked
//! to the worker's broker, plain or with CURVE keys made for the run.

use std::time::Duration;

use zibrato_testkit::{Daemon, free_ports};

use crate::daemons::{beside, broker};

/// The path between the client and the worker's broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Link {
    /// One broker.
    None,
    /// A local broker linked to the worker's broker, no keys.
    Plain,
    /// The same link with CURVE keys.
    Curve,
}

/// The brokers of one run: the one the client publishes to, and the one the worker
/// reads from (the same one without a link).
pub struct Brokers {
    /// The broker the client publishes to.
    pub local: Daemon,
    /// The worker's broker, when it is another one.
    pub central: Option<Daemon>,
    /// The port the client publishes to (the local broker's).
    pub publish: u16,
    /// The port the worker reads from (the worker's broker's).
    pub read: u16,
    /// The worker's key arguments, for a keyed central broker.
    pub worker_keys: Vec<String>,
    _keys: Option<tempdir::Keys>,
}

mod tempdir {
    /// A folder of keys made by `zibrato-broker keygen`, removed at the end.
    pub struct Keys(pub std::path::PathBuf);

    impl Drop for Keys {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Starts the brokers of `link`: one, or a local one linked to the worker's, plain or
/// with keys made for the run.
pub fn start_brokers(link: Link) -> Brokers {
    let port = free_ports();
    if link == Link::None {
        return Brokers {
            local: broker(port, &[]),
            central: None,
            publish: port,
            read: port + 1,
            worker_keys: Vec::new(),
            _keys: None,
        };
    }
    let upstream = format!("tcp://127.0.0.1:{}", port + 2);
    let local_port = free_ports();
    let (central, local, worker_keys, keys) = if link == Link::Curve {
        let dir = std::env::temp_dir().join(format!("zibrato-e2e-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = tempdir::Keys(dir.clone());
        let file = |name: &str, suffix: &str| {
            dir.join(format!("{name}.{suffix}"))
                .to_string_lossy()
                .into_owned()
        };
        for name in ["central", "local", "worker"] {
            let made = std::process::Command::new(beside("zibrato-broker"))
                .args(["keygen", name, "--dir"])
                .arg(&dir)
                .output()
                .expect("keygen runs");
            assert!(made.status.success(), "keygen failed");
        }
        let allow = dir.join("allowed");
        std::fs::create_dir_all(&allow).expect("a folder");
        for name in ["local", "worker"] {
            std::fs::copy(
                dir.join(format!("{name}.key")),
                allow.join(format!("{name}.key")),
            )
            .expect("a copy");
        }
        let allow = allow.to_string_lossy().into_owned();
        let central = broker(
            port,
            &[
                "--curve-secret-file",
                &file("central", "key_secret"),
                "--curve-allow",
                &allow,
            ],
        );
        let local = broker(
            local_port,
            &[
                "--upstream",
                &upstream,
                "--curve-secret-file",
                &file("local", "key_secret"),
                "--upstream-key",
                &file("central", "key"),
            ],
        );
        let worker_keys = vec![
            "--curve-secret-file".to_string(),
            file("worker", "key_secret"),
            "--curve-server-key".to_string(),
            file("central", "key"),
        ];
        (central, local, worker_keys, Some(keys))
    } else {
        let central = broker(port, &[]);
        let local = broker(local_port, &["--upstream", &upstream]);
        (central, local, Vec::new(), None)
    };
    local.wait_for_output("upstream broker linked", Duration::from_secs(10));
    Brokers {
        local,
        central: Some(central),
        publish: local_port,
        read: port + 1,
        worker_keys,
        _keys: keys,
    }
}
