//! A part of the pipeline restarts while the real client records a known count:
//! the worker, the broker, a central broker behind a host-local one, the broker and
//! the worker together. Within the grace nothing is lost; past it, what is lost is
//! exactly what the hops count as filtered or discarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zibrato::Zibrato;
use zibrato_testkit::{
    Daemon, Subscriber, free_ports, start_broker, start_console_json, wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

/// How long a part stays down: the scenario's one chosen duration (within the 30 s
/// grace; past the 1 s one). Everything else waits for what it needs.
const DOWN: Duration = Duration::from_secs(2);

/// Waits until `workers` have printed more of `seq` than `before`: measurements flow.
fn flowing(workers: &[&Daemon], before: i64) {
    wait_until("measurements printed by the worker", WAIT, || {
        sum(workers, "seq") > before
    });
}

/// The console worker on the broker at `port`, JSON windows of 1 s, `info` and the
/// self-metrics level.
fn worker(port: u16) -> Daemon {
    start_console_json(port)
}

/// Records `seq` +1 every 5 ms until stopped; returns how many.
struct Recorder {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicI64>,
    thread: JoinHandle<()>,
}

impl Recorder {
    fn start(z: &Zibrato) -> Recorder {
        let (stop, count) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicI64::new(0)),
        );
        let thread = {
            let (z, stop, count) = (z.clone(), Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    z.count("info", "seq");
                    count.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Recorder {
            stop,
            count,
            thread,
        }
    }

    fn finish(self) -> i64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.count.load(Ordering::Relaxed)
    }
}

