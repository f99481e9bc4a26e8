//! Zibrato's recording core for devices: `no_std`, no allocator.
//!
//! A [`Recorder`] takes counters, gauges and timers, batches them per level into
//! Zibrato wire frames (with the device's publisher id and per-level sequence numbers,
//! so a worker counts lost frames), and hands each finished frame to a [`Transport`]
//! you implement: a UDP socket (smoltcp, embassy-net), a UART, anything that carries
//! bytes. Time comes from a [`Clock`] you implement. Everything lives in capacities you
//! choose at compile time; what does not fit, or does not send, is counted in
//! [`Dropped`], never a panic and never a wait.
//!
//! A frame goes out when the next measurement would not fit in it, and on
//! [`Recorder::flush`] (call it from your tick, every second or so).
//!
//! # Examples
//!
//! ```
//! use zibrato_core::{Clock, Recorder, Transport};
//! use zibrato_wire::Frame;
//!
//! /// A transport that keeps the last frame (a device would write a UDP datagram).
//! #[derive(Default)]
//! struct Last(Vec<u8>);
//!
//! impl Transport for Last {
//!     type Error = ();
//!     fn send(&mut self, frame: &[u8]) -> Result<(), ()> {
//!         self.0 = frame.to_vec();
//!         Ok(())
//!     }
//! }
//!
//! struct Uptime(u64);
//!
//! impl Clock for Uptime {
//!     fn now_us(&mut self) -> u64 {
//!         self.0 // microseconds since the Unix epoch, or 0 if the device does not know
//!     }
//! }
//!
//! // 2 levels at once, per frame 8 strings, 8 series, 32 values, in 512 bytes.
//! let mut z: Recorder<'_, _, _, 2, 8, 8, 32, 512> = Recorder::new(7, Last::default(), Uptime(0));
//! z.count("info", "boots", None, 1);
//! z.gauge("info", "temperature", Some("sensor-3"), 21.5);
//! z.time_ns("info", "adc.read", None, 12_000);
//! z.flush();
//!
//! let frame = Frame::decode(&z.transport().0)?;
//! assert_eq!(frame.level().as_str(), "info");
//! assert_eq!(frame.header().publisher, 7);
//! assert_eq!(frame.measurement_count(), 3);
//! assert_eq!(z.sent().frames, 1);
//! # Ok::<(), zibrato_wire::Error>(())
//! ```
#![no_std]

mod recorder;
mod seal;

pub use recorder::{Clock, Dropped, Recorder, Sent, Transport};
pub use seal::seal;
pub use zibrato_wire::{Error, Value};
