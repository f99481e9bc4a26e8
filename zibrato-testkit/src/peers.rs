//! ZeroMQ peers for tests: a publisher that waits for subscriptions, a subscriber.

use std::time::{Duration, Instant};

use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement};

/// Encodes `measurements` as one frame of `level`.
pub fn frame(level: &str, header: Header, measurements: &[Measurement<'_>]) -> Vec<u8> {
    let mut builder = Box::new(FrameBuilder::<&str, 64, 64, 4096>::new());
    for m in measurements {
        builder.push(*m).expect("measurement fits");
    }
    let level = Level::new(level).expect("valid level");
    let mut buf = vec![0u8; builder.encoded_len(level, &header)];
    let len = builder
        .encode(level, &header, &mut buf)
        .expect("encodes")
        .len();
    buf.truncate(len);
    buf
}

/// A publisher on an XPUB socket, so it can see which topics are subscribed and send
/// only once a subscription has arrived (no slow-joiner guesswork).
pub struct Publisher {
    _context: zmq::Context,
    socket: zmq::Socket,
    subscribed: Vec<Vec<u8>>,
}

impl Publisher {
    /// Connects to `tcp://127.0.0.1:port`.
    pub fn connect(port: u16) -> Publisher {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::XPUB).unwrap();
        // Verbose: report every subscription, also one that repeats a topic an older
        // connection still holds (as after a broker restart).
        socket.set_xpub_verbose(true).unwrap();
        socket.set_sndhwm(1_000_000).unwrap();
        socket.set_linger(2000).unwrap();
        socket.set_reconnect_ivl(50).unwrap();
        socket.set_reconnect_ivl_max(200).unwrap();
        socket.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        Publisher {
            _context: context,
            socket,
            subscribed: Vec::new(),
        }
    }

    /// Waits until the subscription `topic` has arrived; panics after `timeout`.
    pub fn wait_for_subscription(&mut self, topic: &[u8], timeout: Duration) {
        assert!(
            self.has_subscription(topic, timeout),
            "no subscription to {topic:?} within {timeout:?}"
        );
    }

    /// Whether the subscription `topic` arrives within `timeout`.
    ///
    /// ZeroMQ sends a SUB socket's subscriptions from the application thread, when the
    /// socket is next used after (re)connecting; a test that waits here for its own
    /// subscriber must keep using that subscriber, e.g. by calling this in a loop with
    /// a short timeout between `recv` calls.
    pub fn has_subscription(&mut self, topic: &[u8], timeout: Duration) -> bool {
        self.watch(timeout, |subscribed, t| subscribed && t == topic)
    }

    /// Whether an unsubscription of `topic` arrives within `timeout`.
    pub fn has_unsubscription(&mut self, topic: &[u8], timeout: Duration) -> bool {
        self.watch(timeout, |subscribed, t| !subscribed && t == topic)
    }

    /// Reads subscription changes for up to `timeout`, keeping the list of what is
    /// subscribed, until `wanted(subscribe?, topic)` holds for one (or, for a
    /// subscription, for one already on the list).
    fn watch(&mut self, timeout: Duration, mut wanted: impl FnMut(bool, &[u8]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.subscribed.iter().any(|t| wanted(true, t)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if self
                .socket
                .poll(zmq::POLLIN, left.as_millis().clamp(1, 100) as i64)
                .unwrap()
                == 0
            {
                continue;
            }
            let msg = self.socket.recv_bytes(0).unwrap();
            match msg.split_first() {
                Some((&1, t)) => self.subscribed.push(t.to_vec()),
                Some((&0, t)) => {
                    self.subscribed.retain(|s| s != t);
                    if wanted(false, t) {
                        return true;
                    }
                }
                _ => {}
            }
        }
    }

    /// The topics subscribed now, as far as this publisher has read them.
    pub fn subscribed_topics(&mut self) -> Vec<Vec<u8>> {
        while let Ok(msg) = self.socket.recv_bytes(zmq::DONTWAIT) {
            match msg.split_first() {
                Some((&1, t)) => self.subscribed.push(t.to_vec()),
                Some((&0, t)) => self.subscribed.retain(|s| s != t),
                _ => {}
            }
        }
        self.subscribed.clone()
    }

    /// Forgets the subscriptions seen, so the next wait sees only new ones.
    pub fn forget_subscriptions(&mut self) {
        while let Ok(msg) = self.socket.recv_bytes(zmq::DONTWAIT) {
            drop(msg);
        }
        self.subscribed.clear();
    }

    /// Sends one single-part message.
    pub fn send(&self, bytes: &[u8]) {
        self.socket.send(bytes, 0).unwrap();
    }

    /// Sends a multi-part message.
    pub fn send_multipart(&self, parts: &[&[u8]]) {
        self.socket
            .send_multipart(parts.iter().copied(), 0)
            .unwrap();
    }
}

/// A subscriber on a SUB socket.
pub struct Subscriber {
    _context: zmq::Context,
    socket: zmq::Socket,
}

impl Subscriber {
    /// Connects to `tcp://127.0.0.1:port` and subscribes to each level exactly.
    pub fn connect(port: u16, levels: &[&str]) -> Subscriber {
        let topics: Vec<_> = levels
            .iter()
            .map(|l| Level::new(l).unwrap().topic())
            .collect();
        let prefixes: Vec<&[u8]> = topics.iter().map(|t| t.as_bytes()).collect();
        Self::connect_raw(port, &prefixes)
    }

    /// A subscriber to `levels` at the worker port of the broker on `broker_port`
    /// (`broker_port + 1`), once the broker routes each of them to it.
    pub fn routed(broker_port: u16, levels: &[&str], timeout: Duration) -> Subscriber {
        let subscriber = Self::connect(broker_port + 1, levels);
        for level in levels {
            subscriber.wait_until_routed(broker_port, level, timeout);
        }
        subscriber
    }

    /// Connects to `tcp://127.0.0.1:port` with raw ZeroMQ subscription prefixes
    /// (`b""` receives everything).
    pub fn connect_raw(port: u16, prefixes: &[&[u8]]) -> Subscriber {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::SUB).unwrap();
        socket.set_rcvhwm(1_000_000).unwrap();
        socket.set_reconnect_ivl(50).unwrap();
        socket.set_reconnect_ivl_max(200).unwrap();
        socket.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        for prefix in prefixes {
            socket.set_subscribe(prefix).unwrap();
        }
        Subscriber {
            _context: context,
            socket,
        }
    }

    /// The next message, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        if self
            .socket
            .poll(zmq::POLLIN, timeout.as_millis() as i64)
            .unwrap()
            == 0
        {
            return None;
        }
        Some(self.socket.recv_bytes(0).unwrap())
    }

    /// Waits until the broker on `port` routes `level` to this subscriber: a probe
    /// publisher connects and waits for the subscription to come through. Keeps using
    /// this socket meanwhile, since ZeroMQ sends a SUB's subscriptions from the
    /// application thread.
    pub fn wait_until_routed(&self, port: u16, level: &str, timeout: Duration) {
        let topic = Level::new(level).unwrap().topic();
        let mut probe = Publisher::connect(port);
        let deadline = Instant::now() + timeout;
        while !probe.has_subscription(topic.as_bytes(), Duration::from_millis(20)) {
            assert!(
                Instant::now() < deadline,
                "{level} not routed within {timeout:?}"
            );
            let _ = self.recv(Duration::from_millis(1));
        }
    }

    /// Every message that arrives until none has come for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(msg) = self.recv(quiet) {
            out.push(msg);
        }
        out
    }

    /// Receives until a frame satisfies `want`; panics after `timeout`.
    pub fn recv_until(&self, timeout: Duration, mut want: impl FnMut(&Frame<'_>) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no wanted frame within {timeout:?}");
            if let Some(msg) = self.recv(left) {
                if let Ok(frame) = Frame::decode(&msg) {
                    if want(&frame) {
                        return;
                    }
                }
            }
        }
    }
}
