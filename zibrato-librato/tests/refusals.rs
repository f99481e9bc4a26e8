//! Librato's refusals, each as the real API words it, against the real worker: after
//! each, every legal measurement is delivered as often as the README promises.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use zibrato_testkit::{Answer, Key, LibratoStandIn};

mod common;

use common::*;

/// The value at `key`, once it is stored (each posting of the key must carry the same
/// value: a resend is identical or it would be counted twice).
fn stored_value(librato: &LibratoStandIn, name: &str, source: &str) -> Vec<(u64, Json)> {
    let mut found: Vec<(u64, Json)> = librato
        .stored()
        .into_iter()
        .filter(|((n, s, _), _)| n == name && s == source)
        .map(|((_, _, t), postings)| (t, postings[0]["value"].clone()))
        .collect();
    found.sort_by_key(|(t, _)| *t);
    found
}

fn total(librato: &LibratoStandIn, name: &str) -> f64 {
    stored_value(librato, name, NO_SOURCE)
        .iter()
        .map(|(_, v)| v.as_f64().unwrap())
        .sum()
}

/// The sum of a counter's values over every source.
fn total_any_source(librato: &LibratoStandIn, name: &str) -> f64 {
    librato
        .stored()
        .into_iter()
        .filter(|((n, _, _), _)| n == name)
        .map(|(_, postings)| postings[0]["value"].as_f64().unwrap())
        .sum()
}

#[test]
fn a_refused_value_costs_its_window_only_and_a_repeat_is_held_for_a_while() {
    let p = Pipeline::start("1", &["--refusal-hold", "8"]);
    let z = p.client();
    // Window 1: a value Librato refuses, beside a legal counter.
    z.gauge("info", "size", 1e127);
    z.count("info", "ok.1");
    z.flush(WAIT).unwrap();
    wait_until("ok.1", SETTLE, || total(&p.librato, "ok.1") == 1.0);
    assert!(stored_value(&p.librato, "size", NO_SOURCE).is_empty());
    // A legal value of the same name in a later window is delivered: the name is not
    // blocked.
    z.gauge("info", "size", 5.0);
    z.flush(WAIT).unwrap();
    wait_until("size = 5", SETTLE, || {
        !stored_value(&p.librato, "size", NO_SOURCE).is_empty()
    });
    // Refused again within the hour: the pair is held back for --refusal-hold (8 s).
    z.gauge("info", "size", 1e127);
    z.count("info", "ok.2");
    z.flush(WAIT).unwrap();
    wait_until("ok.2", SETTLE, || total(&p.librato, "ok.2") == 1.0);
    z.gauge("info", "size", 6.0);
    z.count("info", "ok.3");
    z.flush(WAIT).unwrap();
    wait_until("ok.3", SETTLE, || total(&p.librato, "ok.3") == 1.0);
    let sizes = stored_value(&p.librato, "size", NO_SOURCE);
    assert_eq!(sizes.len(), 1, "held back while the hold lasts: {sizes:?}");
    // Then tried again, and delivered.
    wait_until("size after the hold", SETTLE, || {
        z.gauge("info", "size", 7.0);
        let _ = z.flush(WAIT);
        std::thread::sleep(Duration::from_millis(300));
        stored_value(&p.librato, "size", NO_SOURCE).len() > 1
    });
    p.worker
        .wait_for_output("Librato refused a measurement", WAIT);
    p.worker.wait_for_output("held_for", WAIT);
}

#[test]
fn colliding_names_and_the_reserved_source_become_one_entry_per_key() {
    let p = Pipeline::start("2", &["--levels", "crit"]);
    let z = p.client();
    let long = "t".repeat(253); // its percentiles would be 257 characters
    start_of_window(2);
    z.count_by("info", "Chk.Case", 2);
    z.count_by("crit", "chk.case", 3);
    z.gauge("info", "CHK.CASE", 7.0);
    z.with_source("all").count("info", "by.source");
    z.time_ns("info", &long, 1_000_000);
    z.flush(WAIT).unwrap();
    wait_until("the window", SETTLE, || {
        !stored_value(&p.librato, "chk.case", NO_SOURCE).is_empty()
            && !stored_value(&p.librato, "by.source", "all_").is_empty()
    });
    // Both counters in one entry, whatever their case and level; the gauge of the same
    // key is dropped with a warning naming both.
    assert_eq!(total(&p.librato, "chk.case"), 5.0);
    p.worker.wait_for_output("cannot be combined", WAIT);
    p.worker.wait_for_output("Gauge CHK.CASE (level info", WAIT);
    // The long timer's percentiles keep their suffix and their own keys.
    let stored = p.librato.stored();
    let long_keys: Vec<&Key> = stored
        .keys()
        .filter(|(n, _, _)| n.starts_with("ttt"))
        .collect();
    assert_eq!(long_keys.len(), 5, "{long_keys:?}");
    let cut = long_keys.iter().filter(|(n, _, _)| n.len() == 255).count();
    assert_eq!(cut, 4, "the four percentiles, cut to 255 with their suffix");
    assert!(long_keys.iter().any(|(n, _, _)| n.ends_with(".p99")));
    assert_eq!(
        p.librato.repeated_keys(),
        0,
        "a request carried one key twice"
    );
}

