//! This broker's link to its `--upstream` broker: a DEALER socket connected to the
//! upstream's relay port.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zibrato_common::curve::{KeyPair, PublicKey};
use zibrato_common::{RateLimiter, SocketMonitor};
use zibrato_wire::relay::{Ack, Message, Wants};
use zmq::SocketEvent;

use super::{Event, KEEPALIVE, Peer, Received, encode, topic_text};
use crate::BrokerError;
use crate::sockets::Rest;
use crate::topics::Demand;

/// A hello not welcomed within this time is said again (the connection may have
/// broken right after it).
const WELCOME_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection: frames wait in the outbox.
    Down,
    /// Connected, hello said (when), no welcome yet.
    Greeting(Instant),
    /// Welcomed: frames flow.
    Up,
}

/// How the link is set up.
pub(crate) struct Settings<'a> {
    pub endpoint: &'a str,
    /// This broker's relay name, the same across restarts.
    pub name: String,
    /// Whether to ask the upstream for the levels this broker's workers want.
    pub pull: bool,
    /// Most topics the upstream may want from this broker.
    pub max_wants: usize,
    /// Frames ZeroMQ may queue on the link; the outbox holds the rest.
    pub hwm: i32,
    /// This broker's keys and the upstream's public key, for a CURVE link.
    pub keys: Option<(KeyPair, PublicKey)>,
}

/// The link to the upstream broker.
pub(crate) struct Upstream {
    socket: zmq::Socket,
    monitor: SocketMonitor,
    endpoint: String,
    name: String,
    /// This run's session: a new random number at every start.
    session: u64,
    state: State,
    /// The frames kept for the upstream, what it wants, what it sent.
    pub peer: Peer,
    /// Whether the upstream ever welcomed this broker: until then, what it wants is
    /// not known and every level is held, within the grace.
    welcomed: bool,
    pull: bool,
    max_wants: usize,
    last_ack: Instant,
    log: RateLimiter,
}

impl Upstream {
    /// Creates the socket and starts connecting (ZeroMQ retries in the background).
    pub(crate) fn connect(
        context: &zmq::Context,
        settings: Settings<'_>,
        peer: Peer,
    ) -> Result<Upstream, BrokerError> {
        let socket = context
            .socket(zmq::DEALER)
            .map_err(BrokerError::zmq("create the upstream socket"))?;
        crate::sockets::prepare_relay(&socket, settings.hwm)?;
        if let Some((pair, server)) = &settings.keys {
            pair.connect_to(&socket, server)
                .map_err(BrokerError::zmq("make the upstream link a CURVE client"))?;
        }
        // Nothing queues for a connection that is not there: frames wait in the outbox
        // and go (again) once the upstream has welcomed the new connection.
        socket
            .set_immediate(true)
            .map_err(BrokerError::zmq("set the upstream socket to immediate"))?;
        socket
            .set_reconnect_ivl(100)
            .map_err(BrokerError::zmq("set reconnection"))?;
        socket
            .set_reconnect_ivl_max(2000)
            .map_err(BrokerError::zmq("set reconnection"))?;
        let events = [
            SocketEvent::HANDSHAKE_SUCCEEDED,
            SocketEvent::DISCONNECTED,
            SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
            SocketEvent::HANDSHAKE_FAILED_AUTH,
        ];
        let monitor = SocketMonitor::attach(context, &socket, "broker-upstream", &events)
            .map_err(|(action, source)| BrokerError::Zmq { action, source })?;
        socket
            .connect(settings.endpoint)
            .map_err(|source| BrokerError::Upstream {
                endpoint: settings.endpoint.to_string(),
                source,
            })?;
        Ok(Upstream {
            socket,
            monitor,
            endpoint: settings.endpoint.to_string(),
            name: settings.name,
            session: zibrato_common::random_publisher_id(),
            state: State::Down,
            peer,
            welcomed: false,
            pull: settings.pull,
            max_wants: settings.max_wants,
            last_ack: Instant::now(),
            log: RateLimiter::new(Duration::from_secs(10)),
        })
    }

