//! Keys for the links between hosts (CURVE), on two simulated hosts (network
//! namespaces joined by a veth pair): an encrypted chain delivers exactly and its
//! packets carry no metric name; peers without a key, with a wrong one, or whose key
//! was revoked get nothing through, and the broker counts them; an encrypted link that
//! fails loses nothing.
//!
//! Keys are made with `zibrato-broker keygen`. Needs root (CI runs as root) and
//! tcpdump for the captures; without them each test says SKIPPED and passes, unless
//! `ZIBRATO_REQUIRE_TOOLS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zibrato_testkit::{
    Daemon, Host, Hosts, Load, bin_path, contains, wait_until, wait_until_showing,
};

const WAIT: Duration = Duration::from_secs(30);

/// A folder of keys made by the real key tool, removed at the end.
struct Keyring {
    dir: PathBuf,
}

/// One key pair's files.
struct Pair {
    public: String,
    secret: String,
}

impl Keyring {
    fn new(test: &str) -> Keyring {
        let dir = std::env::temp_dir().join(format!("zibrato-keys-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Keyring { dir }
    }

    fn make(&self, name: &str) -> Pair {
        let out = Command::new(bin_path("zibrato-broker"))
            .args(["keygen", name, "--dir"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = |suffix: &str| {
            self.dir
                .join(format!("{name}.{suffix}"))
                .to_string_lossy()
                .into_owned()
        };
        Pair {
            public: file("key"),
            secret: file("key_secret"),
        }
    }

    /// A directory of the public certificates of `names`, for `--curve-allow`.
    fn allow(&self, names: &[&str]) -> PathBuf {
        let allow = self.dir.join("allowed");
        std::fs::create_dir_all(&allow).unwrap();
        for name in names {
            let file = format!("{name}.key");
            std::fs::copy(self.dir.join(&file), allow.join(&file)).unwrap();
        }
        allow
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn broker(hosts: &Hosts, host: Host, args: &[&str]) -> Daemon {
    let mut all = vec!["--stats-interval", "3600"];
    all.extend_from_slice(args);
    let broker = hosts.start(host, bin_path("zibrato-broker"), &all);
    broker.wait_for_output("broker listening", WAIT);
    broker
}

/// A console worker for `info`; `args` say where its broker is and with which keys.
fn console(hosts: &Hosts, host: Host, args: &[&str]) -> Daemon {
    let mut all = vec!["--levels", "info", "--flush", "1", "--format", "json"];
    all.extend_from_slice(args);
    let worker = hosts.start(host, bin_path("zibrato-console"), &all);
    worker.wait_for_output("worker subscribed", WAIT);
    worker
}

/// `zibrato-load` on `host` recording the counter `name`, with `args`.
fn load(hosts: &Hosts, host: Host, name: &str, args: &[&str]) -> Load {
    let mut all = vec!["--rate", "200", "--name", name];
    all.extend_from_slice(args);
    Load::recording(hosts.start(host, bin_path("zibrato-load"), &all))
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

const NAME: &str = "zibrato.secret.metric.name";

/// A central broker on B, a local one on A linked to it, the application on A; the
/// worker beside the central broker. With keys (`keyed`) or `--insecure`. Returns what
/// was recorded, what the worker counted, and the packets that crossed the link.
fn chain(keyed: bool) -> Option<(i64, i64, Vec<u8>)> {
    let hosts = Hosts::new()?;
    let keys = Keyring::new(if keyed { "chain" } else { "plain" });
    let (central, local, worker) = (
        keys.make("central"),
        keys.make("local"),
        keys.make("worker"),
    );
    let allow = path(&keys.allow(&["local", "worker"]));
    let upstream = format!("tcp://{}:5552", Host::B.address());
    let (central_args, worker_args, local_args): (Vec<&str>, Vec<&str>, Vec<&str>) = if keyed {
        (
            vec![
                "--host",
                "0.0.0.0",
                "--curve-secret-file",
                &central.secret,
                "--curve-allow",
                &allow,
            ],
            vec![
                "--curve-secret-file",
                &worker.secret,
                "--curve-server-key",
                &central.public,
            ],
            vec![
                "--upstream",
                &upstream,
                "--curve-secret-file",
                &local.secret,
                "--upstream-key",
                &central.public,
            ],
        )
    } else {
        (
            vec!["--host", "0.0.0.0", "--insecure"],
            vec![],
            vec!["--upstream", &upstream, "--insecure"],
        )
    };
    let mut central_broker = broker(&hosts, Host::B, &central_args);
    let mut worker = console(&hosts, Host::B, &worker_args);
    let capture = hosts.capture()?;
    let mut local_broker = broker(&hosts, Host::A, &local_args);
    let daemons = [
        ("central broker", &central_broker),
        ("worker", &worker),
        ("local broker", &local_broker),
    ];
    wait_until_showing(
        "the link, with the worker's level wanted",
        WAIT,
        &daemons,
        || local_broker.upstream_wants() == Some(1),
    );
    let app = load(&hosts, Host::A, NAME, &[]);
    std::thread::sleep(Duration::from_secs(3));
    let recorded = app.stop().recorded;
    let counted = worker.settle_sum(NAME, recorded, Duration::from_secs(8));
    let packets = capture.finish();
    assert!(local_broker.stop("TERM").success());
    assert!(worker.stop("TERM").success());
    assert!(central_broker.stop("TERM").success());
    Some((recorded, counted, packets))
}

#[test]
fn an_encrypted_chain_delivers_exactly_and_no_name_crosses_the_link() {
    let Some((recorded, counted, packets)) = chain(true) else {
        return;
    };
    assert!(recorded > 100);
    assert_eq!(counted, recorded, "every count, once");
    assert!(
        packets.len() > 4_000,
        "the capture saw the traffic: {} bytes",
        packets.len()
    );
    assert!(
        !contains(&packets, NAME.as_bytes()),
        "the metric's name crossed in plain text"
    );
}

#[test]
fn without_keys_the_names_cross_in_plain_text() {
    // The control for the test above: the same chain with --insecure, and the name is
    // there to be found in the capture.
    let Some((recorded, counted, packets)) = chain(false) else {
        return;
    };
    assert_eq!(counted, recorded);
    assert!(contains(&packets, NAME.as_bytes()));
}

#[test]
fn peers_without_a_good_key_get_nothing_through_and_are_counted() {
    let Some(hosts) = Hosts::new() else {
        return;
    };
    let keys = Keyring::new("refused");
    let central = keys.make("central");
    let (good, stranger, worker) = (
        keys.make("good"),
        keys.make("stranger"),
        keys.make("worker"),
    );
    let allow = path(&keys.allow(&["good", "worker"]));
    let mut central_broker = broker(
        &hosts,
        Host::B,
        &[
            "--host",
            "0.0.0.0",
            "--curve-secret-file",
            &central.secret,
            "--curve-allow",
            &allow,
        ],
    );
    let server = ["--curve-server-key", central.public.as_str()];
    let mut inside = console(
        &hosts,
        Host::B,
        &["--curve-secret-file", &worker.secret, server[0], server[1]],
    );
    let at = |port: &str| {
        [
            "--host".to_string(),
            Host::B.address().to_string(),
            "--port".to_string(),
            port.to_string(),
        ]
    };
    let publisher = at("5550");
    let publisher: Vec<&str> = publisher.iter().map(String::as_str).collect();
    // From host A: no key, a key the broker does not allow, and an allowed one.
    let keyless = load(&hosts, Host::A, "from.keyless", &publisher);
    let mut args = publisher.clone();
    args.extend([
        "--curve-secret-file",
        &stranger.secret,
        server[0],
        server[1],
    ]);
    let strange = load(&hosts, Host::A, "from.stranger", &args);
    let mut args = publisher.clone();
    args.extend(["--curve-secret-file", &good.secret, server[0], server[1]]);
    let allowed = load(&hosts, Host::A, "from.good", &args);
    // Workers on A without a key and with a key not allowed.
    let worker_port = at("5551");
    let worker_port: Vec<&str> = worker_port.iter().map(String::as_str).collect();
    let mut keyless_worker = console(&hosts, Host::A, &worker_port);
    let mut args = worker_port.clone();
    args.extend([
        "--curve-secret-file",
        &stranger.secret,
        server[0],
        server[1],
    ]);
    let mut strange_worker = console(&hosts, Host::A, &args);

    std::thread::sleep(Duration::from_secs(4));
    let good_count = allowed.stop().recorded;
    let (keyless, strange) = (keyless.stop(), strange.stop());
    assert!(keyless.recorded > 0 && strange.recorded > 0);
    assert_eq!(
        inside.settle_sum("from.good", good_count, Duration::from_secs(8)),
        good_count
    );
    assert_eq!(inside.console_sum("from.keyless"), 0);
    assert_eq!(inside.console_sum("from.stranger"), 0);
    for worker in [&mut keyless_worker, &mut strange_worker] {
        assert!(worker.stop("TERM").success());
        assert!(
            !worker.output().contains("\"name\""),
            "a refused worker got a window:\n{}",
            worker.output()
        );
    }
    assert!(inside.stop("TERM").success());
    assert!(central_broker.stop("TERM").success());
    let total = |field: &str| central_broker.broker_total(field);
    assert!(
        total("curve_refused_publishers") >= 1,
        "the stranger publisher"
    );
    assert!(total("curve_refused_workers") >= 1, "the stranger worker");
    assert!(
        total("handshake_failed_publishers") >= 1,
        "the keyless publisher"
    );
    assert!(total("handshake_failed_workers") >= 1, "the keyless worker");
    let output = central_broker.output();
    assert!(
        output.contains(&format!("peer={}", Host::A.address())),
        "a refusal names the peer's address:\n{output}"
    );
    assert!(!output.contains("secret-key"));
}

#[test]
fn a_revoked_key_gets_nothing_more_through_after_sighup() {
    let Some(hosts) = Hosts::new() else {
        return;
    };
    let keys = Keyring::new("revoked");
    let central = keys.make("central");
    let (kept, revoked, worker) = (keys.make("kept"), keys.make("revoked"), keys.make("worker"));
    let (remote, local) = (keys.make("remote"), keys.make("local"));
    let allow_dir = keys.allow(&["kept", "revoked", "worker", "remote", "local"]);
    let allow = path(&allow_dir);
    let central_broker = broker(
        &hosts,
        Host::B,
        &[
            "--host",
            "0.0.0.0",
            "--curve-secret-file",
            &central.secret,
            "--curve-allow",
            &allow,
        ],
    );
    let server = ["--curve-server-key", central.public.as_str()];
    let mut inside = console(
        &hosts,
        Host::B,
        &["--curve-secret-file", &worker.secret, server[0], server[1]],
    );
    let b = Host::B.address();
    // On A: a publisher that stays allowed, one that is revoked (both straight to B),
    // a worker that is revoked, and a broker linked to B whose key is revoked.
    let publisher = |pair: &Pair, name: &str| {
        let args = [
            "--host",
            b,
            "--port",
            "5550",
            "--curve-secret-file",
            &pair.secret,
            server[0],
            server[1],
        ];
        load(&hosts, Host::A, name, &args)
    };
    let kept_app = publisher(&kept, "kept.metric");
    let revoked_app = publisher(&revoked, "revoked.metric");
    let remote_worker = console(
        &hosts,
        Host::A,
        &[
            "--host",
            b,
            "--port",
            "5551",
            "--curve-secret-file",
            &remote.secret,
            server[0],
            server[1],
        ],
    );
    let upstream = format!("tcp://{b}:5552");
    let linked = broker(
        &hosts,
        Host::A,
        &[
            "--port",
            "6550",
            "--upstream",
            &upstream,
            "--curve-secret-file",
            &local.secret,
            "--upstream-key",
            &central.public,
        ],
    );
    linked.wait_for_output("upstream broker linked", WAIT);
    let relayed_app = load(&hosts, Host::A, "relayed.metric", &["--port", "6550"]);
    wait_until("every stream at the worker", WAIT, || {
        ["kept.metric", "revoked.metric", "relayed.metric"]
            .iter()
            .all(|n| inside.console_sum(n) > 0)
            && remote_worker.output().contains("kept.metric")
    });

    for name in ["revoked", "remote", "local"] {
        std::fs::remove_file(allow_dir.join(format!("{name}.key"))).unwrap();
    }
    central_broker.signal("HUP");
    central_broker.wait_for_output("SIGHUP: reread the allowed keys", WAIT);
    // What was on its way settles; from then on nothing more of theirs gets through.
    std::thread::sleep(Duration::from_secs(3));
    let frozen = |worker: &Daemon| {
        (
            worker.console_sum("revoked.metric"),
            worker.console_sum("relayed.metric"),
        )
    };
    let before = frozen(&inside);
    // (An idle counter still prints windows of 0 until it expires: compare sums.)
    let remote_before = remote_worker.console_sum("kept.metric");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(frozen(&inside), before, "revoked streams stopped");
    assert_eq!(
        remote_worker.console_sum("kept.metric"),
        remote_before,
        "the revoked worker got nothing more"
    );
    // The publisher still allowed lost nothing through the reload.
    let kept_report = kept_app.stop();
    assert_eq!((kept_report.dropped, kept_report.filtered), (0, 0));
    let kept_count = kept_report.recorded;
    assert_eq!(
        inside.settle_sum("kept.metric", kept_count, Duration::from_secs(8)),
        kept_count
    );
    drop((revoked_app, relayed_app, linked, remote_worker));
    let mut central_broker = central_broker;
    assert!(central_broker.stop("TERM").code().is_some());
    assert!(central_broker.broker_total("dropped_revoked") > 0);
    assert!(inside.stop("TERM").success());
}

#[test]
fn an_encrypted_link_down_for_20_s_loses_nothing() {
    let Some(hosts) = Hosts::new() else {
        return;
    };
    let keys = Keyring::new("partition");
    let (central, local, worker) = (
        keys.make("central"),
        keys.make("local"),
        keys.make("worker"),
    );
    let allow = path(&keys.allow(&["local", "worker"]));
    let central_broker = broker(
        &hosts,
        Host::B,
        &[
            "--host",
            "0.0.0.0",
            "--curve-secret-file",
            &central.secret,
            "--curve-allow",
            &allow,
        ],
    );
    let mut inside = console(
        &hosts,
        Host::B,
        &[
            "--curve-secret-file",
            &worker.secret,
            "--curve-server-key",
            &central.public,
        ],
    );
    let upstream = format!("tcp://{}:5552", Host::B.address());
    let mut local_broker = broker(
        &hosts,
        Host::A,
        &[
            "--upstream",
            &upstream,
            "--curve-secret-file",
            &local.secret,
            "--upstream-key",
            &central.public,
        ],
    );
    let daemons = [
        ("central broker", &central_broker),
        ("worker", &inside),
        ("local broker", &local_broker),
    ];
    wait_until_showing(
        "the link, with the worker's level wanted",
        WAIT,
        &daemons,
        || local_broker.upstream_wants() == Some(1),
    );
    let app = load(&hosts, Host::A, "seq", &[]);
    std::thread::sleep(Duration::from_secs(2));
    hosts.link_down();
    std::thread::sleep(Duration::from_secs(20));
    hosts.link_up();
    std::thread::sleep(Duration::from_secs(3));
    let recorded = app.stop().recorded;
    assert_eq!(
        inside.settle_sum("seq", recorded, Duration::from_secs(8)),
        recorded
    );
    assert!(
        local_broker.stop("TERM").success(),
        "{}",
        local_broker.output()
    );
    assert!(inside.stop("TERM").success());
    assert_eq!(inside.worker_total("lost_frames"), 0);
}
