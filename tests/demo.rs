//! The README's main job — `cargo run --release --example demo` — driven as a user
//! would: start it, read the tables it prints, press Ctrl-C (SIGINT).

use std::time::Duration;

use zibrato_testkit::{Daemon, free_port_pair};

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
    let port = free_port_pair().to_string();
    let mut run = Daemon::start_with_env(&demo, &[], &[("ZIBRATO_DEMO_PORT", port.as_str())]);

    // Within a flush interval or two: a table with the shop's series.
    run.wait_for_output("window ending", Duration::from_secs(20));
    run.wait_for_output("shop.price_lookup", Duration::from_secs(10));
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
