//! Broker throughput against a plain `zmq::proxy` on the same frames, in one run.
//!
//! `cargo bench -p zibrato-broker --bench forwarding`
//!
//! Each contender runs in this process on loopback TCP: a PUB thread sends the same
//! pre-encoded frames as fast as ZeroMQ takes them, the contender forwards them, and a
//! SUB counts them. High-water marks are large so nothing is dropped; the figure is
//! frames (and measurements) delivered per second, median of several trials.

use std::thread;
use std::time::{Duration, Instant};

use zibrato_broker::{Broker, BrokerOptions};
use zibrato_common::Shutdown;
use zibrato_wire::{FrameBuilder, Header, Level, Measurement, Value};

const TRIALS: usize = 5;
const HWM: i32 = 1_000_000;

fn realistic_frame(measurements: usize, sequence: u64) -> Vec<u8> {
    let names = [
        "api.requests",
        "api.errors",
        "cache.misses",
        "api.latency",
        "db.query",
        "render.page",
        "queue.depth",
        "cpu.load",
    ];
    let mut builder = Box::new(FrameBuilder::<&str, 16, 16, 4096>::new());
    for i in 0..measurements {
        let name = names[i % names.len()];
        let value = match i % 8 {
            0..=2 => Value::Counter(1),
            3..=5 => Value::Timer(50_000 + (i as u64 * 7919) % 2_000_000),
            _ => Value::Gauge((i % 200) as f64),
        };
        builder
            .push(Measurement::new(name, Some("web-1"), value).unwrap())
            .unwrap();
    }
    let level = Level::new("info").unwrap();
    let header = Header {
        publisher: 7,
        sequence,
        time_us: 1_764_158_400_000_000,
    };
    let mut buf = vec![0u8; builder.encoded_len(level, &header)];
    let len = builder.encode(level, &header, &mut buf).unwrap().len();
    buf.truncate(len);
    buf
}

/// Sends `frames` to `port` and counts them at `port + 1`; returns frames per second.
fn drive(port: u16, frames: &[Vec<u8>], rounds: usize) -> f64 {
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvhwm(HWM).unwrap();
    sub.set_subscribe(b"info\0").unwrap();
    sub.connect(&format!("tcp://127.0.0.1:{}", port + 1))
        .unwrap();

    let publisher = context.socket(zmq::XPUB).unwrap();
    publisher.set_sndhwm(HWM).unwrap();
    publisher
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    // Wait for the subscription to come through the contender: no slow-joiner loss.
    loop {
        let _ = sub.poll(zmq::POLLIN, 1);
        if publisher.poll(zmq::POLLIN, 10).unwrap() > 0
            && publisher.recv_bytes(0).unwrap().first() == Some(&1)
        {
            break;
        }
    }
    let total = frames.len() * rounds;
    let frames_owned = frames.to_vec();
    let sender = thread::spawn(move || {
        for _ in 0..rounds {
            for f in &frames_owned {
                publisher.send(&f[..], 0).unwrap();
            }
        }
        publisher
    });
    let mut received = 0;
    let mut started = None;
    let mut msg = zmq::Message::new();
    while received < total {
        if sub.poll(zmq::POLLIN, 5000).unwrap() == 0 {
            panic!("lost frames: {received} of {total}");
        }
        sub.recv(&mut msg, 0).unwrap();
        started.get_or_insert_with(Instant::now);
        received += 1;
    }
    let elapsed = started.unwrap().elapsed();
    drop(sender.join().unwrap());
    (total - 1) as f64 / elapsed.as_secs_f64()
}

fn plain_proxy(port: u16) {
    thread::spawn(move || {
        let context = zmq::Context::new();
        let xsub = context.socket(zmq::XSUB).unwrap();
        xsub.set_rcvhwm(HWM).unwrap();
        xsub.bind(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let xpub = context.socket(zmq::XPUB).unwrap();
        xpub.set_sndhwm(HWM).unwrap();
        xpub.bind(&format!("tcp://127.0.0.1:{}", port + 1)).unwrap();
        let _ = zmq::proxy(&xsub, &xpub);
    });
}

fn zibrato_broker(port: u16) -> Shutdown {
    let shutdown = Shutdown::manual();
    let stop = shutdown.clone();
    let hwm = std::num::NonZeroU32::new(HWM as u32).expect("a positive queue");
    let mut config = BrokerOptions::default();
    config.port = port;
    config.publisher_hwm = hwm;
    config.worker_hwm = hwm;
    config.stats_interval = Duration::from_secs(3600);
    thread::spawn(move || {
        let mut broker = Broker::bind(&config).expect("broker binds");
        broker.run(&stop).expect("broker runs");
    });
    shutdown
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    println!(
        "| frame | plain zmq::proxy frames/s | zibrato-broker frames/s | zibrato measurements/s | ratio |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (measurements, count, rounds) in [(64usize, 1000usize, 200usize), (1024, 100, 200)] {
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|i| realistic_frame(measurements, i as u64))
            .collect();
        let bytes = frames[0].len();
        let mut proxy = Vec::new();
        let mut broker = Vec::new();
        for trial in 0..TRIALS {
            let port = 31_000 + (measurements as u16 % 7) * 100 + trial as u16 * 5;
            plain_proxy(port);
            thread::sleep(Duration::from_millis(50));
            proxy.push(drive(port, &frames, rounds));

            let port = port + 2;
            let stop = zibrato_broker(port);
            thread::sleep(Duration::from_millis(50));
            broker.push(drive(port, &frames, rounds));
            stop.request();
        }
        let (p, b) = (median(proxy), median(broker));
        println!(
            "| {measurements} measurements, {bytes} B | {p:.0} | {b:.0} | {:.0} | {:.2} |",
            b * measurements as f64,
            b / p
        );
    }
}
