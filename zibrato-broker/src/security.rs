//! What a broker with keys does beyond the handshake: it checks, on every message that
//! comes in, that the key its connection was let in with is still allowed, and on
//! SIGHUP it rereads the allowed keys and shuts out those no longer allowed.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::forwarder::{Broker, Destination};
use crate::keys::Keys;
use crate::{BrokerError, DropReason};

/// The broker's three ports, in the order of their counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// Publishers (XSUB).
    Publishers = 0,
    /// Workers (XPUB).
    Workers = 1,
    /// Linked brokers (ROUTER).
    Relays = 2,
}

impl Port {
    /// The port's name in logs.
    pub(crate) fn name(self) -> &'static str {
        crate::zap::DOMAINS[self as usize]
    }
}

impl Broker {
    /// Whether a message a publisher sent is from a connection whose key is still
    /// allowed (always, without keys). `msg` is taken mutably only to read its
    /// metadata.
    pub(crate) fn still_allowed(&self, msg: &mut zmq::Message) -> bool {
        // Only a keyed port has user ids to check, and its frames pay for the lookup.
        match self.keys.as_ref().filter(|k| k.ports.is_some()) {
            None => true,
            Some(keys) => keys.allows(msg.gets("User-Id")),
        }
    }

    /// Counts and drops a frame from a connection whose key was revoked.
    pub(crate) fn drop_revoked(&mut self) {
        self.stats.frames_in += 1;
        self.drop_frame(DropReason::Revoked, None);
    }

    /// On SIGHUP: rereads the allowed keys. Connections whose key is no longer allowed
    /// get nothing more through: their messages are dropped (publishers, linked
    /// brokers), nothing more is sent to them (linked brokers), and the worker port is
    /// opened again, so every worker connects again and is checked again (ZeroMQ
    /// cannot close one worker's connection); frames wait for them meanwhile, held.
    pub(crate) fn reload_keys(&mut self) -> Result<(), BrokerError> {
        let Some(keys) = &mut self.keys else {
            info!("SIGHUP: this broker has no keys to reload");
            return Ok(());
        };
        let reloaded = match keys.reload() {
            Ok(Some(reloaded)) => reloaded,
            Ok(None) => {
                info!("SIGHUP: this broker's ports have no keys (--curve-allow) to reload");
                return Ok(());
            }
            Err(e) => {
                error!(error = %e, "SIGHUP: cannot read the allowed keys; the ones allowed before stay");
                return Ok(());
            }
        };
        info!(
            allowed = reloaded.allowed,
            added = reloaded.added,
            revoked = reloaded.revoked,
            "SIGHUP: reread the allowed keys"
        );
        if reloaded.revoked == 0 {
            return Ok(());
        }
        let keys = self.keys.as_ref();
        for name in self
            .relays
            .revoke(|key| keys.is_some_and(|k: &Keys| k.allows(key)))
        {
            warn!(relay = %name, "a linked broker's key was revoked: nothing more goes to it or comes from it");
        }
        self.reopen_worker_port()
    }

    /// Closes the worker port and binds it again; the workers' subscriptions go with
    /// it, so their levels are held (within the grace) until they subscribe again.
    fn reopen_worker_port(&mut self) -> Result<(), BrokerError> {
        let topics: Vec<Box<[u8]>> = self
            .workers
            .subscriptions
            .topics()
            .iter()
            .map(Box::from)
            .collect();
        let now = Instant::now();
        for topic in &topics {
            self.workers.subscriptions.forget(topic);
            self.workers.outbox.unwant(topic, now);
            self.interest_changed(Destination::Workers, topic, false);
        }
        self.stats.workers_connected = 0;
        // The old socket must be gone before its port can be bound again; ZeroMQ
        // closes the listener in the background, so the bind is retried a little.
        let placeholder = self
            .context
            .socket(zmq::XPUB)
            .map_err(BrokerError::zmq("create the XPUB socket"))?;
        drop(std::mem::replace(&mut self.workers.socket, placeholder));
        let keys = self.keys.as_ref().and_then(Keys::serving);
        let deadline = Instant::now() + Duration::from_secs(5);
        let socket = loop {
            match crate::sockets::workers(&self.context, &self.config, keys) {
                Ok(socket) => break socket,
                Err(BrokerError::PortInUse { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        };
        self.worker_monitor = crate::sockets::monitor(&self.context, &socket, "broker-backend")?;
        self.workers.socket = socket;
        info!("reopened the worker port: every worker connects again with its key checked");
        Ok(())
    }
}
