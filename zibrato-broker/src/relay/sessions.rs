//! The links other brokers make to this one's relay port: a ROUTER socket, and one
//! session per linked broker, known by the name it says hello with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use zibrato_common::RateLimiter;
use zibrato_wire::relay::{Ack, Message, Wants};

use super::{Event, Peer, Received, encode, topic_text};
use crate::BrokerError;
use crate::grace::Grace;
use crate::keys::Keys;
use crate::outbox::{Dropped, Outbox};
use crate::sockets::Rest;
use crate::topics::Demand;

/// How linked brokers are kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Most linked brokers at once (`--max-relays`).
    pub max: usize,
    /// Most topics one may want (`--max-subscriptions`).
    pub max_wants: usize,
    /// A linked broker not heard from for this long is forgotten (`--relay-expiry`).
    pub expiry: Duration,
    /// The grace of the levels a linked broker stops wanting (`--grace`).
    pub grace: Duration,
}

/// One linked broker.
pub(crate) struct Session {
    /// The name it says hello with.
    pub name: String,
    /// Its current run's session.
    session: u64,
    /// Its connection now, if it has one.
    route: Option<Vec<u8>>,
    /// The key its connection was let in with (CURVE), as the ZAP handler named it.
    key: Option<String>,
    /// What this broker keeps for it, what it wants, what it sent.
    pub peer: Peer,
    last_heard: Instant,
}

/// A linked broker forgotten after `--relay-expiry`.
pub(crate) struct Forgotten {
    pub id: u64,
    pub name: String,
    /// What was kept for it.
    pub dropped: Dropped,
    /// What it wanted.
    pub wants: Vec<Box<[u8]>>,
}

/// Every linked broker, by a small id (the origin of the frames it sends).
pub(crate) struct Sessions {
    socket: zmq::Socket,
    /// This broker's run, as the session of the frames it sends down the links.
    session: u64,
    sessions: HashMap<u64, Session>,
    by_name: HashMap<String, u64>,
    by_route: HashMap<Vec<u8>, u64>,
    next_id: u64,
    settings: Settings,
    /// Limits the log lines of linked brokers' wants, which a peer could repeat.
    want_log: RateLimiter,
}

impl Sessions {
    pub(crate) fn new(socket: zmq::Socket, settings: Settings) -> Sessions {
        Sessions {
            socket,
            session: zibrato_common::random_publisher_id(),
            sessions: HashMap::new(),
            by_name: HashMap::new(),
            by_route: HashMap::new(),
            next_id: 0,
            settings,
            want_log: RateLimiter::new(Duration::from_secs(1)),
        }
    }

    /// The relay socket, to poll.
    pub(crate) fn socket(&self) -> &zmq::Socket {
        &self.socket
    }

