//! Where sealed frames go: a ZeroMQ socket to the broker (feature `zmq`), nowhere, or
//! a spy.

use std::time::{Duration, Instant};

use crate::Spy;
#[cfg(feature = "zmq")]
pub(crate) use crate::zmq_link::{LinkOptions, ZmqLink};

/// The destination of the publisher's frames.
pub(crate) enum Link {
    #[cfg(feature = "zmq")]
    Zmq(ZmqLink),
    Noop,
    Spy(Spy),
}

/// Why a frame was not taken.
// Only a ZeroMQ link ever refuses a frame.
#[cfg_attr(not(feature = "zmq"), allow(dead_code))]
pub(crate) enum SendError {
    /// The socket's queue is full: keep the frame and try later.
    Full,
}

impl Link {
    /// Reads connection events and subscription changes; true when the set of wanted
    /// levels may have changed.
    pub(crate) fn service(&mut self, now: Instant) -> bool {
        match self {
            #[cfg(feature = "zmq")]
            Link::Zmq(link) => link.service(now),
            Link::Noop | Link::Spy(_) => {
                let _ = now;
                false
            }
        }
    }

    /// Whether frames can be sent now; while not, they wait in the backlog.
    pub(crate) fn is_up(&self) -> bool {
        match self {
            #[cfg(feature = "zmq")]
            Link::Zmq(link) => link.is_up(),
            Link::Noop | Link::Spy(_) => true,
        }
    }

    /// Whether anyone subscribes to a frame starting with these bytes. Only
    /// meaningful while [`is_up`](Self::is_up).
    pub(crate) fn wants(&self, frame: &[u8]) -> bool {
        match self {
            #[cfg(feature = "zmq")]
            Link::Zmq(link) => link.wants(frame),
            Link::Noop | Link::Spy(_) => {
                let _ = frame;
                true
            }
        }
    }

    pub(crate) fn send(&mut self, frame: &[u8]) -> Result<(), SendError> {
        match self {
            #[cfg(feature = "zmq")]
            Link::Zmq(link) => link.send(frame),
            Link::Noop => Ok(()),
            Link::Spy(spy) => {
                spy.keep(frame);
                Ok(())
            }
        }
    }

    /// Gives ZeroMQ up to `linger` to transmit what it holds, then closes.
    pub(crate) fn close(self, linger: Duration) {
        match self {
            #[cfg(feature = "zmq")]
            Link::Zmq(link) => link.close(linger),
            Link::Noop | Link::Spy(_) => {
                let _ = linger;
            }
        }
    }
}