#[test]
fn an_outage_longer_than_librato_keeps_costs_only_the_windows_it_refuses() {
    let p = Pipeline::start_with("1", &["--levels", "zibrato"], Answer::ServerError);
    p.librato.max_age(Duration::from_secs(3));
    let z = p.client();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(6) {
        z.count("info", "through");
        std::thread::sleep(Duration::from_millis(250));
    }
    z.flush(WAIT).unwrap();
    p.librato.answer(Answer::Accept);
    // The windows Librato still takes are delivered; the older ones are refused for
    // their measure_time, dropped and counted, and no name is blocked by it.
    wait_until("the refusal of old windows", SETTLE, || {
        p.librato
            .requests()
            .iter()
            .any(|(_, status)| *status == 400)
    });
    z.count("info", "through");
    z.count("info", "after");
    z.flush(WAIT).unwrap();
    wait_until("a window after the outage", SETTLE, || {
        total(&p.librato, "after") == 1.0
    });
    wait_until("more windows of the same name", SETTLE, || {
        z.count("info", "through");
        let _ = z.flush(WAIT);
        std::thread::sleep(Duration::from_millis(200));
        stored_value(&p.librato, "through", NO_SOURCE).len() >= 3
    });
    p.worker
        .wait_for_output("refuses this window's measure_time", WAIT);
    wait_until("dropped windows counted", SETTLE, || {
        total_any_source(&p.librato, "zibrato.worker.dropped_windows") >= 1.0
    });
}

#[test]
fn windows_dropped_as_too_old_during_an_outage_are_not_a_recovery() {
    // Librato stays down while the worker drops windows older than --max-age: those
    // drops are not deliveries, so no recovery may be logged until Librato takes one.
    let p = Pipeline::start_with("1", &["--max-age", "1"], Answer::ServerError);
    let z = p.client();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(5) {
        z.count("info", "during");
        std::thread::sleep(Duration::from_millis(250));
    }
    z.flush(WAIT).unwrap();
    p.worker
        .wait_for_output("window is older than Librato accepts", WAIT);
    assert!(
        !p.worker.output().contains("delivery recovered"),
        "recovery logged while Librato is still down: {}",
        p.worker.output()
    );
    p.librato.answer(Answer::Accept);
    wait_until("a window after the outage", SETTLE, || {
        z.count("info", "after");
        let _ = z.flush(WAIT);
        std::thread::sleep(Duration::from_millis(200));
        total(&p.librato, "after") >= 1.0
    });
    p.worker.wait_for_output("delivery recovered", WAIT);
}

#[test]
fn a_slow_acceptance_is_resent_identically_never_added() {
    let p = Pipeline::start_with(
        "1",
        &["--request-timeout", "1"],
        Answer::SlowAccept(Duration::from_millis(1_500)),
    );
    let z = p.client();
    let mut sent = 0;
    wait_until("a resend after a timeout", SETTLE, || {
        z.count_by("info", "slow", 2);
        sent += 2;
        let _ = z.flush(WAIT);
        std::thread::sleep(Duration::from_millis(300));
        p.librato
            .stored()
            .values()
            .any(|postings| postings.len() > 1)
    });
    p.librato.answer(Answer::Accept);
    wait_until("every increment", SETTLE, || {
        total(&p.librato, "slow") == f64::from(sent)
    });
    for (key, postings) in p.librato.stored() {
        assert!(
            postings.iter().all(|p| p == &postings[0]),
            "a resend of {key:?} differs: {postings:?}"
        );
    }
}

#[test]
fn a_403_for_a_rate_limit_is_retried_and_one_for_permission_stops_the_worker() {
    let limit = r#"{"errors":{"request":["You have hit the API limit for measurements [measure:raw_rate]. Contact: support@librato.com to adjust this limit."]}}"#;
    let p = Pipeline::start_with("1", &[], Answer::Forbidden(limit.into()));
    let z = p.client();
    z.count_by("info", "limited", 4);
    z.flush(WAIT).unwrap();
    wait_until("a 403", SETTLE, || {
        p.librato
            .requests()
            .iter()
            .filter(|(method, status)| method == "POST" && *status == 403)
            .count()
            >= 1
    });
    p.librato.answer(Answer::Accept);
    wait_until("the window", SETTLE, || total(&p.librato, "limited") == 4.0);
    p.worker
        .wait_for_output("rate limited (403 Forbidden)", WAIT);

    let mut p = Pipeline::start("1", &[]);
    let z = p.client();
    p.librato.answer(Answer::Forbidden(
        r#"{"errors":{"request":["Forbidden: the token cannot write metrics"]}}"#.into(),
    ));
    z.count("info", "forbidden");
    z.flush(WAIT).unwrap();
    let status = p.worker.wait_exit(WAIT).expect("the worker stops");
    assert_eq!(status.code(), Some(1), "{}", p.worker.output());
    assert!(p.worker.output().contains("refused the credentials"));
}
