//! client → real broker → real zibrato-librato → a Librato stand-in on 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato::Zibrato;
use zibrato_testkit::{Answer, Daemon, LibratoStandIn, Subscriber, bin_path, free_ports};

mod common;

use common::*;

#[test]
fn windows_roll_up_per_source_and_name_with_correct_summaries() {
    let p = Pipeline::start("3", &[]);
    let z = p.client();
    start_of_window(3);
    let web = z.with_source("web-1");
    let db = z.with_source("db-1");
    for _ in 0..10 {
        web.count("info", "requests");
    }
    db.count_by("info", "requests", 7);
    let readings = [3.0, 1.5, 8.0, 2.5];
    for r in readings {
        web.gauge("info", "queue.depth", r);
    }
    let durations_us: Vec<u64> = (1..=1000).collect();
    for us in &durations_us {
        web.time_ns("info", "db.query", us * 1000);
    }
    z.flush(WAIT).unwrap();

    let gauges = p
        .librato
        .wait_for(WAIT, |g| !named(g, "db.query.p99").is_empty());
    assert_eq!(sum_values(&gauges, "requests", "web-1"), 10.0);
    assert_eq!(sum_values(&gauges, "requests", "db-1"), 7.0);

    let depth = named(&gauges, "queue.depth")[0];
    assert_eq!(depth["source"], "web-1");
    assert_eq!(depth["count"], 4);
    assert_eq!(depth["sum"].as_f64(), Some(readings.iter().sum()));
    assert_eq!(depth["min"].as_f64(), Some(1.5));
    assert_eq!(depth["max"].as_f64(), Some(8.0));
    assert_eq!(
        depth["sum_squares"].as_f64(),
        Some(readings.iter().map(|r| r * r).sum())
    );

    let query = named(&gauges, "db.query")[0];
    assert_eq!(query["count"], 1000);
    let seconds: Vec<f64> = durations_us.iter().map(|us| *us as f64 / 1e6).collect();
    let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= b.abs() * rel;
    assert!(close(
        query["sum"].as_f64().unwrap(),
        seconds.iter().sum(),
        1e-9
    ));
    assert!(close(query["min"].as_f64().unwrap(), seconds[0], 1e-9));
    assert!(close(query["max"].as_f64().unwrap(), seconds[999], 1e-9));
    assert!(close(
        query["sum_squares"].as_f64().unwrap(),
        seconds.iter().map(|s| s * s).sum(),
        1e-9
    ));
    for (suffix, q) in [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)] {
        let got = named(&gauges, &format!("db.query.{suffix}"))[0]["value"]
            .as_f64()
            .unwrap();
        let exact = seconds[((q * (seconds.len() - 1) as f64).round()) as usize];
        assert!(close(got, exact, 0.02), "{suffix}: {got} vs {exact}");
    }
    for g in &gauges {
        assert_eq!(
            g["measure_time"].as_u64().unwrap() % 3,
            0,
            "aligned to the interval: {g}"
        );
    }
    assert!(p.librato.posted()[0].user_agent.starts_with("zibrato/"));
}

#[test]
fn a_level_the_worker_did_not_subscribe_to_never_reaches_it() {
    let p = Pipeline::start("1", &[]);
    let z = p.client();
    z.count("info", "wanted");
    z.count("information", "unwanted");
    z.count("debug", "unwanted");
    z.flush(WAIT).unwrap();
    let gauges = p.librato.wait_for(WAIT, |g| !named(g, "wanted").is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        named(&p.librato.gauges(), "unwanted").is_empty(),
        "{gauges:?}"
    );
}

#[test]
fn an_idle_worker_flushes_on_time_then_falls_silent_once_counters_expire() {
    let p = Pipeline::start("1", &["--expire-after", "2"]);
    let z = p.client();
    z.count("info", "once");
    z.flush(WAIT).unwrap();
    // Delivered by the timer, with no further traffic to trigger it.
    p.librato
        .wait_for(WAIT, |g| sum_values(g, "once", NO_SOURCE) == 1.0);
    // Then 0 until the series expires, then nothing at all.
    p.librato
        .wait_for(WAIT, |g| named(g, "once").iter().any(|g| g["value"] == 0));
    std::thread::sleep(Duration::from_secs(3));
    let settled = p.librato.posted().len();
    std::thread::sleep(Duration::from_secs(3));
    let posted = p.librato.posted();
    assert_eq!(
        posted.len(),
        settled,
        "an idle worker sends nothing: {:?}",
        &posted[settled.min(posted.len())..]
    );
}