    /// The linked brokers.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Session)> {
        self.sessions.iter_mut().map(|(id, s)| (*id, s))
    }

    /// The linked brokers.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Session)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// How many brokers are linked (connected or not, until forgotten).
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// How many are connected now.
    pub(crate) fn connected(&self) -> usize {
        self.sessions.values().filter(|s| s.route.is_some()).count()
    }

    /// Reads what linked brokers sent, into `events` (with the sender's id).
    pub(crate) fn read(
        &mut self,
        demand: &Demand,
        keys: Option<&Keys>,
        now: Instant,
        events: &mut Vec<(u64, Event)>,
    ) -> Result<(), BrokerError> {
        for _ in 0..crate::forwarder::BATCH {
            let mut route = zmq::Message::new();
            match self.socket.recv(&mut route, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(BrokerError::Zmq {
                        action: "read from a relay link",
                        source,
                    });
                }
            }
            // A ROUTER puts the connection's id first; a message always follows it.
            let mut head = zmq::Message::new();
            if route.get_more() {
                self.socket
                    .recv(&mut head, 0)
                    .map_err(BrokerError::zmq("read from a relay link"))?;
            }
            let rest = crate::sockets::rest(&self.socket, &head)?;
            let key = head.gets("User-Id").map(str::to_string);
            if let Some(keys) = keys {
                if !keys.allows(key.as_deref()) {
                    // Let in before its key was revoked: shut out from now on.
                    let id = self.by_route.remove(&route[..]);
                    if let Some(s) = id.and_then(|id| self.sessions.get_mut(&id)) {
                        s.route = None;
                    }
                    let why = "a message from a connection whose key was revoked".to_string();
                    events.push((id.unwrap_or(u64::MAX), Event::Refused(why)));
                    continue;
                }
            }
            self.take(&route, &head, rest, key, demand, now, events);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        route: &[u8],
        head: &[u8],
        rest: Rest,
        key: Option<String>,
        demand: &Demand,
        now: Instant,
        events: &mut Vec<(u64, Event)>,
    ) {
        let known = self.by_route.get(route).copied();
        let refuse = |id: Option<u64>, why: String| (id.unwrap_or(u64::MAX), Event::Refused(why));
        let message = match Message::decode(head) {
            Ok(message) => message,
            Err(error) => {
                events.push(refuse(
                    known,
                    format!("a relay message that does not decode: {error}"),
                ));
                return;
            }
        };
        if let Message::Hello {
            name,
            session,
            ack,
            wants,
        } = message
        {
            if !matches!(rest, Rest::Nothing) {
                events.push(refuse(known, "a hello of more than one part".into()));
                return;
            }
            self.hello(route, name, session, ack, wants, demand, now, events);
            if let Some(s) = self
                .by_name
                .get(name)
                .and_then(|id| self.sessions.get_mut(id))
            {
                s.key = key;
            }
            return;
        }
        let Some(id) = known else {
            events.push(refuse(
                None,
                "a message on a relay link that has not said hello".into(),
            ));
            return;
        };
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.last_heard = now;
        let max_wants = self.settings.max_wants;
        let mut out = Vec::new();
        match (message, rest) {
            (Message::Frame { session, sequence }, Rest::One(frame)) if session == s.session => {
                match s.peer.receive(session, sequence) {
                    Received::New { gap } => out.push(Event::Frame { frame, gap }),
                    Received::Duplicate => out.push(Event::Duplicate),
                }
            }
            (Message::Frame { .. }, Rest::One(_)) => out.push(Event::Refused(format!(
                "{}: a frame of another session than the one it said hello with",
                s.name
            ))),
            (Message::Frame { .. }, _) => out.push(Event::Refused(format!(
                "{}: a frame header not followed by exactly one frame",
                s.name
            ))),
            (_, Rest::One(_) | Rest::TooMany) => out.push(Event::Refused(format!(
                "{}: a message of more than one part",
                s.name
            ))),
            (Message::Ack(Ack { session, next }), Rest::Nothing) => {
                if session == self.session {
                    out.push(Event::Acked(s.peer.outbox.ack(next)));
                }
            }
            (message @ (Message::Want(topic) | Message::Unwant(topic)), Rest::Nothing) => {
                let wanted = matches!(message, Message::Want(_));
                s.peer.set_want(topic, wanted, max_wants, now, &mut out);
                if let Some(suppressed) = self.want_log.check() {
                    info!(relay = %s.name, topic = %topic_text(topic), wanted, wants = s.peer.wants.len(), suppressed, "a linked broker's wants changed");
                }
            }
            (Message::Welcome { .. } | Message::Hello { .. }, Rest::Nothing) => {
                out.push(Event::Refused(format!(
                    "{}: a welcome (only the linked-to broker says welcome)",
                    s.name
                )))
            }
        }
        events.extend(out.into_iter().map(|e| (id, e)));
    }

    #[allow(clippy::too_many_arguments)]
    fn hello(
        &mut self,
        route: &[u8],
        name: &str,
        session: u64,
        ack: Option<Ack>,
        wants: Wants<'_>,
        demand: &Demand,
        now: Instant,
        events: &mut Vec<(u64, Event)>,
    ) {
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => {
                if self.sessions.len() >= self.settings.max {
                    events.push((
                        u64::MAX,
                        Event::Refused(format!(
                            "a link from {name}: --max-relays ({}) brokers are linked already",
                            self.settings.max
                        )),
                    ));
                    return;
                }
                let id = self.next_id;
                self.next_id += 1;
                // A new link says what it wants in its hello: no start-up hold.
                let started = now.checked_sub(self.settings.grace).unwrap_or(now);
                let grace = Grace::new(self.settings.grace, self.settings.max_wants, started);
                self.sessions.insert(
                    id,
                    Session {
                        name: name.to_string(),
                        session,
                        route: None,
                        key: None,
                        peer: Peer::new(Outbox::new(grace)),
                        last_heard: now,
                    },
                );
                self.by_name.insert(name.to_string(), id);
                id
            }
        };
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(old) = s.route.replace(route.to_vec()) {
            self.by_route.remove(&old);
        }
        self.by_route.insert(route.to_vec(), id);
        if s.session != session {
            info!(relay = %s.name, "a linked broker restarted");
            s.session = session;
        }
        s.last_heard = now;
        let mut out = Vec::new();
        let acknowledged = ack.filter(|a| a.session == self.session).map(|a| a.next);
        out.push(Event::Acked(s.peer.outbox.rewind(acknowledged)));
        s.peer
            .replace_wants(wants.iter(), self.settings.max_wants, now, &mut out);
        let wanted: Vec<&[u8]> = demand.others_want(&s.peer.wants).collect();
        let welcome = Message::Welcome {
            session: self.session,
            ack: s.peer.inbound().filter(|a| a.session == session),
            wants: Wants::list(&wanted),
        };
        let sent = self
            .socket
            .send(route, zmq::SNDMORE | zmq::DONTWAIT)
            .and_then(|()| self.socket.send(encode(&welcome), zmq::DONTWAIT));
        match sent {
            Ok(()) => info!(relay = %s.name, wants = s.peer.wants.len(), "a broker linked"),
            Err(error) => warn!(relay = %s.name, %error, "cannot welcome a linked broker"),
        }
        events.extend(out.into_iter().map(|e| (id, e)));
    }

    /// Tells each connected linked broker other than `except` that this broker now
    /// wants `topic`, or no longer does, when that changes what it is told: it is told
    /// every topic another destination wants.
    pub(crate) fn advertise(
        &mut self,
        topic: &[u8],
        wanted: bool,
        demand_after: u32,
        except: Option<u64>,
    ) {
        let message = encode(&if wanted {
            Message::Want(topic)
        } else {
            Message::Unwant(topic)
        });
        for (id, s) in &mut self.sessions {
            if Some(*id) == except {
                continue;
            }
            // Others wanting it, not counting this session itself.
            let others = demand_after - u32::from(s.peer.wants.contains(topic));
            let crossed = if wanted { others == 1 } else { others == 0 };
            let Some(route) = &s.route else { continue };
            if crossed {
                let _ = self
                    .socket
                    .send(&route[..], zmq::SNDMORE | zmq::DONTWAIT)
                    .and_then(|()| self.socket.send(&message[..], zmq::DONTWAIT));
            }
        }
    }

    /// Sends what waits for each connected linked broker, until its link is full;
    /// returns how many frames went out.
    pub(crate) fn pump(&mut self) -> usize {
        let mut count = 0;
        for s in self.sessions.values_mut() {
            let Some(route) = s.route.clone() else {
                continue;
            };
            while let Some((sequence, entry)) = s.peer.outbox.next_to_send() {
                let head = encode(&Message::Frame {
                    session: self.session,
                    sequence,
                });
                match self.socket.send(&route[..], zmq::SNDMORE | zmq::DONTWAIT) {
                    Ok(()) => {}
                    Err(zmq::Error::EHOSTUNREACH) => {
                        // Gone: it says hello again when it is back.
                        self.by_route.remove(&route);
                        s.route = None;
                        break;
                    }
                    Err(_) => break,
                }
                let _ = self.socket.send(head, zmq::SNDMORE);
                let _ = self.socket.send(&entry.frame[..], 0);
                s.peer.outbox.sent();
                count += 1;
            }
        }
        count
    }

    /// Acknowledges what each linked broker sent since the last time.
    pub(crate) fn acknowledge(&mut self) {
        for s in self.sessions.values_mut() {
            let Some(route) = &s.route else { continue };
            if let Some(ack) = s.peer.take_ack() {
                let _ = self
                    .socket
                    .send(&route[..], zmq::SNDMORE | zmq::DONTWAIT)
                    .and_then(|()| self.socket.send(encode(&Message::Ack(ack)), zmq::DONTWAIT));
            }
        }
    }

    /// Shuts out the linked brokers whose key `allowed` no longer allows: nothing more
    /// is sent to them (their messages are refused as they come). Returns their names.
    pub(crate) fn revoke(&mut self, allowed: impl Fn(Option<&str>) -> bool) -> Vec<String> {
        let mut revoked = Vec::new();
        for s in self.sessions.values_mut() {
            if s.route.is_some() && !allowed(s.key.as_deref()) {
                if let Some(route) = s.route.take() {
                    self.by_route.remove(&route);
                }
                revoked.push(s.name.clone());
            }
        }
        revoked
    }

    /// Forgets the linked brokers not heard from for `--relay-expiry`: what was kept
    /// for them is dropped (returned, with what they wanted, to be counted and
    /// withdrawn).
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Forgotten> {
        let expiry = self.settings.expiry;
        let gone: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_heard) >= expiry)
            .map(|(id, _)| *id)
            .collect();
        let mut forgotten = Vec::new();
        for id in gone {
            if let Some(mut s) = self.sessions.remove(&id) {
                self.by_name.remove(&s.name);
                if let Some(route) = &s.route {
                    self.by_route.remove(route);
                }
                let wants = s.peer.wants.iter().map(Box::from).collect();
                forgotten.push(Forgotten {
                    id,
                    name: s.name,
                    dropped: s.peer.outbox.clear(),
                    wants,
                });
            }
        }
        forgotten
    }
}
