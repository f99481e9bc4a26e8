//! A sink that keeps what would have been sent, for testing instrumentation.

use std::sync::{Arc, Mutex};

use zibrato_wire::{Frame, Kind, Value};

/// One measurement as the publisher would have sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The level.
    pub level: String,
    /// The series name.
    pub name: String,
    /// The source, if any.
    pub source: Option<String>,
    /// The value, with its kind.
    pub value: Value,
}

impl Recorded {
    /// The kind of measurement.
    pub fn kind(&self) -> Kind {
        self.value.kind()
    }
}

/// What a spy client has published, frame by frame, decoded back into measurements.
///
/// Made with [`Zibrato::spy`](crate::Zibrato::spy). The spy goes through the whole
/// publisher — per-thread buffers, batching per level, frame encoding — and stops only
/// short of the socket, so what it holds is exactly what a worker would receive.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zibrato_client::Zibrato;
///
/// let (z, spy) = Zibrato::spy();
/// z.count("info", "logins");
/// z.flush(Duration::from_secs(1))?;
/// let got = spy.take();
/// assert_eq!(got.len(), 1);
/// assert_eq!(got[0].name, "logins");
/// # Ok::<(), zibrato_client::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Spy {
    store: Arc<Mutex<Vec<Recorded>>>,
}

impl Spy {
    /// Removes and returns everything published so far.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.store.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A copy of everything published so far.
    pub fn measurements(&self) -> Vec<Recorded> {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn keep(&self, frame: &[u8]) {
        let Ok(frame) = Frame::decode(frame) else {
            return;
        };
        let level = frame.level().as_str();
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.extend(frame.measurements().map(|m| Recorded {
            level: level.to_string(),
            name: m.name.to_string(),
            source: m.source.map(str::to_string),
            value: m.value,
        }));
    }
}
