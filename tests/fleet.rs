//! The README's fleet on two simulated hosts (network namespaces joined by a veth pair):
//! an application and its host-local broker on host A, `--upstream` to a central broker
//! with a console worker on host B; the real client records 200 increments a second
//! while the link between the hosts fails. Within the replay bound nothing is lost and
//! nothing is counted twice; past it, the loss is exactly what the local broker counts
//! as dropped.
//!
//! The links are plain (`--insecure`): tests/keys.rs runs the same faults with keys.
//! Needs root (CI runs as root); without it each test says SKIPPED and passes, unless
//! `ZIBRATO_REQUIRE_TOOLS=1`.

use std::time::Duration;

use zibrato_testkit::{Daemon, Host, Hosts, Load, wait_until};

/// How long a daemon may take to start, or the pipeline to catch up.
const WAIT: Duration = Duration::from_secs(30);

/// The default ports on both hosts: each has a loopback of its own.
const PORT: u16 = 5550;

/// The pipeline of the README's fleet section across the two hosts.
struct Fleet {
    central: Daemon,
    worker: Daemon,
    local: Daemon,
    load: Option<Load>,
    /// Last, so the daemons end before their hosts are removed.
    hosts: Hosts,
}

impl Fleet {
    /// Central broker and worker on B, the local broker (with `local_args`) on A, linked;
    /// `None` when this machine cannot make the hosts.
    fn start(local_args: &[&str]) -> Option<Fleet> {
        let hosts = Hosts::new()?;
        let central = hosts.broker(Host::B, &["--host", "0.0.0.0", "--insecure"]);
        // The worker wants `info` only: the arithmetic below counts one counter.
        let worker = hosts.console(Host::B, &[]);
        let upstream = format!("tcp://{}:{}", Host::B.address(), PORT + 2);
        let mut args = vec!["--upstream", upstream.as_str(), "--insecure"];
        args.extend_from_slice(local_args);
        let local = hosts.broker(Host::A, &args);
        wait_until("the link, with the worker's level wanted", WAIT, || {
            local.upstream_wants() == Some(1)
        });
        Some(Fleet {
            hosts,
            central,
            worker,
            local,
            load: None,
        })
    }

    /// Starts the application on A, and waits until the worker on B sees its counts.
    fn record(&mut self) {
        self.load = Some(self.hosts.load(Host::A, "seq", &[]));
        wait_until("the first counts at the worker", WAIT, || {
            self.worker.console_sum("seq") > 0
        });
    }

    /// Stops the application; returns how many it recorded (after checking its client
    /// lost nothing on its own host).
    fn stop_recording(&mut self) -> i64 {
        let report = self.load.take().expect("recording").stop();
        assert!(report.flushed, "{report:?}");
        assert_eq!(report.dropped, 0, "the client dropped nothing: {report:?}");
        assert_eq!(
            report.filtered, 0,
            "the client filtered nothing: {report:?}"
        );
        report.recorded
    }

    /// Waits until the worker has counted `total`, or stays quiet long enough that it
    /// will not; returns its count.
    fn settle(&self, total: i64) -> i64 {
        self.worker.settle_sum("seq", total, Duration::from_secs(8))
    }

    /// Stops the local broker, which must exit cleanly with nothing left unacknowledged.
    fn stop_local(&mut self) {
        let status = self.local.stop("TERM");
        assert!(status.success(), "{}", self.local.output());
        assert_eq!(self.local.broker_total("upstream_pending"), 0);
    }

    /// Stops the worker; it saw no frame go missing.
    fn stop_worker(&mut self) {
        assert!(self.worker.stop("TERM").success());
        assert_eq!(
            self.worker.worker_total("lost_frames"),
            0,
            "{}",
            self.worker.output()
        );
    }
}

/// Fails the link for `down`, mid-stream, and checks every count arrives once.
fn partition(down: Duration) {
    let Some(mut fleet) = Fleet::start(&[]) else {
        return;
    };
    fleet.record();
    std::thread::sleep(Duration::from_secs(2));
    fleet.hosts.link_down();
    std::thread::sleep(down);
    fleet.hosts.link_up();
    std::thread::sleep(Duration::from_secs(3));
    let total = fleet.stop_recording();
    assert_eq!(fleet.settle(total), total, "counted once each, none lost");
    fleet.stop_local();
    assert_eq!(fleet.local.broker_total("upstream_dropped_full"), 0);
    fleet.stop_worker();
    drop(fleet.central);
}

