//! Acknowledged links between brokers (section 10 of the wire spec): a broker's
//! `--upstream` link ([`Upstream`], which connects) and the links other brokers make to
//! this one's relay port ([`Sessions`], which accepts). Both ends keep what they send
//! in an [`Outbox`] until the other end acknowledges it, and drop what they receive
//! twice.

mod peer;
pub(crate) mod sessions;
pub(crate) mod upstream;

pub(crate) use peer::{Peer, Received};
pub(crate) use sessions::Sessions;
pub(crate) use upstream::Upstream;

use std::sync::Arc;

use zibrato_wire::relay::Message;

use crate::outbox::Tally;

/// How a relay link's frames are kept: one copy shared by every link it goes to.
pub(crate) type Shared = Arc<[u8]>;

/// How often a connected link acknowledges, even with nothing new to acknowledge: the
/// other end forgets a link it has not heard from for `--relay-expiry`.
pub(crate) const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a link's peer did, for the forwarding loop to act on.
#[derive(Debug)]
pub(crate) enum Event {
    /// A frame not seen before; `gap` frames before it were never sent (the peer
    /// dropped them).
    Frame { frame: zmq::Message, gap: u64 },
    /// A frame the peer sent again that this broker already had: dropped.
    Duplicate,
    /// The peer now wants this topic, or no longer does.
    Wants { topic: Box<[u8]>, wanted: bool },
    /// The peer acknowledged frames.
    Acked(Tally),
    /// A message that breaks the relay protocol, dropped: why.
    Refused(String),
}

/// Encodes one relay message. The topics it carries were checked when they were
/// taken in, and lists are bounded by `--max-subscriptions` (at most
/// [`MAX_WANTS`](zibrato_wire::relay::MAX_WANTS)), so encoding cannot fail; if it did,
/// the message would be empty and the peer would refuse it.
pub(crate) fn encode(message: &Message<'_>) -> Vec<u8> {
    let mut bytes = vec![0u8; message.encoded_len()];
    match message.encode(&mut bytes) {
        Ok(written) => {
            let len = written.len();
            bytes.truncate(len);
            bytes
        }
        Err(error) => {
            tracing::error!(%error, "cannot encode a relay message");
            Vec::new()
        }
    }
}

/// The topic of a frame, for logs.
pub(crate) fn topic_text(topic: &[u8]) -> String {
    if topic.is_empty() {
        return "(every level)".into();
    }
    String::from_utf8_lossy(topic)
        .trim_end_matches('\0')
        .to_string()
}
