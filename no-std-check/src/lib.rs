//! A firmware-shaped user of zibrato-wire: build a frame in a fixed buffer with no
//! allocator, then decode it. Exported with C linkage so the linker keeps it.
#![no_std]

#[cfg(feature = "with-std")]
extern crate std;

use core::panic::PanicInfo;
use zibrato_wire::{Frame, FrameBuilder, Header, Level, Measurement, Value};

type Builder<'a> = FrameBuilder<&'a str, 4, 4, 16>;

/// Builds a frame of `reading` into `out` and returns its length, or 0 on error.
#[unsafe(no_mangle)]
pub extern "C" fn zibrato_demo_encode(
    reading: f64,
    out: &mut [u8; Builder::MAX_ENCODED_LEN],
) -> usize {
    let mut builder = Builder::new();
    let pushed = Measurement::new("temp", Some("sensor-3"), Value::Gauge(reading))
        .and_then(|m| builder.push(m))
        .and_then(|()| builder.push(Measurement::new("boots", None, Value::Counter(1))?));
    let level = match (pushed, Level::new("info")) {
        (Ok(()), Ok(level)) => level,
        _ => return 0,
    };
    let header = Header {
        publisher: 1,
        sequence: 0,
        time_us: 0,
    };
    builder.encode(level, &header, out).map_or(0, |b| b.len())
}

/// Decodes `frame` and returns how many measurements it holds, or -1 if it is invalid.
#[unsafe(no_mangle)]
pub extern "C" fn zibrato_demo_decode(frame: &[u8; 64]) -> i32 {
    match Frame::decode(frame) {
        Ok(f) => f.measurements().count() as i32,
        Err(_) => -1,
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