#[test]
fn a_link_down_for_20_s_loses_nothing() {
    partition(Duration::from_secs(20));
}

#[test]
fn a_link_down_for_2_minutes_loses_nothing_with_default_settings() {
    partition(Duration::from_secs(120));
}

#[test]
fn a_flapping_link_loses_nothing() {
    let Some(mut fleet) = Fleet::start(&[]) else {
        return;
    };
    fleet.record();
    for _ in 0..7 {
        fleet.hosts.link_down();
        std::thread::sleep(Duration::from_secs(1));
        fleet.hosts.link_up();
        std::thread::sleep(Duration::from_secs(2));
    }
    let total = fleet.stop_recording();
    assert_eq!(fleet.settle(total), total);
    fleet.stop_local();
    fleet.stop_worker();
}

#[test]
fn past_the_replay_bound_the_loss_is_what_the_local_broker_drops() {
    // About 20 frames a second of about 120 bytes each (64 of them bookkeeping): 20 s
    // down is about twice this bound.
    let Some(mut fleet) = Fleet::start(&["--max-replay-bytes", "20000"]) else {
        return;
    };
    fleet.record();
    std::thread::sleep(Duration::from_secs(2));
    fleet.hosts.link_down();
    std::thread::sleep(Duration::from_secs(20));
    fleet.hosts.link_up();
    std::thread::sleep(Duration::from_secs(3));
    let total = fleet.stop_recording();
    let delivered = fleet.settle(total);
    fleet.stop_local();
    let dropped = fleet
        .local
        .broker_total("upstream_dropped_full_measurements") as i64;
    assert!(dropped > 0, "20 s of frames exceed 20 kB");
    assert_eq!(
        delivered + dropped,
        total,
        "delivered {delivered} + dropped {dropped} at the local broker"
    );
}

#[test]
fn the_central_broker_killed_and_restarted_loses_nothing_and_counts_nothing_twice() {
    let Some(mut fleet) = Fleet::start(&[]) else {
        return;
    };
    fleet.record();
    std::thread::sleep(Duration::from_secs(2));
    fleet.central.signal("KILL");
    assert!(fleet.central.wait_exit(WAIT).is_some());
    std::thread::sleep(Duration::from_secs(3));
    fleet.central = fleet
        .hosts
        .broker(Host::B, &["--host", "0.0.0.0", "--insecure"]);
    fleet.local.wait_for_output("upstream broker linked", WAIT);
    std::thread::sleep(Duration::from_secs(3));
    let total = fleet.stop_recording();
    assert_eq!(fleet.settle(total), total);
    fleet.stop_local();
    assert!(fleet.worker.stop("TERM").success());
}

#[test]
fn a_worker_on_another_host_gets_everything_through_a_broker_beside_it() {
    let Some(hosts) = Hosts::new() else {
        return;
    };
    // The central broker and the application on A; a broker beside the worker on B
    // takes the levels its worker wants from A over the acknowledged link.
    let central = hosts.broker(Host::A, &["--host", "0.0.0.0", "--insecure"]);
    let upstream = format!("tcp://{}:{}", Host::A.address(), PORT + 2);
    let beside = hosts.broker(
        Host::B,
        &[
            "--upstream",
            &upstream,
            "--subscribe-upstream",
            "--insecure",
        ],
    );
    let worker = hosts.console(Host::B, &[]);
    beside.wait_for_output("upstream broker linked", WAIT);
    let mut fleet = Fleet {
        hosts,
        central: beside,
        worker,
        local: central,
        load: None,
    };
    // The worker's subscription reaches A through B's link before anything is recorded.
    wait_until("info wanted at A", WAIT, || {
        fleet.local.output().lines().any(|l| {
            (l.contains("a broker linked") || l.contains("a linked broker's wants changed"))
                && l.contains("wants=1")
        })
    });
    fleet.record();
    std::thread::sleep(Duration::from_secs(2));
    fleet.hosts.link_down();
    std::thread::sleep(Duration::from_secs(20));
    fleet.hosts.link_up();
    std::thread::sleep(Duration::from_secs(3));
    let total = fleet.stop_recording();
    assert_eq!(fleet.settle(total), total);
    // The broker on A kept the frames for B until B acknowledged them.
    assert!(fleet.local.stop("TERM").success());
    assert_eq!(fleet.local.broker_total("relays_dropped_full"), 0);
    assert_eq!(fleet.local.broker_total("relays_pending"), 0);
    fleet.stop_worker();
}
