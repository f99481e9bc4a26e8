//! Devices publish too: a recorder on `zibrato-core` alone (no std in its recording
//! path) sends over UDP and over a FIFO to the real broker, and the real
//! `zibrato-console` shows exactly what it recorded; a datagram lost on the way is
//! counted as a lost frame, and datagrams that arrive out of order are not. Hostile
//! datagrams and byte streams leave the broker up,
//! bounded and counting.

use std::fs::File;
use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use zibrato_core::{Clock, Recorder, Transport};
use zibrato_testkit::{
    Daemon, free_ports, free_udp_port, rss, start_broker, start_console_json, wait_until,
};
use zibrato_wire::Frame;
use zibrato_wire::stream::{encode_for_stream, stream_len};

const WAIT: Duration = Duration::from_secs(20);

/// A device's frame budget: what fits a small MCU's RAM and one datagram.
const FRAME: usize = 512;
type Device<'a, T> = Recorder<'a, T, WallClock, 2, 8, 8, 32, FRAME>;

struct WallClock;

impl Clock for WallClock {
    fn now_us(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    }
}

/// One datagram per frame; `lose` frames (by index) are dropped on the way, as a
/// radio link would.
struct Udp {
    socket: UdpSocket,
    sent: usize,
    lose: Option<usize>,
    lost_measurements: usize,
}

impl Transport for Udp {
    type Error = std::io::Error;
    fn send(&mut self, frame: &[u8]) -> Result<(), std::io::Error> {
        let index = self.sent;
        self.sent += 1;
        if self.lose == Some(index) {
            self.lost_measurements += Frame::decode(frame).unwrap().measurement_count();
            return Ok(());
        }
        self.socket.send(frame).map(drop)
    }
}

/// COBS records on a FIFO, as on a serial line.
struct Serial(File);

impl Transport for Serial {
    type Error = std::io::Error;
    fn send(&mut self, frame: &[u8]) -> Result<(), std::io::Error> {
        let mut out = [0u8; stream_len(FRAME)];
        let record = encode_for_stream(frame, &mut out).expect("the buffer fits a frame");
        self.0.write_all(record)
    }
}

fn fifo(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("zibrato-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let made = Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    path
}

/// The console's windows for `name`, summed: (count of readings, sum).
fn totals(worker: &Daemon, name: &str) -> (u64, f64) {
    worker
        .output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|o| o["name"] == name)
        .fold((0, 0.0), |(n, s), o| {
            (
                n + o["count"].as_u64().unwrap_or(0),
                s + o["sum"].as_f64().unwrap_or(0.0),
            )
        })
}

/// A broker taking device frames on UDP port `udp` and the FIFO `stream`, frames of
/// at most 4 KiB.
fn broker_with_devices(port: u16, udp: u16, stream: &Path) -> Daemon {
    let udp = format!("127.0.0.1:{udp}");
    start_broker(
        port,
        &[
            "--udp",
            &udp,
            "--stream",
            stream.to_str().unwrap(),
            "--max-frame-bytes",
            "4096",
        ],
    )
}

