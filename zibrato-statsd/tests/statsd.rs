//! client → real broker → real zibrato-statsd → the real Etsy statsd, on 127.0.0.1.

use std::time::Duration;

use zibrato::Zibrato;
use zibrato_testkit::{
    Daemon, Statsd, connected_client, free_ports, require_statsd, start_broker, start_worker,
    wait_until,
};

const WORKER: &str = env!("CARGO_BIN_EXE_zibrato-statsd");
const WAIT: Duration = Duration::from_secs(15);

struct Setup {
    statsd: Statsd,
    client: Zibrato,
    _worker: Daemon,
    _broker: Daemon,
}

fn setup(mode: &str) -> Option<Setup> {
    let js = require_statsd()?;
    let statsd_ports = free_ports();
    let statsd = Statsd::start(&js, statsd_ports, statsd_ports + 1).expect("statsd starts");
    let port = free_ports();
    let broker = start_broker(port, &[]);
    let target = format!("127.0.0.1:{statsd_ports}");
    let args = [
        "--levels", "info", "--flush", "1", "--statsd", &target, "--mode", mode,
    ];
    let worker = start_worker(WORKER, port, &args, &[], "info");
    let client = connected_client(port);
    Some(Setup {
        statsd,
        client,
        _worker: worker,
        _broker: broker,
    })
}

#[test]
fn statsd_shows_exactly_the_values_sent_through_zibrato() {
    let Some(s) = setup("events") else { return };
    let web = s.client.with_source("web-1");
    for _ in 0..10 {
        web.count("info", "requests");
    }
    s.client.count_by("info", "bytes|in", 1500);
    s.client.count("debug", "not.subscribed");
    for v in [4.0, -2.5, 7.25] {
        s.client.gauge("info", "depth", v);
    }
    let durations_ns = [1_500_000u64, 250_000, 12_000_000, 3_000_000];
    for ns in durations_ns {
        s.client.time_ns("info", "db.query", ns);
    }
    s.client.flush(WAIT).unwrap();

    wait_until("the counters", WAIT, || {
        s.statsd.counter("web-1.requests") == Some(10.0)
    });
    assert_eq!(s.statsd.counter("bytes_in"), Some(1500.0), "`|` made legal");
    wait_until("the gauge", WAIT, || s.statsd.gauge("depth") == Some(7.25));
    wait_until("the timer", WAIT, || {
        s.statsd.timer("db.query").is_some_and(|v| v.len() == 4)
    });
    let mut got = s.statsd.timer("db.query").unwrap();
    got.sort_by(f64::total_cmp);
    let mut want: Vec<f64> = durations_ns.iter().map(|ns| *ns as f64 / 1e6).collect();
    want.sort_by(f64::total_cmp);
    assert_eq!(got, want);
    assert_eq!(s.statsd.counter("not.subscribed"), None);
}

#[test]
fn summed_mode_sends_one_mean_per_timer_and_window() {
    let Some(s) = setup("summed") else { return };
    for ns in [1_000_000u64, 3_000_000] {
        s.client.time_ns("info", "render", ns);
    }
    s.client.flush(WAIT).unwrap();
    wait_until("the timer", WAIT, || s.statsd.timer("render").is_some());
    assert_eq!(s.statsd.timer("render").unwrap(), [2.0]);
}
