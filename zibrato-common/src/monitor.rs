//! A ZeroMQ socket's connection events (feature `zmq`), for the client's link and the
//! broker's connection counts.

use zmq::SocketEvent;

/// The events of one socket, read from a ZeroMQ monitor over `inproc`.
pub struct SocketMonitor {
    pair: zmq::Socket,
}

impl SocketMonitor {
    /// Starts monitoring `socket` for `events`; `name` makes the `inproc` endpoint
    /// readable in traces (the socket's address makes it unique).
    ///
    /// # Errors
    ///
    /// What failed (`"monitor a socket"`, `"create a monitor socket"`, `"connect a
    /// monitor socket"`) and ZeroMQ's error.
    pub fn attach(
        context: &zmq::Context,
        socket: &zmq::Socket,
        name: &str,
        events: &[SocketEvent],
    ) -> Result<SocketMonitor, (&'static str, zmq::Error)> {
        let endpoint = format!("inproc://zibrato-{name}-{:p}", socket);
        let mask = events.iter().fold(0, |mask, &e| mask | e as i32);
        socket
            .monitor(&endpoint, mask)
            .map_err(|e| ("monitor a socket", e))?;
        let pair = context
            .socket(zmq::PAIR)
            .map_err(|e| ("create a monitor socket", e))?;
        pair.connect(&endpoint)
            .map_err(|e| ("connect a monitor socket", e))?;
        Ok(SocketMonitor { pair })
    }

    /// The monitor's own socket, to poll for readability.
    pub fn socket(&self) -> &zmq::Socket {
        &self.pair
    }

    /// The next event that has arrived, `Ok(None)` when there is none now.
    ///
    /// # Errors
    ///
    /// A ZeroMQ failure other than "nothing to read" or an interrupted call.
    pub fn next_event(&self) -> Result<Option<SocketEvent>, zmq::Error> {
        loop {
            let parts = match self.pair.recv_multipart(zmq::DONTWAIT) {
                Ok(parts) => parts,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(None),
                Err(e) => return Err(e),
            };
            // The first part starts with the event id, two bytes little-endian.
            if let Some(&[low, high]) = parts.first().and_then(|p| p.get(..2)) {
                return Ok(Some(SocketEvent::from_raw(u16::from_le_bytes([low, high]))));
            }
        }
    }
}
