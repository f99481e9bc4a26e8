//! Zibrato: count, time and gauge your code for nanoseconds per call, and get the
//! figures into Librato, statsd and what comes after, through a ZeroMQ pipeline that
//! never makes your program wait.
//!
//! This crate is the one to depend on in an application: it re-exports the client
//! ([`zibrato_client`]) and the attribute macros, so `use zibrato::Zibrato` works as
//! `from zibrato import Zibrato` did.
//!
//! ```
//! use std::time::Duration;
//!
//! #[zibrato::time_me(level = "info", name = "checkout")]
//! fn checkout(cart: &[u32]) -> Result<u32, String> {
//!     let total: u32 = cart.iter().sum();
//!     if total == 0 {
//!         return Err("empty cart".into()); // still timed: the call happened
//!     }
//!     Ok(total)
//! }
//!
//! # let (z, spy) = zibrato::Zibrato::spy();
//! // In main: let z = zibrato::Zibrato::new()?;  (the broker at 127.0.0.1:5550)
//! zibrato::install(z.clone())?;
//! assert_eq!(checkout(&[3, 4]), Ok(7));
//! z.flush(Duration::from_secs(1))?;
//! # assert_eq!(spy.take()[0].name, "checkout");
//! # Ok::<(), zibrato::Error>(())
//! ```
//!
//! See [`zibrato_client`] for the whole API, the semantics and the mapping from the
//! original Python calls.

pub use zibrato_client::*;