    /// The link's socket, to poll.
    pub(crate) fn socket(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Its monitor, to poll.
    pub(crate) fn monitor(&self) -> &zmq::Socket {
        self.monitor.socket()
    }

    /// Whether frames flow.
    pub(crate) fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Reads connection events: a new connection says hello, a lost one stops sending.
    pub(crate) fn read_monitor(
        &mut self,
        demand: &Demand,
        now: Instant,
    ) -> Result<(), BrokerError> {
        while let Some(event) = self
            .monitor
            .next_event()
            .map_err(BrokerError::zmq("read an upstream socket event"))?
        {
            match event {
                SocketEvent::HANDSHAKE_SUCCEEDED => self.hello(demand, now),
                SocketEvent::DISCONNECTED => {
                    if self.state != State::Down {
                        warn!(endpoint = %self.endpoint, "lost the upstream broker; keeping its frames until it is back");
                    }
                    self.state = State::Down;
                }
                SocketEvent::HANDSHAKE_FAILED_PROTOCOL
                | SocketEvent::HANDSHAKE_FAILED_NO_DETAIL => {
                    if let Some(suppressed) = self.log.check() {
                        error!(
                            endpoint = %self.endpoint,
                            suppressed,
                            "the upstream is not a broker's relay port: --upstream names the upstream broker's relay port (its --port + 2, 5552 by default)"
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn hello(&mut self, demand: &Demand, now: Instant) {
        let wanted: Vec<&[u8]> = if self.pull {
            demand.others_want(&self.peer.wants).collect()
        } else {
            Vec::new()
        };
        let hello = Message::Hello {
            name: &self.name,
            session: self.session,
            ack: self.peer.inbound(),
            wants: Wants::list(&wanted),
        };
        let _ = self.socket.send(encode(&hello), zmq::DONTWAIT);
        self.state = State::Greeting(now);
    }

    /// Says hello again if the last one was not welcomed in time.
    pub(crate) fn tick(&mut self, demand: &Demand, now: Instant) {
        if let State::Greeting(since) = self.state {
            if now.saturating_duration_since(since) >= WELCOME_WAIT {
                warn!(endpoint = %self.endpoint, "the upstream broker has not answered; saying hello again");
                self.hello(demand, now);
            }
        }
    }

    /// Reads what the upstream sent, into `events`.
    pub(crate) fn read(
        &mut self,
        now: Instant,
        events: &mut Vec<Event>,
    ) -> Result<(), BrokerError> {
        for _ in 0..crate::forwarder::BATCH {
            let mut head = zmq::Message::new();
            match self.socket.recv(&mut head, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "read from the upstream",
                        source,
                    });
                }
            }
            let rest = crate::sockets::rest(&self.socket, &head)?;
            self.take(&head, rest, now, events);
        }
        Ok(())
    }

    fn take(&mut self, head: &[u8], rest: Rest, now: Instant, events: &mut Vec<Event>) {
        let message = match Message::decode(head) {
            Ok(message) => message,
            Err(error) => {
                events.push(Event::Refused(format!("from the upstream: {error}")));
                return;
            }
        };
        let refuse = |why: &str| Event::Refused(format!("from the upstream: {why}"));
        match (message, rest) {
            (Message::Frame { session, sequence }, Rest::One(frame)) => {
                match self.peer.receive(session, sequence) {
                    Received::New { gap } => events.push(Event::Frame { frame, gap }),
                    Received::Duplicate => events.push(Event::Duplicate),
                }
            }
            (Message::Frame { .. }, _) => {
                events.push(refuse("a frame header not followed by exactly one frame"));
            }
            (_, Rest::One(_) | Rest::TooMany) => {
                events.push(refuse("a message of more than one part"));
            }
            (Message::Welcome { .. }, Rest::Nothing) if self.state == State::Down => {
                // From a connection that has since gone: the next hello is answered.
            }
            (Message::Welcome { ack, wants, .. }, Rest::Nothing) => {
                let acknowledged = ack.filter(|a| a.session == self.session).map(|a| a.next);
                events.push(Event::Acked(self.peer.outbox.rewind(acknowledged)));
                self.peer
                    .replace_wants(wants.iter(), self.max_wants, now, events);
                if !self.welcomed || self.state != State::Up {
                    info!(endpoint = %self.endpoint, wants = self.peer.wants.len(), "upstream broker linked");
                }
                self.welcomed = true;
                self.state = State::Up;
            }
            (Message::Ack(Ack { session, next }), Rest::Nothing) if session == self.session => {
                events.push(Event::Acked(self.peer.outbox.ack(next)));
            }
            (Message::Ack(_), Rest::Nothing) => {}
            // Not rate-limited, unlike a linked broker's: the upstream is the one peer
            // the operator named, and its wants change as its workers come and go.
            (Message::Want(topic), Rest::Nothing) => {
                self.peer.set_want(topic, true, self.max_wants, now, events);
                info!(endpoint = %self.endpoint, topic = %topic_text(topic), wants = self.peer.wants.len(), "upstream wants a level");
            }
            (Message::Unwant(topic), Rest::Nothing) => {
                self.peer
                    .set_want(topic, false, self.max_wants, now, events);
                info!(endpoint = %self.endpoint, topic = %topic_text(topic), wants = self.peer.wants.len(), "upstream no longer wants a level");
            }
            (Message::Hello { .. }, Rest::Nothing) => {
                events.push(refuse("a hello (only the connecting broker says hello)"));
            }
        }
    }

    /// Tells the upstream that this broker now wants `topic`, or no longer does (when it
    /// asks the upstream for its workers' levels).
    pub(crate) fn advertise(&mut self, topic: &[u8], wanted: bool) {
        if !self.pull || self.state == State::Down {
            // The next hello says everything.
            return;
        }
        let message = if wanted {
            Message::Want(topic)
        } else {
            Message::Unwant(topic)
        };
        let _ = self.socket.send(encode(&message), zmq::DONTWAIT);
    }

    /// Sends what waits, until the socket is full; returns how many frames went out.
    pub(crate) fn pump(&mut self) -> usize {
        if self.state != State::Up {
            return 0;
        }
        let mut count = 0;
        while let Some((sequence, entry)) = self.peer.outbox.next_to_send() {
            let head = encode(&Message::Frame {
                session: self.session,
                sequence,
            });
            if self
                .socket
                .send(head, zmq::SNDMORE | zmq::DONTWAIT)
                .is_err()
            {
                break;
            }
            // The first part was taken, so the rest of the message is too.
            let _ = self.socket.send(&entry.frame[..], zmq::DONTWAIT);
            self.peer.outbox.sent();
            count += 1;
        }
        count
    }

    /// Acknowledges the upstream's frames taken since the last time, and at least every
    /// [`KEEPALIVE`] while linked.
    pub(crate) fn acknowledge(&mut self, now: Instant) {
        if self.state != State::Up {
            return;
        }
        let ack = match self.peer.take_ack() {
            Some(ack) => ack,
            None if now.saturating_duration_since(self.last_ack) >= KEEPALIVE => {
                // Nothing taken: acknowledge where this end stands (or nothing of the
                // upstream's own session), which tells it this link is alive.
                self.peer.inbound().unwrap_or(Ack {
                    session: 0,
                    next: 0,
                })
            }
            None => return,
        };
        if self
            .socket
            .send(encode(&Message::Ack(ack)), zmq::DONTWAIT)
            .is_ok()
        {
            self.last_ack = now;
        }
    }

    /// Where the link goes, for logs.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
