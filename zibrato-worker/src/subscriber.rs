//! The worker's subscriber socket: an XSUB connected to the broker's worker port,
//! keyed when asked, subscribed to exactly the worker's levels.

use zibrato_common::curve::{KeyPair, PublicKey};
use zibrato_wire::Level;
use zibrato_wire::limits::MAX_FRAME_LEN;

use crate::WorkerOptions;

/// A subscription message for an XSUB socket: 1 (subscribe) or 0 (withdraw), then the
/// topic.
pub(crate) fn subscription(kind: u8, topic: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(topic.len() + 1);
    message.push(kind);
    message.extend_from_slice(topic);
    message
}

/// Creates the subscriber, configured and connected; a message saying what failed.
pub(crate) fn subscribe(args: &WorkerOptions) -> Result<zmq::Socket, String> {
    let keys = match (&args.curve_secret_file, &args.curve_server_key) {
        (Some(secret), Some(server)) => Some((
            KeyPair::from_secret_file(secret).map_err(|e| e.to_string())?,
            PublicKey::parse(server).map_err(|e| e.to_string())?,
        )),
        _ => None,
    };
    let context = zmq::Context::new();
    let socket = context
        // XSUB rather than SUB: its subscriptions are messages it sends, and it does not
        // filter what arrives by them, so at shutdown the worker can withdraw them and
        // still take in the frames already on their way (a SUB would drop them).
        .socket(zmq::XSUB)
        .map_err(|e| format!("cannot create the subscriber socket: {e}"))?;
    let configure = || -> Result<(), zmq::Error> {
        socket.set_rcvhwm(args.hwm)?;
        socket.set_maxmsgsize(MAX_FRAME_LEN as i64)?;
        socket.set_heartbeat_ivl(2000)?;
        socket.set_heartbeat_timeout(6000)?;
        // Back within milliseconds of a broker restart, and never more than half a
        // second late: the broker and publishers hold a level for its grace (30 s by
        // default), and resubscribing ends the wait.
        socket.set_reconnect_ivl(20)?;
        socket.set_reconnect_ivl_max(500)?;
        socket.set_ipv6(args.host.contains(':'))?;
        if let Some((pair, server)) = &keys {
            pair.connect_to(&socket, server)?;
        }
        for level in &args.levels {
            if let Ok(level) = Level::new(level) {
                socket.send(subscription(1, level.topic().as_bytes()), 0)?;
            }
        }
        Ok(())
    };
    configure().map_err(|e| format!("cannot configure the subscriber socket: {e}"))?;
    socket
        .connect(&args.endpoint())
        .map_err(|e| format!("cannot connect to {}: {e}", args.endpoint()))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_is_its_kind_byte_then_the_topic() {
        assert_eq!(subscription(1, b"info\0"), b"\x01info\0");
        assert_eq!(subscription(0, b"info\0"), b"\x00info\0");
    }

    #[test]
    fn a_secret_file_that_cannot_be_read_is_a_clear_error() {
        let args = WorkerOptions {
            curve_secret_file: Some("/nonexistent/zibrato.secret".into()),
            curve_server_key: Some("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".into()),
            ..WorkerOptions::default()
        };
        let error = subscribe(&args).err().expect("an error");
        assert!(error.contains("/nonexistent/zibrato.secret"), "{error}");
    }
}
