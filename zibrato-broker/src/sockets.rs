//! The broker's sockets: how each is made, bound and watched.

use zibrato_common::SocketMonitor;
use zibrato_common::curve::KeyPair;
use zibrato_wire::limits::MAX_FRAME_LEN;
use zibrato_wire::relay::MAX_MESSAGE_LEN;
use zmq::SocketEvent;

use crate::{BrokerError, BrokerOptions};

/// The largest message a worker may send: a subscription (one byte, then a topic).
const MAX_SUBSCRIPTION_BYTES: i64 = 1024;

/// The largest message part on a relay link: a frame, or a relay message.
const MAX_RELAY_PART: i64 = if MAX_FRAME_LEN > MAX_MESSAGE_LEN {
    MAX_FRAME_LEN as i64
} else {
    MAX_MESSAGE_LEN as i64
};

/// Heartbeats on relay links: a link that carries nothing for this long is pinged…
pub(crate) const RELAY_HEARTBEAT_MS: i32 = 1000;
/// …and one that does not answer for this long is taken as dead, so a link that
/// failed is noticed within seconds and nothing more is sent into it.
pub(crate) const RELAY_HEARTBEAT_TIMEOUT_MS: i32 = 4000;

/// The publisher port: an XSUB socket.
pub(crate) fn publishers(
    context: &zmq::Context,
    config: &BrokerOptions,
    keys: Option<&KeyPair>,
) -> Result<zmq::Socket, BrokerError> {
    let socket = context
        .socket(zmq::XSUB)
        .map_err(BrokerError::zmq("create the XSUB socket"))?;
    // ZeroMQ itself refuses only what cannot be a frame at all (over the format's
    // 1 MiB), by dropping the sender's connection; a frame over --max-frame-bytes
    // but within the format is received, then dropped, counted and logged.
    socket
        .set_maxmsgsize(MAX_FRAME_LEN as i64)
        .map_err(BrokerError::zmq("set the maximum message size"))?;
    socket
        .set_rcvhwm(config.publisher_hwm.get() as i32)
        .map_err(BrokerError::zmq("set the publisher high-water mark"))?;
    prepare(&socket, config.host.is_ipv6())?;
    secure(&socket, keys, "publishers")?;
    bind(&socket, config, config.port, "publisher")?;
    Ok(socket)
}

/// The worker port: an XPUB socket.
pub(crate) fn workers(
    context: &zmq::Context,
    config: &BrokerOptions,
    keys: Option<&KeyPair>,
) -> Result<zmq::Socket, BrokerError> {
    let socket = context
        .socket(zmq::XPUB)
        .map_err(BrokerError::zmq("create the XPUB socket"))?;
    socket
        .set_sndhwm(config.worker_hwm.get() as i32)
        .map_err(BrokerError::zmq("set the worker high-water mark"))?;
    // What workers send are subscriptions: a byte and a topic of at most 33 bytes.
    // ZeroMQ drops the connection of a peer that sends more.
    socket
        .set_maxmsgsize(MAX_SUBSCRIPTION_BYTES)
        .map_err(BrokerError::zmq("set the largest subscription"))?;
    prepare(&socket, config.host.is_ipv6())?;
    secure(&socket, keys, "workers")?;
    bind(&socket, config, config.worker_port(), "worker")?;
    Ok(socket)
}

/// The relay port, where other brokers link to this one: a ROUTER socket.
pub(crate) fn relays(
    context: &zmq::Context,
    config: &BrokerOptions,
    keys: Option<&KeyPair>,
) -> Result<zmq::Socket, BrokerError> {
    let socket = context
        .socket(zmq::ROUTER)
        .map_err(BrokerError::zmq("create the relay socket"))?;
    prepare_relay(&socket, config.worker_hwm.get() as i32)?;
    // A send to a link that is gone fails (EHOSTUNREACH) instead of vanishing, and a
    // full one says so (EAGAIN): both leave the frame in the outbox.
    socket.set_router_mandatory(true).map_err(BrokerError::zmq(
        "set the relay socket to mandatory routing",
    ))?;
    socket
        .set_ipv6(config.host.is_ipv6())
        .map_err(BrokerError::zmq("enable IPv6"))?;
    secure(&socket, keys, "relays")?;
    bind(&socket, config, config.relay_port(), "relay")?;
    Ok(socket)
}

