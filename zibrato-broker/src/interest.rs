//! Who wants which levels: the workers' subscriptions and the linked brokers' wants,
//! and what each source is told to send in turn — publishers every level some
//! destination wants, a linked broker every level some destination other than itself
//! wants — so a level nobody wants stays where it was recorded.

use std::time::Instant;

use tracing::{debug, warn};

use crate::BrokerError;
use crate::forwarder::{Broker, Destination};
use crate::relay::topic_text;
use crate::subscriptions::Verdict;

impl Broker {
    /// `destination` now wants `topic` (`wanted`) or no longer does: tells the
    /// publishers and the linked brokers whose view that changes.
    pub(crate) fn interest_changed(
        &mut self,
        destination: Destination,
        topic: &[u8],
        wanted: bool,
    ) {
        let before = if wanted {
            self.demand.add(topic)
        } else {
            self.demand.remove(topic)
        };
        if !wanted && before == 0 {
            return;
        }
        let after = if wanted { before + 1 } else { before - 1 };
        // Publishers send every topic anyone wants: one subscription per topic, passed
        // on when its first destination comes and its last one goes.
        if (before == 0) != (after == 0) {
            let mut message = Vec::with_capacity(topic.len() + 1);
            message.push(u8::from(wanted));
            message.extend_from_slice(topic);
            if let Err(error) = self.publishers.send(message, zmq::DONTWAIT) {
                warn!(%error, topic = %topic_text(topic), "cannot pass a subscription on to the publishers");
            }
        }
        if destination != Destination::Upstream {
            if let Some(upstream) = &mut self.upstream {
                let others = after - u32::from(upstream.peer.wants.contains(topic));
                if others == u32::from(wanted) {
                    upstream.advertise(topic, wanted);
                }
            }
        }
        let except = match destination {
            Destination::Relay(id) => Some(id),
            _ => None,
        };
        self.relays.advertise(topic, wanted, after, except);
    }

    /// Takes the workers' subscription changes: well-formed ones only, and a bounded
    /// number (see [`Subscriptions`](crate::subscriptions::Subscriptions)); the rest
    /// are counted and logged at a limited rate.
    pub(crate) fn read_subscriptions(&mut self) -> Result<(), BrokerError> {
        loop {
            let msg = match self.workers.socket.recv_bytes(zmq::DONTWAIT) {
                Ok(msg) => msg,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "read a subscription",
                        source,
                    });
                }
            };
            self.stats.subscription_changes += 1;
            let topic = msg.get(1..).unwrap_or_default();
            match self.workers.subscriptions.judge(&msg) {
                Verdict::Forward => {
                    let subscribe = msg[0] == 1;
                    debug!(subscribe, topic = %topic_text(topic), "subscription change");
                    if subscribe {
                        self.workers.outbox.want(topic);
                        while let Some(entry) = self.workers.outbox.pop_ready() {
                            self.send_to_workers(entry);
                        }
                    } else if !self.workers.outbox.unwant(topic, Instant::now()) {
                        debug!(topic = %topic_text(topic), "not held: --max-subscriptions levels are held already");
                    }
                    self.interest_changed(Destination::Workers, topic, subscribe);
                }
                Verdict::Ignore => {}
                verdict @ (Verdict::Malformed | Verdict::Full) => {
                    self.stats.subscriptions_refused += 1;
                    if let Some(suppressed) = self.refusal_log.check() {
                        let why = if verdict == Verdict::Full {
                            "--max-subscriptions topics are subscribed already"
                        } else {
                            "not a level topic (level then a zero byte) nor the empty topic"
                        };
                        warn!(topic = %topic_text(topic), suppressed, total = self.stats.subscriptions_refused, "refused a subscription: {why}");
                    }
                }
            }
        }
    }

    /// Before stopping: withdraws every subscription from the publishers, so they hold
    /// their levels for their grace instead of sending into a broker about to go.
    /// Linked brokers are not told: they keep what is wanted of them and send it when
    /// this broker is back.
    pub(crate) fn withdraw_from_publishers(&mut self) -> Result<(), BrokerError> {
        let topics: Vec<Box<[u8]>> = self
            .demand
            .others_want(&Default::default())
            .map(Box::from)
            .collect();
        for topic in topics {
            let mut withdrawal = Vec::with_capacity(topic.len() + 1);
            withdrawal.push(0u8);
            withdrawal.extend_from_slice(&topic);
            self.publishers
                .send(withdrawal, 0)
                .map_err(BrokerError::zmq("withdraw a subscription"))?;
        }
        Ok(())
    }
}
