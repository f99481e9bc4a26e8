//! Publisher identities and wall-clock stamps.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// A random 64-bit publisher id, as the wire format asks for: distinct across
/// processes and restarts so sequence numbers of different publishers never mix.
///
/// The standard library seeds `RandomState` from the operating system's randomness;
/// hashing the process id and the time into it gives an id without another crate.
pub fn random_publisher_id() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(now_us());
    hasher.finish()
}

/// Microseconds since the Unix epoch, the unit of a frame's `time_us`.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ() {
        assert_ne!(super::random_publisher_id(), super::random_publisher_id());
    }
}