/// Options of both ends of a relay link: bounded messages and queues, heartbeats that
/// notice a dead link within seconds, no lingering at close (what was not
/// acknowledged is counted, not waited for).
pub(crate) fn prepare_relay(socket: &zmq::Socket, hwm: i32) -> Result<(), BrokerError> {
    socket
        .set_maxmsgsize(MAX_RELAY_PART)
        .map_err(BrokerError::zmq("set the largest relay message"))?;
    socket
        .set_sndhwm(hwm)
        .map_err(BrokerError::zmq("set the relay high-water mark"))?;
    socket
        .set_rcvhwm(hwm)
        .map_err(BrokerError::zmq("set the relay high-water mark"))?;
    socket
        .set_heartbeat_ivl(RELAY_HEARTBEAT_MS)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_heartbeat_timeout(RELAY_HEARTBEAT_TIMEOUT_MS)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_linger(0)
        .map_err(BrokerError::zmq("set linger"))?;
    Ok(())
}

/// With keys, makes `socket` a CURVE server whose peers the ZAP handler checks under
/// `domain` (the port, in its logs and counts).
fn secure(socket: &zmq::Socket, keys: Option<&KeyPair>, domain: &str) -> Result<(), BrokerError> {
    let Some(keys) = keys else {
        return Ok(());
    };
    keys.serve(socket)
        .map_err(BrokerError::zmq("make the socket a CURVE server"))?;
    socket
        .set_zap_domain(domain)
        .map_err(BrokerError::zmq("set the ZAP domain"))
}

/// Socket options every broker socket gets: linger bounded so shutdown never hangs,
/// heartbeats so dead peers are noticed, IPv6 when bound to an IPv6 address.
fn prepare(socket: &zmq::Socket, ipv6: bool) -> Result<(), BrokerError> {
    socket
        .set_linger(1000)
        .map_err(BrokerError::zmq("set linger"))?;
    socket
        .set_heartbeat_ivl(5000)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_heartbeat_timeout(15000)
        .map_err(BrokerError::zmq("set heartbeats"))?;
    socket
        .set_ipv6(ipv6)
        .map_err(BrokerError::zmq("enable IPv6"))?;
    Ok(())
}

fn bind(
    socket: &zmq::Socket,
    config: &BrokerOptions,
    port: u16,
    role: &'static str,
) -> Result<(), BrokerError> {
    let endpoint = crate::config::endpoint(config.host, port);
    socket.bind(&endpoint).map_err(|source| match source {
        zmq::Error::EADDRINUSE => BrokerError::PortInUse {
            host: config.host.to_string(),
            port,
            role,
        },
        source => BrokerError::Bind { endpoint, source },
    })
}

/// Watches a bound socket's connections, and the handshakes that fail (a peer without
/// a key, with a wrong server key, or speaking something else).
pub(crate) fn monitor(
    context: &zmq::Context,
    socket: &zmq::Socket,
    name: &str,
) -> Result<SocketMonitor, BrokerError> {
    let events = [
        SocketEvent::ACCEPTED,
        SocketEvent::DISCONNECTED,
        SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
        SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
    ];
    SocketMonitor::attach(context, socket, name, &events)
        .map_err(|(action, source)| BrokerError::Zmq { action, source })
}

/// The parts that follow a message's first one.
#[derive(Debug)]
pub(crate) enum Rest {
    /// None: a single-part message.
    Nothing,
    /// Exactly one more.
    One(zmq::Message),
    /// More than one more: read and dropped.
    TooMany,
}

/// Reads the rest of the message whose part `first` was just received.
pub(crate) fn rest(socket: &zmq::Socket, first: &zmq::Message) -> Result<Rest, BrokerError> {
    if !first.get_more() {
        return Ok(Rest::Nothing);
    }
    let mut part = zmq::Message::new();
    socket
        .recv(&mut part, 0)
        .map_err(BrokerError::zmq("receive a message part"))?;
    if !part.get_more() {
        return Ok(Rest::One(part));
    }
    while part.get_more() {
        socket
            .recv(&mut part, 0)
            .map_err(BrokerError::zmq("discard a multipart message"))?;
    }
    Ok(Rest::TooMany)
}
