//! The link to the broker: an XPUB socket, its connection state and the levels its
//! subscribers want. Only with the `zmq` feature.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use zibrato_common::SocketMonitor;
use zibrato_common::curve::{KeyPair, PublicKey};
use zibrato_wire::Level;
use zmq::SocketEvent;

use crate::Error;
use crate::link::SendError;

#[derive(Debug, Clone, Copy)]
enum State {
    Down,
    Joining(Instant),
    Up,
}

/// An XPUB socket connected to the broker's publisher port.
///
/// XPUB rather than PUB because it tells us which levels the broker's workers
/// subscribe to, and when we are connected at all: frames wait in our bounded backlog
/// while the broker is away, and levels nobody wants are never built.
///
/// The socket is in manual mode (`XPUB_MANUAL`): it never filters by itself, the
/// publisher alone decides what to send. An automatic XPUB applies a withdrawal as
/// soon as ZeroMQ reads it, which can be inside the very `send` of a frame the
/// publisher built before it could know, and that frame would vanish without an error;
/// sent to the broker instead, it is held there for its grace like any frame of a level
/// whose workers are away.
pub(crate) struct ZmqLink {
    _context: zmq::Context,
    socket: zmq::Socket,
    monitor: SocketMonitor,
    state: State,
    subscribed: Subscribed,
    grace: Duration,
    endpoint: String,
}

/// Socket options of the publisher, set before connecting so they apply to the
/// first connection too.
pub(crate) struct LinkOptions {
    pub hwm: i32,
    pub grace: Duration,
    pub ipv6: bool,
    /// This program's keys and the broker's public key, for CURVE.
    pub keys: Option<(KeyPair, PublicKey)>,
}

impl ZmqLink {
    pub(crate) fn connect(
        context: zmq::Context,
        endpoint: &str,
        options: &LinkOptions,
    ) -> Result<ZmqLink, Error> {
        let zmq_err = |action| {
            move |source: zmq::Error| Error::Zmq {
                action,
                reason: source.to_string(),
            }
        };
        let mut socket = context
            .socket(zmq::XPUB)
            .map_err(zmq_err("create the publisher socket"))?;
        socket
            .set_sndhwm(options.hwm)
            .map_err(zmq_err("set the high-water mark"))?;
        set_flag(&mut socket, zmq_sys::ZMQ_XPUB_NODROP)
            .map_err(zmq_err("make a full queue visible (XPUB_NODROP)"))?;
        // Manual mode also hands us every subscription, repeated ones included.
        set_flag(&mut socket, zmq_sys::ZMQ_XPUB_MANUAL)
            .map_err(zmq_err("take subscriptions by hand (XPUB_MANUAL)"))?;
        // Heartbeats notice a broker that vanished without closing the connection.
        socket
            .set_heartbeat_ivl(1000)
            .map_err(zmq_err("set heartbeats"))?;
        socket
            .set_heartbeat_timeout(3000)
            .map_err(zmq_err("set heartbeats"))?;
        socket
            .set_reconnect_ivl(100)
            .map_err(zmq_err("set reconnection"))?;
        socket
            .set_reconnect_ivl_max(2000)
            .map_err(zmq_err("set reconnection"))?;
        socket.set_linger(0).map_err(zmq_err("set linger"))?;
        socket
            .set_ipv6(options.ipv6)
            .map_err(zmq_err("enable IPv6"))?;
        if let Some((pair, server)) = &options.keys {
            pair.connect_to(&socket, server)
                .map_err(zmq_err("set the CURVE keys"))?;
        }

        let monitor = SocketMonitor::attach(
            &context,
            &socket,
            "client",
            &[SocketEvent::HANDSHAKE_SUCCEEDED, SocketEvent::DISCONNECTED],
        )
        .map_err(|(action, source)| Error::Zmq {
            action,
            reason: source.to_string(),
        })?;

        socket.connect(endpoint).map_err(|source| Error::Endpoint {
            endpoint: endpoint.to_string(),
            reason: source.to_string(),
        })?;
        Ok(ZmqLink {
            _context: context,
            socket,
            monitor,
            state: State::Down,
            subscribed: Subscribed::default(),
            grace: options.grace,
            endpoint: endpoint.to_string(),
        })
    }