/// A client of the broker on `port` with these level graces, once it knows `info` is
/// subscribed.
fn client(port: u16, grace: Duration) -> Zibrato {
    // Self-metrics only at close, so their sum is exact and none is filtered.
    let z = Zibrato::builder()
        .port(port)
        .level_grace(grace)
        .stats_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    // Route `info` end to end first, so the recording starts with the level wanted.
    Subscriber::connect(port + 1, &[]).wait_until_routed(port, "info", WAIT);
    let deadline = Instant::now() + WAIT;
    while !z.stats().connected {
        assert!(Instant::now() < deadline, "the client never connected");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    z
}

/// The sum of a counter over every window the workers printed.
fn sum(workers: &[&Daemon], name: &str) -> i64 {
    workers.iter().map(|w| w.console_sum(name)).sum()
}

/// A figure from a stopped broker's totals (its last log line).
fn total_of(broker: &Daemon, field: &str) -> i64 {
    broker.broker_total(field) as i64
}

/// Flushes, closes the client (which sends its last self-metrics), and stops the
/// workers once one has printed those, the last frame the client sent.
fn wind_down(z: Zibrato, workers: &mut [&mut Daemon]) {
    z.flush(WAIT).expect("everything recorded is sent");
    drop(z);
    wait_until("the client's last self-metrics printed", WAIT, || {
        workers
            .iter()
            .any(|w| w.console_sum("zibrato.client.recorded") > 0)
    });
    for w in workers.iter_mut() {
        assert!(w.stop("TERM").success());
    }
}

#[test]
fn a_worker_restart_loses_nothing() {
    let port = free_ports();
    let _broker = start_broker(port, &["--stats-interval", "3600"]);
    let mut first = worker(port);
    let z = client(port, Duration::from_secs(30));
    let recorder = Recorder::start(&z);
    flowing(&[&first], 0);
    assert!(first.stop("TERM").success());
    std::thread::sleep(DOWN);
    let mut second = worker(port);
    flowing(&[&second], 0);
    let total = recorder.finish();
    let stats = z.stats();
    wind_down(z, &mut [&mut second]);
    assert_eq!(sum(&[&first, &second], "seq"), total, "{stats:?}");
    assert_eq!(stats.filtered, 0);
    // The client's last self-metrics, sent as it closed, arrived: what it recorded.
    assert_eq!(sum(&[&second], "zibrato.client.recorded"), total);
}

#[test]
fn a_broker_restart_loses_nothing() {
    let port = free_ports();
    let mut broker = start_broker(port, &["--stats-interval", "3600"]);
    let mut worker = worker(port);
    let z = client(port, Duration::from_secs(30));
    let recorder = Recorder::start(&z);
    flowing(&[&worker], 0);
    assert!(broker.stop("TERM").success());
    std::thread::sleep(DOWN);
    let before = sum(&[&worker], "seq");
    let _broker = start_broker(port, &["--stats-interval", "3600"]);
    flowing(&[&worker], before);
    let total = recorder.finish();
    wind_down(z, &mut [&mut worker]);
    assert_eq!(sum(&[&worker], "seq"), total);
}

#[test]
fn the_broker_and_the_worker_restarting_together_lose_nothing() {
    let port = free_ports();
    let mut broker = start_broker(port, &["--stats-interval", "3600"]);
    let mut first = worker(port);
    let z = client(port, Duration::from_secs(30));
    let recorder = Recorder::start(&z);
    flowing(&[&first], 0);
    assert!(first.stop("TERM").success());
    let stopped = broker.stop("TERM");
    std::thread::sleep(Duration::from_secs(1));
    let _broker = start_broker(port, &["--stats-interval", "3600"]);
    // The worker comes back after the broker.
    std::thread::sleep(DOWN);
    let mut second = worker(port);
    flowing(&[&second], 0);
    let total = recorder.finish();
    wind_down(z, &mut [&mut second]);
    // Frames that reached the broker between the worker leaving and the client
    // hearing of it were held there, and the broker stopped with them: it says so,
    // in its totals and its exit status.
    let dropped = total_of(&broker, "workers_dropped_at_shutdown_measurements");
    assert_eq!(sum(&[&first, &second], "seq") + dropped, total);
    assert_eq!(
        stopped.code(),
        Some(if dropped > 0 { 3 } else { 0 }),
        "{}",
        broker.output()
    );
}

#[test]
fn a_central_broker_restart_behind_a_local_one_loses_nothing() {
    let central_port = free_ports();
    let mut central = start_broker(central_port, &["--stats-interval", "3600"]);
    let local_port = free_ports();
    let upstream = format!("tcp://127.0.0.1:{}", central_port + 2);
    let _local = start_broker(
        local_port,
        &["--upstream", &upstream, "--stats-interval", "3600"],
    );
    let mut worker = worker(central_port);
    let z = client(local_port, Duration::from_secs(30));
    let recorder = Recorder::start(&z);
    flowing(&[&worker], 0);
    assert!(central.stop("TERM").success());
    std::thread::sleep(DOWN);
    let before = sum(&[&worker], "seq");
    let _central = start_broker(central_port, &["--stats-interval", "3600"]);
    flowing(&[&worker], before);
    let total = recorder.finish();
    wind_down(z, &mut [&mut worker]);
    assert_eq!(sum(&[&worker], "seq"), total);
}

#[test]
fn a_local_broker_restart_in_front_of_a_central_one_loses_nothing() {
    let central_port = free_ports();
    let _central = start_broker(central_port, &["--stats-interval", "3600"]);
    let local_port = free_ports();
    let upstream = format!("tcp://127.0.0.1:{}", central_port + 2);
    let local_args = ["--upstream", upstream.as_str(), "--stats-interval", "3600"];
    let mut local = start_broker(local_port, &local_args);
    let mut worker = worker(central_port);
    let z = client(local_port, Duration::from_secs(30));
    let recorder = Recorder::start(&z);
    flowing(&[&worker], 0);
    assert!(local.stop("TERM").success());
    std::thread::sleep(DOWN);
    let before = sum(&[&worker], "seq");
    let _local = start_broker(local_port, &local_args);
    flowing(&[&worker], before);
    let total = recorder.finish();
    wind_down(z, &mut [&mut worker]);
    assert_eq!(sum(&[&worker], "seq"), total);
}

#[test]
fn past_the_grace_the_loss_is_what_the_client_counts_as_filtered() {
    let port = free_ports();
    let mut broker = start_broker(port, &["--stats-interval", "3600", "--grace", "1"]);
    let mut first = worker(port);
    let z = client(port, Duration::from_secs(1));
    let recorder = Recorder::start(&z);
    flowing(&[&first], 0);
    assert!(first.stop("TERM").success());
    // Down for longer than the 1 s grace.
    std::thread::sleep(DOWN * 2);
    let mut second = worker(port);
    flowing(&[&second], 0);
    let total = recorder.finish();
    let filtered = z.stats().filtered as i64;
    wind_down(z, &mut [&mut second]);
    let delivered = sum(&[&first, &second], "seq");
    // Frames that reached the broker after the worker left were held there for its
    // grace, then dropped: the broker counts them as expired.
    assert!(broker.stop("TERM").success());
    let discarded = total_of(&broker, "workers_expired_measurements");
    assert!(
        filtered > 0,
        "a 4 s absence with a 1 s grace loses something"
    );
    assert_eq!(
        delivered + filtered + discarded,
        total,
        "every loss is counted: delivered {delivered}, filtered by the client {filtered}, \
         discarded by the broker {discarded}"
    );
}
