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

use zibrato_testkit::{Daemon, Host, Hosts, bin_path, contains, wait_until, wait_until_showing};

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

impl Pair {
    /// The arguments of a publisher or a worker holding this pair, for `server`'s
    /// broker.
    fn client_of<'a>(&'a self, server: &'a Pair) -> [&'a str; 4] {
        [
            "--curve-secret-file",
            &self.secret,
            "--curve-server-key",
            &server.public,
        ]
    }

    /// The arguments of a broker holding this pair, linked to `server`'s at `upstream`.
    fn linked_to<'a>(&'a self, server: &'a Pair, upstream: &'a str) -> [&'a str; 6] {
        [
            "--upstream",
            upstream,
            "--curve-secret-file",
            &self.secret,
            "--upstream-key",
            &server.public,
        ]
    }
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

/// The central broker on B, on every interface with `central`'s keys, letting in the
/// keys in `allow`; and the worker beside it, holding `worker`.
fn keyed_central(hosts: &Hosts, central: &Pair, allow: &Path, worker: &Pair) -> (Daemon, Daemon) {
    let allow = allow.to_string_lossy();
    let broker = hosts.broker(
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
    let inside = hosts.console(Host::B, &worker.client_of(central));
    (broker, inside)
}

/// The central broker's relay port, seen from A.
fn central_relay() -> String {
    format!("tcp://{}:5552", Host::B.address())
}

/// The arguments of a publisher (`port` 5550) or a worker (5551) on A for the central
/// broker on B, holding `pair` for `central`'s keys when given.
fn toward_central(port: &str, pair: Option<&Pair>, central: &Pair) -> Vec<String> {
    let keys = pair.map(|pair| pair.client_of(central));
    ["--host", Host::B.address(), "--port", port]
        .into_iter()
        .chain(keys.into_iter().flatten())
        .map(String::from)
        .collect()
}

/// Arguments made as `String`s, as a command line takes them.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

const NAME: &str = "zibrato.secret.metric.name";

/// A central broker on B, a local one on A linked to it, the application on A; the
/// worker beside the central broker. With keys (`keyed`) or `--insecure`. Returns what
/// was recorded, what the worker counted, and the packets that crossed the link.
fn chain(keyed: bool) -> Option<(i64, i64, Vec<u8>)> {
    let hosts = Hosts::new()?;
    let keys = Keyring::new(if keyed { "chain" } else { "plain" });
    let (central, local, worker_key) = (
        keys.make("central"),
        keys.make("local"),
        keys.make("worker"),
    );
    let upstream = central_relay();
    let allow = keys.allow(&["local", "worker"]);
    let (mut central_broker, mut worker) = if keyed {
        keyed_central(&hosts, &central, &allow, &worker_key)
    } else {
        (
            hosts.broker(Host::B, &["--host", "0.0.0.0", "--insecure"]),
            hosts.console(Host::B, &[]),
        )
    };
    let (keyed_link, plain_link) = (
        local.linked_to(&central, &upstream),
        ["--upstream", upstream.as_str(), "--insecure"],
    );
    let local_args = if keyed {
        &keyed_link[..]
    } else {
        &plain_link[..]
    };
    let capture = hosts.capture()?;
    let mut local_broker = hosts.broker(Host::A, local_args);
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
    let app = hosts.load(Host::A, NAME, &[]);
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
    let allow = keys.allow(&["good", "worker"]);
    let (mut central_broker, mut inside) = keyed_central(&hosts, &central, &allow, &worker);
    let to = |port: &str, pair: Option<&Pair>| toward_central(port, pair, &central);
    // From host A: no key, a key the broker does not allow, and an allowed one.
    let keyless = hosts.load(Host::A, "from.keyless", &strs(&to("5550", None)));
    let strange = hosts.load(
        Host::A,
        "from.stranger",
        &strs(&to("5550", Some(&stranger))),
    );
    let allowed = hosts.load(Host::A, "from.good", &strs(&to("5550", Some(&good))));
    // Workers on A without a key and with a key not allowed.
    let mut keyless_worker = hosts.console(Host::A, &strs(&to("5551", None)));
    let mut strange_worker = hosts.console(Host::A, &strs(&to("5551", Some(&stranger))));

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
    let (central_broker, mut inside) = keyed_central(&hosts, &central, &allow_dir, &worker);
    // On A: a publisher that stays allowed, one that is revoked (both straight to B),
    // a worker that is revoked, and a broker linked to B whose key is revoked.
    let to = |port: &str, pair: &Pair| toward_central(port, Some(pair), &central);
    let kept_app = hosts.load(Host::A, "kept.metric", &strs(&to("5550", &kept)));
    let revoked_app = hosts.load(Host::A, "revoked.metric", &strs(&to("5550", &revoked)));
    let remote_worker = hosts.console(Host::A, &strs(&to("5551", &remote)));
    let upstream = central_relay();
    let mut linked_args = vec!["--port", "6550"];
    linked_args.extend(local.linked_to(&central, &upstream));
    let linked = hosts.broker(Host::A, &linked_args);
    linked.wait_for_output("upstream broker linked", WAIT);
    let relayed_app = hosts.load(Host::A, "relayed.metric", &["--port", "6550"]);
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
    let allow = keys.allow(&["local", "worker"]);
    let (central_broker, mut inside) = keyed_central(&hosts, &central, &allow, &worker);
    let upstream = central_relay();
    let mut local_broker = hosts.broker(Host::A, &local.linked_to(&central, &upstream));
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
    let app = hosts.load(Host::A, "seq", &[]);
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