    pub(crate) fn is_up(&self) -> bool {
        matches!(self.state, State::Up)
    }

    pub(crate) fn wants(&self, frame: &[u8]) -> bool {
        self.subscribed.wants(frame)
    }

    pub(crate) fn send(&mut self, frame: &[u8]) -> Result<(), SendError> {
        self.socket
            .send(frame, zmq::DONTWAIT)
            .map_err(|_| SendError::Full)
    }

    /// Gives ZeroMQ up to `linger` to transmit what it holds, then closes.
    pub(crate) fn close(self, linger: Duration) {
        let millis = i32::try_from(linger.as_millis()).unwrap_or(i32::MAX);
        let _ = self.socket.set_linger(millis);
    }

    pub(crate) fn service(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Ok(Some(event)) = self.monitor.next_event() {
            if event == SocketEvent::HANDSHAKE_SUCCEEDED {
                debug!(endpoint = %self.endpoint, "connected to the broker");
                self.state = State::Joining(now);
            } else if event == SocketEvent::DISCONNECTED {
                info!(endpoint = %self.endpoint, "lost the broker; buffering until it is back");
                // The lost broker's subscriptions go with it (the publisher holds the
                // levels they named for its grace): a broker that comes back must say
                // again what its workers want. The socket is manual, so it reports
                // every subscription of the new connection, also of a topic the old one
                // still held when it arrived.
                self.subscribed = Subscribed::default();
                self.state = State::Down;
                changed = true;
            }
        }
        while let Ok(msg) = self.socket.recv_bytes(zmq::DONTWAIT) {
            // The connection this came on gets everything from the socket (see the
            // type's doc); `wants` filters. Only the message just read names it.
            if let Err(error) = self.socket.set_subscribe(b"") {
                warn!(%error, "cannot open the connection to the broker for every level");
            }
            changed |= self.subscribed.apply(&msg);
        }
        // The broker sends its subscriptions as soon as the connection is made; after
        // a short grace we know which levels are wanted and may filter the rest.
        if let State::Joining(since) = self.state {
            if now.duration_since(since) >= self.grace {
                self.state = State::Up;
                changed = true;
            }
        }
        changed
    }
}

/// The topics the broker's workers subscribe to, as the broker passed them on: each
/// level's topic (`info\0`), or the empty topic for everything. Matching a frame is one
/// hash lookup of its topic, whatever the number of subscriptions, and at most
/// [`MAX_SUBSCRIPTIONS`] are kept (a broker passes on at most its
/// `--max-subscriptions`; past ours, a subscription is ignored and logged).
#[derive(Debug, Default)]
struct Subscribed {
    topics: HashSet<Box<[u8]>>,
    everything: bool,
}

/// The most subscribed topics a client keeps.
const MAX_SUBSCRIPTIONS: usize = 4096;

impl Subscribed {
    /// Applies a subscription message (`1` or `0`, then the topic); true if it changed
    /// what is wanted.
    fn apply(&mut self, msg: &[u8]) -> bool {
        let Some((&kind, topic)) = msg.split_first() else {
            return false;
        };
        if topic.is_empty() {
            let was = std::mem::replace(&mut self.everything, kind == 1);
            return was != self.everything;
        }
        let is_level = Level::split_topic(topic).is_ok_and(|(_, rest)| rest.is_empty());
        match kind {
            1 if !is_level => {
                debug!(topic = %String::from_utf8_lossy(topic), "ignored a subscription that is not a level's topic");
                false
            }
            1 if self.topics.len() >= MAX_SUBSCRIPTIONS => {
                warn!(
                    max = MAX_SUBSCRIPTIONS,
                    "ignored a subscription: too many levels are subscribed"
                );
                false
            }
            1 => self.topics.insert(Box::from(topic)),
            0 => self.topics.remove(topic),
            _ => false,
        }
    }

    /// Whether a frame (or a topic) is wanted.
    fn wants(&self, frame: &[u8]) -> bool {
        if self.everything {
            return true;
        }
        frame
            .iter()
            .take(zibrato_wire::limits::MAX_LEVEL_LEN + 1)
            .position(|&b| b == 0)
            .is_some_and(|end| self.topics.contains(&frame[..=end]))
    }
}