#[test]
fn server_errors_then_success_deliver_every_window_exactly_once() {
    let p = Pipeline::start_with("1", &[], Answer::ServerError);
    let z = p.client();
    let mut total = 0;
    for i in 1..=5 {
        z.count_by("info", "through.outage", i);
        total += i;
        z.flush(WAIT).unwrap();
        std::thread::sleep(Duration::from_millis(600));
    }
    assert!(
        p.librato
            .requests()
            .iter()
            .filter(|(_, s)| *s == 500)
            .count()
            >= 2
    );
    p.librato.answer(Answer::TooManyRequests("1".into()));
    // The next retry (after the backoff so far) meets a 429 with Retry-After.
    let deadline = Instant::now() + WAIT;
    while !p.librato.requests().iter().any(|(_, s)| *s == 429) {
        assert!(Instant::now() < deadline, "no retry within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.librato.answer(Answer::Accept);
    let gauges = p.librato.wait_for(WAIT, |g| {
        sum_values(g, "through.outage", NO_SOURCE) >= total as f64
    });
    drop(gauges);
    // Wait out further retries: a duplicate would show up now.
    std::thread::sleep(Duration::from_secs(2));
    let gauges = p.librato.gauges();
    assert_eq!(
        sum_values(&gauges, "through.outage", NO_SOURCE),
        total as f64
    );
    let mut times: Vec<u64> = named(&gauges, "through.outage")
        .iter()
        .map(|g| g["measure_time"].as_u64().unwrap())
        .collect();
    let all = times.len();
    times.dedup();
    assert_eq!(times.len(), all, "no window was delivered twice");
}

#[test]
fn absurd_and_malformed_retry_after_values_never_stop_delivery() {
    let p = Pipeline::start_with(
        "1",
        &["--max-retry-after", "1"],
        Answer::TooManyRequests("99999999999999999999999999".into()),
    );
    let z = p.client();
    let mut total = 0;
    // A malformed value first: for it the worker falls back on its own backoff, which
    // grows with each failure (the unit tests of `retry_after` cover more of them).
    let answers = [
        "soon",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "99999999999999999999999999",
    ];
    for (i, retry_after) in answers.iter().enumerate() {
        p.librato
            .answer(Answer::TooManyRequests(retry_after.to_string()));
        z.count_by("info", "through.429", i as i64 + 1);
        total += i as i64 + 1;
        z.flush(WAIT).unwrap();
        // Each odd value is answered, and still leads to a retry within seconds.
        let before = p.librato.requests().len();
        let deadline = Instant::now() + WAIT;
        while p.librato.requests().len() < before + 2 {
            assert!(
                Instant::now() < deadline,
                "no retry after Retry-After {retry_after:?}: {:?}\n{}",
                p.librato.requests(),
                p.worker.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    p.librato.answer(Answer::Accept);
    p.librato.wait_for(WAIT, |g| {
        sum_values(g, "through.429", NO_SOURCE) >= total as f64
    });
    std::thread::sleep(Duration::from_secs(2));
    let gauges = p.librato.gauges();
    assert_eq!(
        sum_values(&gauges, "through.429", NO_SOURCE),
        total as f64,
        "every window delivered once"
    );
    let output = p.worker.output();
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn a_refused_measurement_is_isolated_and_the_rest_delivered() {
    let p = Pipeline::start_with(
        "1",
        &["--levels", "zibrato"],
        Answer::RefuseNames(vec!["poison".into()]),
    );
    let z = p.client();
    for name in ["a", "b", "poison", "c", "d"] {
        z.count("info", name);
    }
    z.flush(WAIT).unwrap();
    let gauges = p.librato.wait_for(WAIT, |g| {
        ["a", "b", "c", "d"].iter().all(|n| !named(g, n).is_empty())
    });
    assert!(named(&gauges, "poison").is_empty());
    p.worker.wait_for_output("dropped from this window", WAIT);
    // The self-metric counts it.
    p.librato.wait_for(WAIT, |g| {
        named(g, "zibrato.worker.rejected_series")
            .iter()
            .map(|g| g["value"].as_f64().unwrap())
            .sum::<f64>()
            >= 1.0
    });
}

#[test]
fn sigterm_mid_window_delivers_that_window_and_exits_zero() {
    let mut p = Pipeline::start("3600", &[]);
    let z = p.client();
    z.count_by("info", "last.window", 42);
    z.flush(WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = p.worker.stop("TERM");
    assert!(status.success(), "{status:?}\n{}", p.worker.output());
    assert_eq!(
        sum_values(&p.librato.gauges(), "last.window", NO_SOURCE),
        42.0
    );
    let output = p.worker.output();
    assert!(
        !output.contains(TOKEN),
        "the token leaked into the log:\n{output}"
    );
}

/// Windows piling up behind a 429 whose `Retry-After` is absurd (cut to 300 s).
fn paused_by_a_retry_after(p: &Pipeline, windows: i64) -> i64 {
    let z = p.client();
    for i in 0..windows {
        z.count_by("info", "paused", i + 1);
        z.flush(WAIT).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
    }
    // The worker tried, was told to wait, and is waiting.
    p.worker
        .wait_for_output("delivery failed; will retry", WAIT);
    (1..=windows).sum()
}

#[test]
fn a_stop_during_a_retry_after_pause_makes_the_last_attempt_at_once() {
    let mut p = Pipeline::start_with(
        "1",
        &["--shutdown-timeout", "5"],
        Answer::TooManyRequests("100000".into()),
    );
    let total = paused_by_a_retry_after(&p, 4);
    // The service recovers; the worker, inside its 300 s pause, does not know it.
    p.librato.answer(Answer::Accept);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sum_values(&p.librato.gauges(), "paused", NO_SOURCE), 0.0);
    let stopped = Instant::now();
    let status = p.worker.stop("TERM");
    assert!(status.success(), "{status:?}\n{}", p.worker.output());
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "no waiting out the timeout"
    );
    assert_eq!(
        sum_values(&p.librato.gauges(), "paused", NO_SOURCE),
        total as f64,
        "every window delivered by the stop"
    );
    assert_eq!(p.worker.worker_total("dropped_windows"), 0);
}

#[test]
fn a_stop_that_cannot_deliver_says_so_in_its_log_totals_and_exit_status() {
    let mut p = Pipeline::start_with(
        "1",
        &["--shutdown-timeout", "3"],
        Answer::TooManyRequests("100000".into()),
    );
    paused_by_a_retry_after(&p, 3);
    let attempts = p.librato.requests().len();
    let status = p.worker.stop("TERM");
    assert_eq!(status.code(), Some(3), "{}", p.worker.output());
    assert!(
        p.librato.requests().len() > attempts,
        "the stop tried again, whatever Retry-After said"
    );
    let output = p.worker.output();
    assert!(
        output.contains("windows not delivered are dropped"),
        "{output}"
    );
    assert!(p.worker.worker_total("dropped_windows") >= 3, "{output}");
}

#[test]
fn rejected_credentials_at_start_are_a_clear_error_and_a_failure_exit() {
    let port = free_ports();
    let librato = LibratoStandIn::start(USER, "the-right-token");
    let url = librato.url();
    let mut worker = Daemon::start_with_env(
        WORKER,
        &[
            "--port",
            &port.to_string(),
            "--levels",
            "info",
            "--username",
            USER,
            "--api-url",
            &url,
        ],
        &[("LIBRATO_TOKEN", TOKEN)],
    );
    let status = worker.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(1));
    let output = worker.output();
    assert!(output.contains("refused the credentials"), "{output}");
    assert!(!output.contains(TOKEN), "{output}");
}

#[test]
fn dry_run_prints_the_json_and_needs_no_credentials() {
    let port = free_ports();
    let broker = Daemon::start(bin_path("zibrato-broker"), &["--port", &port.to_string()]);
    broker.wait_for_output("broker listening", WAIT);
    let worker_port = (port + 1).to_string();
    let worker = Daemon::start(
        WORKER,
        &[
            "--port",
            &worker_port,
            "--levels",
            "info",
            "--flush",
            "1",
            "--dry-run",
        ],
    );
    worker.wait_for_output("worker subscribed", WAIT);
    Subscriber::connect(port + 1, &[]).wait_until_routed(port, "info", WAIT);
    let z = Zibrato::builder().port(port).build().unwrap();
    z.count_by("info", "dry", 3);
    z.flush(WAIT).unwrap();
    worker.wait_for_output(r#""name":"dry""#, WAIT);
    let line = worker
        .output()
        .lines()
        .find(|l| l.contains(r#""name":"dry""#))
        .unwrap()
        .to_string();
    let json: Json = serde_json::from_str(&line).unwrap();
    assert_eq!(json["gauges"][0]["value"], 3);
}

#[test]
fn bad_command_lines_are_one_clear_line_and_exit_two() {
    let missing = std::env::temp_dir().join("zibrato-no-such-token-file");
    let missing = missing.to_str().unwrap();
    for (args, expected) in [
        (vec!["--username", "u"], "--levels"),
        (
            vec!["--levels", "info", "--port", "99999", "--dry-run"],
            "99999",
        ),
        (
            vec!["--levels", "info", "--flush", "often", "--dry-run"],
            "not a number of seconds",
        ),
        (vec!["--levels", "info", "--bogus"], "unexpected argument"),
        (
            vec!["--levels", "info", "--flush", "0.5", "--dry-run"],
            "whole number of seconds",
        ),
        (
            vec![
                "--levels",
                "info",
                "--username",
                "u",
                "--apitoken-file",
                missing,
            ],
            "cannot read the token file",
        ),
        (vec!["--levels", "info"], "--username"),
    ] {
        let mut worker = Daemon::start_with_env(WORKER, &args, &[("LIBRATO_TOKEN", "")]);
        let status = worker.wait_exit(WAIT).expect("exits");
        assert_eq!(status.code(), Some(2), "{args:?}: {}", worker.output());
        assert!(
            worker.output().contains(expected),
            "{args:?}: {}",
            worker.output()
        );
    }
}

#[test]
fn a_hanging_librato_is_timed_out_and_retried_while_ingest_misses_nothing() {
    let p = Pipeline::start_with(
        "1",
        &["--request-timeout", "1", "--levels", "zibrato"],
        Answer::Hang,
    );
    let z = p.client();
    // Traffic keeps coming, across several windows, while Librato hangs.
    let mut total = 0;
    for i in 1..=30 {
        z.count_by("info", "through.hang", i);
        total += i;
        std::thread::sleep(Duration::from_millis(100));
    }
    z.flush(WAIT).unwrap();
    assert!(
        p.librato.requests().iter().any(|(_, status)| *status == 0),
        "the worker tried"
    );
    p.librato.answer(Answer::Accept);
    p.librato.wait_for(WAIT, |g| {
        sum_values(g, "through.hang", NO_SOURCE) == total as f64
    });
    let gauges = p
        .librato
        .wait_for(WAIT, |g| !named(g, "zibrato.worker.frames").is_empty());
    let lost: f64 = named(&gauges, "zibrato.worker.lost_frames")
        .iter()
        .map(|g| g["value"].as_f64().unwrap())
        .sum();
    assert_eq!(lost, 0.0, "a slow backend made the worker miss frames");
    p.worker.wait_for_output("request timed out", WAIT);
}

/// Makes the stand-in hang from now on, records one count, and waits until the worker
/// is inside a POST that will never be answered.
fn stuck_in_a_post(p: &Pipeline) {
    p.librato.answer(Answer::Hang);
    let z = p.client();
    z.count("info", "stuck");
    z.flush(WAIT).unwrap();
    let deadline = Instant::now() + WAIT;
    while !p
        .librato
        .requests()
        .iter()
        .any(|(m, s)| m == "POST" && *s == 0)
    {
        assert!(Instant::now() < deadline, "the worker never posted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_backend_that_never_returns_cannot_hold_shutdown_past_its_timeout() {
    let p = Pipeline::start_with(
        "1",
        &["--request-timeout", "600", "--shutdown-timeout", "1"],
        Answer::Accept,
    );
    stuck_in_a_post(&p);
    let mut worker = p.worker;
    worker.signal("TERM");
    let status = worker
        .wait_exit(WAIT)
        .expect("the worker exits although the request never returns");
    assert_eq!(status.code(), Some(1), "{}", worker.output());
    assert!(
        worker
            .output()
            .contains("did not return within the shutdown timeout")
    );
}

#[test]
fn a_second_stop_signal_ends_the_worker_at_once() {
    let p = Pipeline::start_with(
        "1",
        &["--request-timeout", "600", "--shutdown-timeout", "600"],
        Answer::Accept,
    );
    stuck_in_a_post(&p);
    let mut worker = p.worker;
    worker.signal("INT");
    assert!(
        worker.wait_exit(Duration::from_millis(500)).is_none(),
        "the first signal waits for delivery"
    );
    worker.signal("INT");
    let status = worker.wait_exit(WAIT).expect("the second signal ends it");
    assert_eq!(status.code(), Some(130));
}

#[test]
fn frames_lost_in_transit_are_counted_from_sequence_numbers() {
    let p = Pipeline::start("1", &["--levels", "zibrato"]);
    let mut publisher = zibrato_testkit::Publisher::connect(p.port);
    publisher.wait_for_subscription(b"info\0", WAIT);
    let m =
        zibrato_wire::Measurement::new("seq.test", None, zibrato_wire::Value::Counter(1)).unwrap();
    for sequence in [0, 1, 2, 6, 7] {
        let header = zibrato_wire::Header {
            publisher: 77,
            sequence,
            time_us: 0,
        };
        publisher.send(&zibrato_testkit::frame("info", header, &[m]));
    }
    let gauges = p.librato.wait_for(WAIT, |g| {
        named(g, "zibrato.worker.lost_frames")
            .iter()
            .map(|g| g["value"].as_f64().unwrap())
            .sum::<f64>()
            >= 3.0
    });
    assert_eq!(sum_values(&gauges, "seq.test", NO_SOURCE), 5.0);
    std::thread::sleep(Duration::from_millis(1500));
    let lost: f64 = named(&p.librato.gauges(), "zibrato.worker.lost_frames")
        .iter()
        .map(|g| g["value"].as_f64().unwrap())
        .sum();
    assert_eq!(lost, 3.0, "frames 3, 4 and 5 never arrived");
}

#[test]
fn garbage_and_huge_answers_do_not_disturb_the_worker() {
    let p = Pipeline::start_with("1", &[], Answer::Garbage(502, 20 << 20));
    let z = p.client();
    z.count_by("info", "through.garbage", 9);
    z.flush(WAIT).unwrap();
    let deadline = Instant::now() + WAIT;
    while !p.librato.requests().iter().any(|(_, s)| *s == 502) {
        assert!(Instant::now() < deadline, "the worker never tried");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A 200 with a garbage body is a success: the status is what Librato's API means.
    p.librato.answer(Answer::Garbage(200, 1 << 20));
    p.librato.wait_for(WAIT, |_| {
        p.librato.requests().iter().any(|(_, s)| *s == 200)
    });
    p.librato.answer(Answer::Accept);
    z.count_by("info", "after.garbage", 1);
    z.flush(WAIT).unwrap();
    p.librato
        .wait_for(WAIT, |g| sum_values(g, "after.garbage", NO_SOURCE) == 1.0);
    let (rss, _) = zibrato_testkit::rss(p.worker.pid());
    assert!(
        rss < 64 << 20,
        "a 20 MB answer was not read whole: RSS {rss}"
    );
}
