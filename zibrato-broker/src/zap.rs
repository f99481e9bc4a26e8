//! The ZAP handler (ZeroMQ RFC 27): libzmq asks it, for every CURVE connection to the
//! broker's ports, whether the peer's public key is allowed. It runs on a thread of its
//! own, answers from the allowed keys, and counts and logs each refusal with the
//! peer's address.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{error, warn};
use zibrato_common::RateLimiter;
use zibrato_common::curve::PublicKey;

use crate::BrokerError;
use crate::keys::Allowed;

/// Where libzmq sends its authentication requests.
const ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The ZAP domain of each of the broker's ports, in the order of [`Refusals`].
pub(crate) const DOMAINS: [&str; 3] = ["publishers", "workers", "relays"];

/// Refusals per port, in the order of [`DOMAINS`].
pub(crate) type Refusals = [AtomicU64; 3];

/// The running handler.
pub(crate) struct Zap {
    stop: Arc<AtomicBool>,
    /// Raised when the thread failed: the broker stops with an error.
    pub failed: Arc<AtomicBool>,
    /// Peers refused, per port.
    pub refused: Arc<Refusals>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the handler; it must run before a CURVE socket accepts a connection.
pub(crate) fn start(context: &zmq::Context, allowed: Allowed) -> Result<Zap, BrokerError> {
    let socket = context
        .socket(zmq::REP)
        .map_err(BrokerError::zmq("create the ZAP socket"))?;
    socket
        .bind(ENDPOINT)
        .map_err(BrokerError::zmq("bind the ZAP socket"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(Refusals::default());
    let thread = {
        let (stop, failed, refused) = (stop.clone(), failed.clone(), refused.clone());
        std::thread::Builder::new()
            .name("zibrato-zap".into())
            .spawn(move || {
                if let Err(e) = serve(&socket, &allowed, &stop, &refused) {
                    error!(error = %e, "the ZAP handler failed; no CURVE peer can be let in");
                    failed.store(true, Ordering::Relaxed);
                }
            })
            .map_err(|e| BrokerError::Ingress {
                what: "start the ZAP handler thread".into(),
                reason: e.to_string(),
            })?
    };
    Ok(Zap {
        stop,
        failed,
        refused,
        thread: Some(thread),
    })
}

impl Drop for Zap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: &zmq::Socket,
    allowed: &Allowed,
    stop: &AtomicBool,
    refused: &Refusals,
) -> Result<(), zmq::Error> {
    let mut log = RateLimiter::new(Duration::from_secs(10));
    while !stop.load(Ordering::Relaxed) {
        match socket.poll(zmq::POLLIN, 100) {
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        let request = socket.recv_multipart(0)?;
        let reply = answer(&request, allowed, refused, &mut log);
        socket.send_multipart(reply, 0)?;
    }
    Ok(())
}

/// The reply to one request: 200 with the key as user id, or 400.
fn answer(
    request: &[Vec<u8>],
    allowed: &Allowed,
    refused: &Refusals,
    log: &mut RateLimiter,
) -> Vec<Vec<u8>> {
    let text =
        |i: usize| String::from_utf8_lossy(request.get(i).map_or(&[][..], |f| &f[..])).into_owned();
    let reply = |code: &str, why: &str, user: &str| {
        vec![
            b"1.0".to_vec(),
            request.get(1).cloned().unwrap_or_default(),
            code.as_bytes().to_vec(),
            why.as_bytes().to_vec(),
            user.as_bytes().to_vec(),
            Vec::new(),
        ]
    };
    // version, request id, domain, address, identity, mechanism, credentials
    if request.len() < 6 || request[0] != b"1.0" {
        return reply("500", "not a ZAP 1.0 request", "");
    }
    let (domain, address) = (text(2), text(3));
    let key: Option<PublicKey> = (request[5] == b"CURVE")
        .then(|| {
            request
                .get(6)
                .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok())
        })
        .flatten()
        .map(PublicKey::from_bytes);
    let is_allowed = key.is_some_and(|key| {
        allowed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
    });
    if let (true, Some(key)) = (is_allowed, key) {
        return reply("200", "OK", &key.to_string());
    }
    let port = DOMAINS.iter().position(|d| *d == domain).unwrap_or(2);
    let total = refused[port].fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(suppressed) = log.check() {
        let key = key.map_or_else(|| "none".to_string(), |k| k.to_string());
        warn!(
            port = DOMAINS[port],
            peer = %address,
            %key,
            suppressed,
            total,
            "refused a peer: its key is not allowed (--curve-allow)"
        );
    }
    reply("400", "key not allowed", "")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::RwLock;

    use super::*;

    fn request(domain: &str, key: &[u8]) -> Vec<Vec<u8>> {
        [
            b"1.0".as_slice(),
            b"7",
            domain.as_bytes(),
            b"10.0.0.9",
            b"",
            b"CURVE",
            key,
        ]
        .iter()
        .map(|f| f.to_vec())
        .collect()
    }

    #[test]
    fn allowed_keys_get_in_with_their_key_as_user_id_and_others_are_counted() {
        let good = PublicKey::from_bytes([1; 32]);
        let allowed: Allowed = Arc::new(RwLock::new(HashSet::from([good])));
        let refused = Refusals::default();
        let mut log = RateLimiter::new(Duration::from_secs(10));
        let ok = answer(&request("relays", &[1; 32]), &allowed, &refused, &mut log);
        assert_eq!(
            (ok[1].as_slice(), ok[2].as_slice()),
            (&b"7"[..], &b"200"[..])
        );
        assert_eq!(ok[4], good.to_string().into_bytes());
        let no = answer(
            &request("publishers", &[2; 32]),
            &allowed,
            &refused,
            &mut log,
        );
        assert_eq!(no[2], b"400");
        let short = answer(&request("workers", &[1; 5]), &allowed, &refused, &mut log);
        assert_eq!(short[2], b"400");
        let counts: Vec<u64> = refused.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [1, 1, 0]);
        assert_eq!(
            answer(&[b"2.0".to_vec()], &allowed, &refused, &mut log)[2],
            b"500"
        );
    }
}