/// Turns on an integer socket option the `zmq` crate has no setter for:
/// `ZMQ_XPUB_NODROP` (a full queue says EAGAIN instead of dropping the frame without a
/// word, ZeroMQ's default) and `ZMQ_XPUB_MANUAL` (see [`ZmqLink`]). These are the calls
/// made through the C API directly.
#[allow(unsafe_code)]
fn set_flag(socket: &mut zmq::Socket, option: u32) -> Result<(), zmq::Error> {
    use std::os::raw::c_int;
    let value: c_int = 1;
    let raw = socket.as_mut_ptr();
    // SAFETY: `raw` is the live socket owned by `socket`, used on this thread only; the
    // option value points to a c_int on this stack frame and its size is passed with
    // it; both options take an int. zmq_errno is read right after the failing call.
    let (rc, errno) = unsafe {
        let rc = zmq_sys::zmq_setsockopt(
            raw,
            option as c_int,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>(),
        );
        (rc, if rc == 0 { 0 } else { zmq_sys::zmq_errno() })
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(zmq::Error::from_raw(errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker's publisher side (XSUB) on 127.0.0.1, and a link connected to it.
    fn linked() -> (zmq::Socket, ZmqLink) {
        let context = zmq::Context::new();
        let broker = context.socket(zmq::XSUB).unwrap();
        broker.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = broker.get_last_endpoint().unwrap().unwrap();
        let options = LinkOptions {
            hwm: 100,
            grace: Duration::ZERO,
            ipv6: false,
            keys: None,
        };
        let mut link = ZmqLink::connect(context, &endpoint, &options).unwrap();
        service_until(&mut link, ZmqLink::is_up);
        (broker, link)
    }

    /// Services `link` until `done`, for at most five seconds.
    fn service_until(link: &mut ZmqLink, done: impl Fn(&ZmqLink) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(link) {
            assert!(Instant::now() < deadline, "the link never got there");
            link.service(Instant::now());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_frame_sent_as_its_level_is_withdrawn_still_reaches_the_broker() {
        let (broker, mut link) = linked();
        broker.send(&b"\x01info\0"[..], 0).unwrap();
        service_until(&mut link, |l| l.is_up() && l.wants(b"info\0Z"));
        // The withdrawal arrives and ZeroMQ reads it (a poll does) before the
        // publisher does: the frame it built meanwhile is sent all the same.
        broker.send(&b"\x00info\0"[..], 0).unwrap();
        assert_eq!(link.socket.poll(zmq::POLLIN, 5000).unwrap(), 1);
        assert!(link.send(b"info\0Z frame").is_ok());
        broker.set_rcvtimeo(5000).unwrap();
        assert_eq!(broker.recv_bytes(0).unwrap(), b"info\0Z frame");
        service_until(&mut link, |l| !l.wants(b"info\0Z"));
    }

    #[test]
    fn once_the_broker_names_a_level_the_socket_lets_every_level_through() {
        let (broker, mut link) = linked();
        broker.send(&b"\x01debug\0"[..], 0).unwrap();
        service_until(&mut link, |l| l.wants(b"debug\0Z"));
        // The socket filters nothing: what the publisher decides to send arrives.
        assert!(link.send(b"info\0Z other").is_ok());
        broker.set_rcvtimeo(5000).unwrap();
        assert_eq!(broker.recv_bytes(0).unwrap(), b"info\0Z other");
    }

    #[test]
    fn subscriptions_match_exact_levels_and_stay_bounded() {
        let mut s = Subscribed::default();
        assert!(s.apply(b"\x01info\0"));
        assert!(s.wants(b"info\0Z\x01"));
        assert!(!s.wants(b"information\0Z\x01"));
        assert!(!s.apply(b"\x01inf"), "a prefix is not a level's topic");
        assert!(!s.wants(b"inf"));
        for i in 0..10_000 {
            s.apply(format!("\x01l{i}\0").as_bytes());
        }
        assert_eq!(s.topics.len(), MAX_SUBSCRIPTIONS);
        assert!(s.apply(b"\x00info\0"));
        assert!(!s.wants(b"info\0Z\x01"));
        assert!(s.apply(b"\x01"));
        assert!(s.wants(b"anything\0"));
        assert!(s.apply(b"\x00"));
        assert!(!s.wants(b"anything\0"));
    }
}
