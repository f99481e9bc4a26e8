//! The whole Zibrato pipeline on this machine, no account needed.
//!
//! `cargo run --release --example demo`
//!
//! It starts a broker (publishers on 127.0.0.1:5550, workers on :5551; set
//! `ZIBRATO_DEMO_PORT` to use another pair), a console worker subscribed to the levels
//! `info` and `crit` that prints a table every 2 seconds, and a small instrumented shop
//! that uses every form of the API: attribute macros on a sync function, an `async fn`
//! and a method, guards, closures, kept handles, gauges, several sources, and a level
//! (`debug`) that nobody subscribes to, which the client filters before the network.
//! One part of the shop, like code from another crate, knows only the `metrics` facade
//! (`metrics::counter!`, `histogram!`); Zibrato's `MetricsRecorder` carries it too.
//!
//! A Prometheus worker serves the same levels at http://127.0.0.1:9102/metrics
//! (`ZIBRATO_DEMO_PROMETHEUS` picks another address, `off` leaves it out; a busy address
//! is reported and the demo goes on without it).
//!
//! Ctrl-C stops everything after a last flush.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use zibrato::Zibrato;
use zibrato_broker::{Broker, BrokerOptions};
use zibrato_console::{Console, Format};
use zibrato_prometheus::{Exposition, Prometheus};
use zibrato_worker::{Shutdown, WorkerOptions};

/// A tiny deterministic random source for the shop's simulated work.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }
}

fn work(micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
}

#[zibrato::time_me(level = "info", name = "shop.checkout")]
fn checkout(items: u64, declined: bool) -> Result<u64, String> {
    work(200 + items * 50);
    if declined {
        Err("card declined".to_string())?; // still timed: the call happened
    }
    Ok(items * 1299)
}

#[zibrato::time_me(level = "info", name = "shop.price_lookup", source = "pricing")]
async fn price_lookup(sku: u64) -> u64 {
    YieldOnce(false).await; // an await point: the timer spans the whole future
    work(100 + sku % 300);
    sku * 7
}

/// Code that knows only the `metrics` facade, as a dependency of yours might.
mod storefront {
    pub fn serve(path: &'static str, seconds: f64) {
        metrics::counter!("http.requests", "path" => path).increment(1);
        metrics::histogram!("http.latency", "path" => path).record(seconds);
    }
}

struct Catalog;

impl Catalog {
    #[zibrato::count_me(level = "info", name = "catalog.searches")]
    fn search(&self, term: u64) -> usize {
        (term % 12) as usize
    }
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() -> ExitCode {
    let port: u16 = std::env::var("ZIBRATO_DEMO_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5550);
    let _ = zibrato_common::init_logging("warn");
    let shutdown = match Shutdown::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: cannot install the Ctrl-C handler: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut config = BrokerOptions::default();
    config.port = port;
    config.stats_interval = Duration::from_secs(3600);
    let mut broker = match Broker::bind(&config) {
        Ok(broker) => broker,
        Err(e) => {
            eprintln!(
                "demo: {e}; set ZIBRATO_DEMO_PORT to another port (it uses PORT, PORT+1 and PORT+2)"
            );
            return ExitCode::FAILURE;
        }
    };
    // The broker and the worker stop after the shop, so its last frames get through.
    let (broker_stop, worker_stop) = (Shutdown::manual(), Shutdown::manual());
    let stop = broker_stop.clone();
    let broker_thread = std::thread::spawn(move || broker.run(&stop));

    let mut args = WorkerOptions::default();
    args.port = port + 1;
    args.levels = vec!["info".into(), "crit".into()];
    args.flush = Duration::from_secs(2);
    let prometheus_args = args.clone();
    let stop = worker_stop.clone();
    let worker_thread = std::thread::spawn(move || {
        zibrato_worker::run_until(args, Console::new(Format::Table), &stop)
    });
    let prometheus_address = match std::env::var("ZIBRATO_DEMO_PROMETHEUS").as_deref() {
        Ok("off") => None,
        Ok(text) => match text.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(e) => {
                eprintln!("demo: ZIBRATO_DEMO_PROMETHEUS={text:?} is not an address: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => Some(SocketAddr::from(([127, 0, 0, 1], 9102))),
    };
    // Said plainly up front rather than as the worker's error log: the demo goes on.
    let prometheus_address = prometheus_address.filter(|address| {
        std::net::TcpListener::bind(address)
            .map_err(|e| {
                eprintln!("demo: no Prometheus worker, {address} is not free ({e}); set ZIBRATO_DEMO_PROMETHEUS to another address");
            })
            .is_ok()
    });
    let prometheus_thread = prometheus_address.map(|address| {
        let stop = worker_stop.clone();
        let exposition = Arc::new(Mutex::new(Exposition::new("", Duration::from_secs(300))));
        std::thread::spawn(move || {
            zibrato_worker::run_until(prometheus_args, Prometheus::new(address, exposition), &stop)
        })
    });

    let z = match Zibrato::builder().port(port).source("demo-shop").build() {
        Ok(z) => z,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = zibrato::install(z.clone()) {
        eprintln!("demo: {e}");
    }
    let facade = zibrato::MetricsRecorder::builder(z.clone()).build();
    if let Err(e) = facade.and_then(|recorder| recorder.install()) {
        eprintln!("demo: {e}");
    }
    println!(
        "Zibrato demo: broker on 127.0.0.1:{port}/{}, console worker on levels info and crit, a table every 2 s. Ctrl-C to stop.",
        port + 1
    );
    if let Some(address) = prometheus_address {
        println!("Prometheus worker: http://{address}/metrics");
    }

    let carts = z
        .register_counter("info", "shop.carts")
        .expect("a valid name");
    let payments = z.with_source("payments");
    let catalog = Catalog;
    let mut dice = Dice(42);
    let started = Instant::now();
    while !shutdown.is_requested() {
        let items = 1 + dice.roll(5);
        carts.increment(1); // kept handle
        let declined = dice.roll(10) == 0;
        if checkout(items, declined).is_err() {
            payments.count("crit", "payment.declined"); // another level and source
        }
        let _price = block_on(price_lookup(dice.roll(1000)));
        let path = if declined { "/checkout" } else { "/cart" };
        storefront::serve(path, 0.001 + dice.roll(50) as f64 * 1e-4); // the metrics facade
        catalog.search(dice.roll(100));
        {
            let _render = z.time_me("info", "page.render"); // guard
            work(50 + dice.roll(400));
        }
        let rows = z.timed("info", "db.query", || {
            work(30 + dice.roll(200));
            dice.roll(50)
        }); // closure, result passed through
        z.count_by("info", "db.rows", rows as i64);
        z.gauge(
            "info",
            "queue.depth",
            (started.elapsed().as_secs() % 20) as f64 + dice.roll(3) as f64,
        );
        z.count("debug", "cache.trace"); // nobody subscribes: filtered in the client
    }

    let _ = z.flush(Duration::from_secs(2));
    let stats = z.stats();
    drop(z);
    std::thread::sleep(Duration::from_millis(200)); // the last frames reach the worker
    worker_stop.request();
    let worker = worker_thread.join();
    if let Some(thread) = prometheus_thread {
        let _ = thread.join();
    }
    broker_stop.request();
    let _ = broker_thread.join();
    println!(
        "demo stopped: {} measurements recorded, {} sent, {} filtered (level debug, no subscriber), {} dropped",
        stats.recorded,
        stats.measurements_sent,
        stats.filtered,
        stats.dropped()
    );
    match worker {
        Ok(status) => ExitCode::from(status),
        Err(_) => ExitCode::FAILURE,
    }
}
