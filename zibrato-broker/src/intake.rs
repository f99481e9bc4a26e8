//! What comes in: frames from this host's publishers and devices and from linked
//! brokers, each validated and routed, or dropped and counted under its reason.

use tracing::warn;

use crate::forwarder::{BATCH, Broker, Destination, Origin};
use crate::outbox::Tally;
use crate::relay::Event;
use crate::{BrokerError, DropReason, accept};

impl Broker {
    pub(crate) fn read_frames(&mut self, from: Inlet) -> Result<(), BrokerError> {
        for _ in 0..BATCH {
            let socket = match (from, &self.devices) {
                (Inlet::Devices, Some(devices)) => devices,
                (Inlet::Devices, None) => return Ok(()),
                (Inlet::Publishers, _) => &self.publishers,
            };
            let mut msg = zmq::Message::new();
            match socket.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "receive a frame",
                        source,
                    });
                }
            }
            if msg.get_more() {
                crate::sockets::rest(socket, &msg)?;
                self.stats.frames_in += 1;
                self.drop_frame(DropReason::Multipart, None);
                continue;
            }
            if matches!(from, Inlet::Publishers) && !self.still_allowed(&mut msg) {
                self.drop_revoked();
                continue;
            }
            self.take_frame(Origin::Local, msg);
        }
        Ok(())
    }

    /// Validates a frame and routes it, or drops and counts it.
    pub(crate) fn take_frame(&mut self, origin: Origin, msg: zmq::Message) {
        self.stats.frames_in += 1;
        if msg.len() > self.max_frame {
            self.drop_frame(DropReason::Oversized, None);
            return;
        }
        match accept(&msg) {
            Ok(accepted) => {
                let measurements = accepted.measurements as u64;
                self.stats.accepted.add(Tally::one(measurements));
                // A valid frame starts with its topic: the level and a zero byte.
                let topic_len = msg.iter().position(|&b| b == 0).map_or(0, |p| p + 1);
                self.route(origin, msg, topic_len, measurements, true);
            }
            Err(error) => self.drop_frame(DropReason::of(error), Some(error)),
        }
    }

    /// Acts on what a linked broker did.
    pub(crate) fn handle(&mut self, origin: Origin, destination: Destination, event: Event) {
        match event {
            Event::Frame { frame, gap } => {
                self.stats.relay_frames_in += 1;
                self.stats.relay_gaps += gap;
                self.take_frame(origin, frame);
            }
            Event::Duplicate => {
                self.stats.relay_frames_in += 1;
                self.stats.frames_in += 1;
                self.drop_frame(DropReason::Duplicate, None);
            }
            Event::Wants { topic, wanted } => self.interest_changed(destination, &topic, wanted),
            Event::Acked(tally) => self.outcome(destination).delivered.add(tally),
            Event::Refused(why) => {
                self.stats.relay_refused += 1;
                if let Some(suppressed) = self.refusal_log.check() {
                    warn!(
                        suppressed,
                        total = self.stats.relay_refused,
                        "refused on a relay link: {why}"
                    );
                }
            }
        }
    }

    pub(crate) fn drop_frame(&mut self, reason: DropReason, error: Option<zibrato_wire::Error>) {
        self.stats.dropped[reason.index()] += 1;
        if reason == DropReason::Duplicate {
            // Expected after every reconnect: counted, not worth a warning.
            return;
        }
        if let Some(suppressed) = self.limiters[reason.index()].check() {
            let error = match (error, reason) {
                (Some(error), _) => error.to_string(),
                (None, DropReason::Oversized) => {
                    format!("a frame over --max-frame-bytes ({} bytes)", self.max_frame)
                }
                (None, DropReason::Revoked) => {
                    "from a connection whose key was revoked (--curve-allow, SIGHUP)".into()
                }
                (None, _) => "multipart message".into(),
            };
            warn!(
                reason = reason.as_str(),
                %error,
                suppressed,
                total = self.stats.dropped(reason),
                "dropped a frame"
            );
        }
    }
}

/// Where frames come in from this host.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Inlet {
    /// Publishers over ZeroMQ.
    Publishers,
    /// Devices over UDP or a stream, through the ingress threads.
    Devices,
}
