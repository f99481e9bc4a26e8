//! The README's main job — `cargo run --release --example demo` — driven as a user
//! would: start it, read the tables it prints, press Ctrl-C (SIGINT).

use std::time::Duration;

use zibrato_testkit::{Daemon, free_ports, http_get};

#[test]
fn the_demo_prints_aggregated_tables_and_stops_cleanly_on_ctrl_c() {
    let exe = std::env::current_exe().unwrap();
    let demo = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("demo");
    assert!(demo.exists(), "{} is built by `cargo test`", demo.display());
    let port = free_ports().to_string();
    let http_port = free_ports();
    let prometheus = format!("127.0.0.1:{http_port}");
    let mut run = Daemon::start_with_env(
        &demo,
        &[],
        &[
            ("ZIBRATO_DEMO_PORT", port.as_str()),
            ("ZIBRATO_DEMO_PROMETHEUS", prometheus.as_str()),
        ],
    );

    // Within a flush interval or two: a table with the shop's series.
    run.wait_for_output("window ending", Duration::from_secs(20));
    run.wait_for_output("shop.price_lookup", Duration::from_secs(10));
    // The facade's series in the table, and everything at the Prometheus endpoint too.
    run.wait_for_output("http.requests;path=/cart", Duration::from_secs(10));
    // The Prometheus worker flushes on its own schedule: its window with these series
    // may close a moment after the console's.
    let samples = [
        r#"http_requests_total{level="info",path="/cart",source="demo-shop"} "#,
        r#"shop_carts_total{level="info",source="demo-shop"} "#,
        r#"shop_checkout_seconds_count{level="info",source="demo-shop"} "#,
        r#"payment_declined_total{level="crit",source="payments"} "#,
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let exposition = http_get(http_port, "/metrics").expect("the demo's Prometheus worker");
        let missing: Vec<&str> = samples
            .iter()
            .copied()
            .filter(|sample| !exposition.body.lines().any(|l| l.starts_with(sample)))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {missing:?} in:\n{}",
            exposition.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = run.stop("INT");
    assert!(status.success(), "{status:?}\n{}", run.output());

    let output = run.output();
    for name in [
        "shop.checkout",
        "shop.carts",
        "catalog.searches",
        "page.render",
        "db.query",
        "queue.depth",
    ] {
        let row = output
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{output}"));
        assert!(row.starts_with("info "), "{row}");
    }
    assert!(
        !output.contains("cache.trace"),
        "the unsubscribed level never reaches the worker"
    );
    let last = output
        .lines()
        .find(|l| l.starts_with("demo stopped"))
        .expect("a final summary");
    let filtered: u64 = last
        .split(", ")
        .find(|p| p.contains("filtered"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(filtered > 0, "{last}");
}
