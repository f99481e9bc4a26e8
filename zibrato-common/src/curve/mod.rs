//! CURVE keys (feature `zmq`): ZeroMQ's elliptic-curve encryption and authentication,
//! for links that cross machines.
//!
//! A key pair is kept in two files, in the certificate format of czmq and pyzmq
//! (`zmq.auth.load_certificate` reads them; `zmq.auth.create_certificates` writes files
//! Zibrato reads): `NAME.key`, the public certificate, which may be shown to anyone, and
//! `NAME.key_secret`, which holds the secret key and must be readable by its owner only.
//!
//! ```text
//! #   Zibrato CURVE public key of web-1 (given to the brokers that allow it)
//! metadata
//! curve
//!     public-key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
//! ```
//!
//! A secret certificate has a `secret-key = "…"` line besides. Keys are 32 bytes,
//! written as 40 characters of Z85 (ZeroMQ's Base85).

mod files;

pub use files::read_allowed;

use std::fmt;
use std::path::PathBuf;

/// Why a key could not be read or written. Never holds a secret key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A secret key file that other users may read or write.
    #[error(
        "{path} is readable or writable by other users (mode {mode:o}): a secret key must be readable by its owner only (chmod 600)"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The text holds no key of the kind wanted.
    #[error("{what}: no {kind} key found (a line `{kind}-key = \"…\"` of 40 Z85 characters)")]
    Missing {
        /// The file or text.
        what: String,
        /// `public` or `secret`.
        kind: &'static str,
    },
    /// Not 40 characters of Z85.
    #[error("{what}: a key must be 40 characters of Z85 (ZeroMQ's Base85)")]
    BadKey {
        /// The file or text (never the secret itself).
        what: String,
    },
    /// A secret key whose public key is not the one its file says.
    #[error("{path}: its public-key line does not belong to its secret key")]
    Mismatch {
        /// The file.
        path: PathBuf,
    },
    /// A file that would be overwritten.
    #[error("{path} exists already: remove it first, or choose another name")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// This build's libzmq has no CURVE.
    #[error("this build's libzmq has no CURVE (it was built without libsodium)")]
    Unsupported,
    /// A secret key given for nothing: no port to key, no link to key.
    #[error(
        "a secret key is given for nothing: --curve-allow keys this broker's ports, --upstream-key its upstream link"
    )]
    Unused,
}

/// The Z85 alphabet (ZeroMQ RFC 32).
const Z85: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Decodes 40 characters of Z85 into a 32-byte key.
fn decode(text: &str) -> Option<[u8; 32]> {
    if text.len() != 40 || !text.bytes().all(|b| Z85.contains(&b)) {
        return None;
    }
    let bytes = zmq::z85_decode(text).ok()?;
    bytes.try_into().ok()
}

fn encode(key: &[u8; 32]) -> String {
    // 32 bytes are a multiple of 4: Z85 cannot refuse them.
    zmq::z85_encode(key).unwrap_or_default()
}

/// A public key: a peer's identity, safe to show and to put on a command line.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A key pair: this process's identity on CURVE links. Its `Debug` shows the public
/// key only.
#[derive(Clone)]
pub struct KeyPair {
    public: PublicKey,
    secret: [u8; 32],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair {{ public: {}, secret: <hidden> }}", self.public)
    }
}

impl KeyPair {
    /// A new random pair.
    ///
    /// # Errors
    ///
    /// [`KeyError::Unsupported`] when this build's libzmq has no CURVE.
    pub fn generate() -> Result<KeyPair, KeyError> {
        let pair = zmq::CurveKeyPair::new().map_err(|_| KeyError::Unsupported)?;
        Ok(KeyPair {
            public: PublicKey(pair.public_key),
            secret: pair.secret_key,
        })
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Makes `socket` a CURVE server with this pair (before it binds).
    ///
    /// # Errors
    ///
    /// ZeroMQ's error (`EINVAL` when libzmq has no CURVE).
    pub fn serve(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey(&self.secret)
    }

    /// Makes `socket` a CURVE client of the server whose key is `server` (before it
    /// connects).
    ///
    /// # Errors
    ///
    /// ZeroMQ's error (`EINVAL` when libzmq has no CURVE).
    pub fn connect_to(&self, socket: &zmq::Socket, server: &PublicKey) -> zmq::Result<()> {
        socket.set_curve_serverkey(server.as_bytes())?;
        socket.set_curve_publickey(self.public.as_bytes())?;
        socket.set_curve_secretkey(&self.secret)
    }
}

/// Whether this build's libzmq has CURVE.
pub fn available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// The public key of a secret key (X25519), through libzmq.
///
/// Neither the `zmq` crate nor `zmq-sys` exports `zmq_curve_public` (libzmq, linked
/// through `zmq-sys`, has it since 4.2); this is the one call made through the C API
/// directly in this crate.
#[allow(unsafe_code)]
fn curve_public(secret: &[u8; 32]) -> Option<[u8; 32]> {
    use std::ffi::{CStr, CString, c_char, c_int};
    // SAFETY of the declaration: libzmq's `int zmq_curve_public (char *z85_public_key,
    // const char *z85_secret_key)`, from zmq.h.
    unsafe extern "C" {
        fn zmq_curve_public(z85_public_key: *mut c_char, z85_secret_key: *const c_char) -> c_int;
    }
    let secret = CString::new(encode(secret)).ok()?;
    let mut public = [0 as c_char; 41];
    // SAFETY: `public` is 41 bytes, the 40 characters of a Z85 key and a terminating
    // NUL, as zmq_curve_public writes; `secret` is a NUL-terminated 40-character Z85
    // string that lives across the call. The function only reads `secret`.
    let rc = unsafe { zmq_curve_public(public.as_mut_ptr(), secret.as_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success zmq_curve_public wrote a NUL-terminated string into `public`.
    let text = unsafe { CStr::from_ptr(public.as_ptr()) };
    decode(text.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_40_z85_characters() {
        assert!(decode("short").is_none());
        assert!(decode(&"~".repeat(40)).is_none(), "~ is not Z85");
        assert!(PublicKey::parse("/no/such/file").is_err());
    }
}