#[test]
fn a_device_on_udp_and_on_a_fifo_arrives_exactly_and_a_lost_datagram_is_counted() {
    let (port, udp) = (free_ports(), free_udp_port());
    let path = fifo("serial");
    let _broker = broker_with_devices(port, udp, &path);
    let worker = start_console_json(port);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", udp)).unwrap();
    let link = Udp {
        socket,
        sent: 0,
        lose: Some(2),
        lost_measurements: 0,
    };
    let mut radio: Device<'_, Udp> = Recorder::new(0xD1, link, WallClock);
    let mut serial: Device<'_, Serial> = Recorder::new(
        0xD2,
        Serial(File::options().write(true).open(&path).unwrap()),
        WallClock,
    );
    for i in 0..200u32 {
        radio.count("info", "radio.packets", None, 1);
        radio.gauge(
            "info",
            "radio.rssi",
            Some("node-1"),
            -f64::from(40 + i % 20),
        );
        serial.count("info", "uart.bytes", None, 3);
        serial.time_ns("info", "uart.read", None, 1_000 + u64::from(i));
    }
    radio.flush();
    serial.flush();
    assert_eq!(radio.dropped(), Default::default());
    assert_eq!(serial.dropped(), Default::default());
    assert!(radio.sent().frames > 3, "{:?}", radio.sent());

    // The serial device's measurements, all of them.
    wait_until("the serial device's counters", WAIT, || {
        totals(&worker, "uart.bytes").1 == 600.0
    });
    wait_until("the serial device's timers", WAIT, || {
        totals(&worker, "uart.read").0 == 200
    });
    // The radio device's, less the frame lost on the way; the worker counts that frame.
    let lost = radio.transport().lost_measurements;
    assert!(lost > 0);
    let expected = 400 - lost;
    wait_until("the radio device's measurements", WAIT, || {
        let packets = totals(&worker, "radio.packets").1 as usize;
        let readings = totals(&worker, "radio.rssi").0 as usize;
        packets + readings == expected
    });
    wait_until("one lost frame", WAIT, || {
        totals(&worker, "zibrato.worker.lost_frames").1 == 1.0
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn hostile_datagrams_and_streams_leave_the_broker_up_bounded_and_counting() {
    let (port, udp) = (free_ports(), free_udp_port());
    let path = fifo("hostile");
    let mut broker = broker_with_devices(port, udp, &path);
    let worker = start_console_json(port);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", udp)).unwrap();
    let mut valid = [0u8; FRAME];
    let frame = {
        let mut builder = zibrato_wire::FrameBuilder::<&str, 2, 2, 2>::new();
        builder
            .push(
                zibrato_wire::Measurement::new(
                    "after.hostility",
                    None,
                    zibrato_wire::Value::Counter(1),
                )
                .unwrap(),
            )
            .unwrap();
        let header = zibrato_wire::Header {
            publisher: 0xBAD,
            sequence: 0,
            time_us: 0,
        };
        builder
            .encode(
                zibrato_wire::Level::new("info").unwrap(),
                &header,
                &mut valid,
            )
            .unwrap()
            .to_vec()
    };
    // Datagrams: empty, garbage, a valid frame cut short, the largest UDP payload (over
    // the 4 KiB limit).
    let garbage: Vec<u8> = (0..1_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    socket.send(&vec![b'i'; 65_507]).unwrap();
    for i in 0..200 {
        socket.send(&[]).unwrap();
        socket.send(&garbage).unwrap();
        socket.send(&frame[..frame.len() - 3]).unwrap();
        if i % 20 == 0 {
            // Paced, so the kernel's receive buffer keeps most of them.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A stream: garbage with zeros, bad COBS, a record that never ends for 1 MB, then
    // a delimiter and a valid frame.
    let mut serial = File::options().write(true).open(&path).unwrap();
    for _ in 0..100 {
        serial.write_all(&garbage).unwrap();
        serial.write_all(&[9, 1, 2, 0]).unwrap();
    }
    serial.write_all(&vec![7u8; 1 << 20]).unwrap();
    serial.write_all(&[0]).unwrap();
    let mut out = [0u8; stream_len(FRAME)];
    serial
        .write_all(encode_for_stream(&frame, &mut out).unwrap())
        .unwrap();
    drop(serial);
    socket.send(&frame).unwrap();

    // Both valid frames arrive; the broker is up and small.
    wait_until("the valid frames", WAIT, || {
        totals(&worker, "after.hostility").1 == 2.0
    });
    let (resident, peak) = rss(broker.pid());
    assert!(resident > 0, "the broker is running");
    assert!(peak < 64 << 20, "broker peak RSS {peak} bytes");
    assert!(broker.stop("TERM").success());
    let output = broker.output();
    let total = |field: &str| broker.broker_total(field);
    // Each kind counted under its reason (a burst of datagrams may also overflow the
    // kernel's receive buffer, which no one can count: hence "at least one").
    assert!(total("dropped_oversized") >= 2, "{output}");
    assert!(total("dropped_bad_framing") >= 100, "{output}");
    assert!(total("dropped_not_zibrato") >= 1, "{output}");
    assert!(total("dropped_malformed") >= 1, "{output}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn datagrams_out_of_order_are_not_lost_and_a_missing_one_is_counted_once() {
    let (port, udp) = (free_ports(), free_udp_port());
    let _broker = start_broker(port, &["--udp", &format!("127.0.0.1:{udp}")]);
    let mut worker = start_console_json(port);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", udp)).unwrap();
    let send = |publisher: u64, name: &str, sequences: &[u64]| {
        for &sequence in sequences {
            let m = zibrato_wire::Measurement::new(name, None, zibrato_wire::Value::Counter(1))
                .unwrap();
            let header = zibrato_wire::Header {
                publisher,
                sequence,
                time_us: 0,
            };
            socket
                .send(&zibrato_testkit::frame("info", header, &[m]))
                .unwrap();
        }
    };
    // Reordered on the way: 3 before 2. Nothing was lost.
    send(41, "reordered", &[0, 1, 3, 2, 4]);
    // Frame 2 never arrives: one frame lost.
    send(42, "gap", &[0, 1, 3, 4]);
    wait_until("every frame that was sent", WAIT, || {
        totals(&worker, "reordered").1 == 5.0 && totals(&worker, "gap").1 == 4.0
    });
    // Counted once it has been missing for the reorder allowance, at a flush.
    wait_until("the missing frame counted lost", WAIT, || {
        totals(&worker, "zibrato.worker.lost_frames").1 == 1.0
    });
    assert!(worker.stop("TERM").success());
    assert_eq!(worker.worker_total("lost_frames"), 1, "{}", worker.output());
    assert_eq!(worker.worker_total("late_frames"), 0, "{}", worker.output());
}
