//! Free loopback ports.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// A port `p` such that `p`, `p + 1` and `p + 2` are all free on 127.0.0.1 right now,
/// as the broker needs (publishers on `p`, workers on `p + 1`, linked brokers on
/// `p + 2`). Ports are handed out from a per-process counter offset by the process id,
/// so parallel tests rarely collide.
pub fn free_ports() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 100;
    loop {
        let offset = NEXT.fetch_add(3, Ordering::Relaxed) % 10_000;
        let port = base.wrapping_add(offset);
        if !(1024..65_000).contains(&port) {
            continue;
        }
        let free = (0..3).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok());
        if free {
            return port;
        }
    }
}

/// A UDP port free on 127.0.0.1 right now (the kernel's choice), for a daemon to bind:
/// the broker's `--udp` or `--statsd`.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free UDP port")
        .port()
}
