//! The broker's keys: its own pair, the peers allowed in, the upstream's key it pins,
//! and the rule that a port other hosts can reach is keyed or declared `--insecure`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use zibrato_common::curve::{self, KeyPair, PublicKey};

use crate::{BrokerError, BrokerOptions};

/// The public keys allowed in, shared with the ZAP handler.
pub(crate) type Allowed = Arc<RwLock<HashSet<PublicKey>>>;

/// What changed when the allowed keys were read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reloaded {
    /// Keys allowed before and not now.
    pub revoked: usize,
    /// Keys allowed now and not before.
    pub added: usize,
    /// Keys allowed now.
    pub allowed: usize,
}

/// The keys of a broker that has them.
pub(crate) struct Keys {
    /// This broker's pair: its ports serve with it, its upstream link presents it.
    pub pair: KeyPair,
    /// Who may connect to its ports, when they are keyed (`--curve-allow`).
    pub ports: Option<PortKeys>,
    /// The upstream broker's key, pinned, when the upstream link is keyed.
    pub upstream: Option<PublicKey>,
}

/// The keys allowed to connect to a keyed broker's ports.
pub(crate) struct PortKeys {
    path: PathBuf,
    /// For the ZAP handler (new connections).
    pub allowed: Allowed,
    /// The same, as the user id the ZAP handler gives each connection (the key in
    /// Z85), to check every message of the connections already in.
    ids: HashSet<String>,
}

impl Keys {
    /// Reads the keys `config` names, and refuses a configuration that would expose
    /// the broker or its upstream link without them (unless `--insecure`).
    ///
    /// # Errors
    ///
    /// [`BrokerError::Insecure`] or [`BrokerError::Keys`].
    pub(crate) fn load(config: &BrokerOptions) -> Result<Option<Keys>, BrokerError> {
        if config.curve_allow.is_none() && !config.insecure && !is_loopback(config.host) {
            return Err(BrokerError::Insecure {
                what: format!("bind {}, which other hosts can reach,", config.host),
            });
        }
        if let Some(crate::statsd::Listen::Udp(addr)) = &config.statsd {
            if !config.insecure && !addr.ip().is_loopback() {
                return Err(BrokerError::Insecure {
                    what: format!("listen for statsd on {addr}, which other hosts can reach,"),
                });
            }
        }
        if let Some(host) = config.upstream_host() {
            let pinned = config.upstream_key.is_some();
            if !pinned && !config.insecure && !zibrato_common::is_loopback_host(host) {
                return Err(BrokerError::Insecure {
                    what: format!(
                        "link to the upstream {} on another host",
                        config.upstream.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        let Some(secret) = &config.curve_secret_file else {
            return Ok(None);
        };
        if config.curve_allow.is_none() && config.upstream_key.is_none() {
            return Err(BrokerError::Keys(curve::KeyError::Unused));
        }
        if !curve::available() {
            return Err(BrokerError::Keys(curve::KeyError::Unsupported));
        }
        let pair = KeyPair::from_secret_file(secret).map_err(BrokerError::Keys)?;
        let upstream = config
            .upstream_key
            .as_deref()
            .map(PublicKey::parse)
            .transpose()
            .map_err(BrokerError::Keys)?;
        let ports = match &config.curve_allow {
            None => None,
            Some(path) => {
                let allowed = curve::read_allowed(path).map_err(BrokerError::Keys)?;
                Some(PortKeys {
                    path: path.clone(),
                    ids: allowed.iter().map(ToString::to_string).collect(),
                    allowed: Arc::new(RwLock::new(allowed)),
                })
            }
        };
        Ok(Some(Keys {
            pair,
            ports,
            upstream,
        }))
    }

    /// The pair the broker's ports serve with, when they are keyed.
    pub(crate) fn serving(&self) -> Option<&KeyPair> {
        self.ports.as_ref().map(|_| &self.pair)
    }

    /// Reads the allowed keys again (SIGHUP). On an error the keys allowed before
    /// stay; without keyed ports, there is nothing to read.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Keys`] naming the file and line.
    pub(crate) fn reload(&mut self) -> Result<Option<Reloaded>, BrokerError> {
        let Some(ports) = &mut self.ports else {
            return Ok(None);
        };
        let now = curve::read_allowed(&ports.path).map_err(BrokerError::Keys)?;
        let mut allowed = ports.allowed.write().unwrap_or_else(|e| e.into_inner());
        let reloaded = Reloaded {
            revoked: allowed.difference(&now).count(),
            added: now.difference(&allowed).count(),
            allowed: now.len(),
        };
        ports.ids = now.iter().map(ToString::to_string).collect();
        *allowed = now;
        Ok(Some(reloaded))
    }

    /// Whether a connection the ZAP handler let in with this user id is still allowed
    /// (any connection, when the ports are not keyed).
    pub(crate) fn allows(&self, user_id: Option<&str>) -> bool {
        match &self.ports {
            None => true,
            Some(ports) => user_id.is_some_and(|id| ports.ids.contains(id)),
        }
    }
}

fn is_loopback(host: IpAddr) -> bool {
    host.is_loopback()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn an_exposed_port_or_a_remote_upstream_needs_keys_or_insecure() {
        let load = |args: &[&str]| {
            let mut all = vec!["zibrato-broker"];
            all.extend_from_slice(args);
            Keys::load(&BrokerOptions::from(
                crate::BrokerArgs::try_parse_from(all).unwrap(),
            ))
            .map(|k| k.is_some())
        };
        assert!(matches!(load(&[]), Ok(false)), "loopback needs nothing");
        let unused = load(&["--curve-secret-file", "/nonexistent"]).unwrap_err();
        assert!(unused.to_string().contains("--curve-allow"), "{unused}");
        let error = load(&["--host", "0.0.0.0"]).unwrap_err().to_string();
        assert!(
            error.contains("--insecure") && error.contains("0.0.0.0"),
            "{error}"
        );
        assert!(matches!(
            load(&["--host", "0.0.0.0", "--insecure"]),
            Ok(false)
        ));
        let upstream = ["--upstream", "tcp://10.0.0.5:5552"];
        assert!(
            load(&upstream)
                .unwrap_err()
                .to_string()
                .contains("upstream")
        );
        assert!(matches!(
            load(&["--upstream", "tcp://127.0.0.1:5552"]),
            Ok(false)
        ));
        assert!(matches!(
            load(&["--upstream", "tcp://localhost:5552"]),
            Ok(false)
        ));
    }
}
