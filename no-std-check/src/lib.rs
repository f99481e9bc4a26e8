//! A firmware-shaped user of zibrato-wire and zibrato-core: build a frame in a fixed
//! buffer with no allocator, decode it, and record through the core's `Recorder` with a
//! transport, a clock and a stream encoding implemented here. Exported with C linkage
//! so the linker keeps it.
#![no_std]

#[cfg(feature = "with-std")]
extern crate std;

use core::panic::PanicInfo;
use zibrato_core::{Clock, Recorder, Transport};
use zibrato_wire::stream::{encode_for_stream, stream_len};
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

/// The device's frame budget.
const FRAME: usize = 512;

/// A serial line: each frame COBS-encoded into the caller's buffer, as a UART driver
/// would write it.
struct Uart<'b> {
    out: &'b mut [u8; stream_len(FRAME)],
    len: usize,
}

impl Transport for Uart<'_> {
    type Error = zibrato_wire::Error;

    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error> {
        self.len = encode_for_stream(frame, self.out)?.len();
        Ok(())
    }
}

/// A device that does not know the time of day.
struct NoClock;

impl Clock for NoClock {
    fn now_us(&mut self) -> u64 {
        0
    }
}

/// The recorder a small device would keep: 2 levels, per frame 8 strings, 8 series and
/// 32 values, in 512 bytes.
type DeviceRecorder<'b> = Recorder<'static, Uart<'b>, NoClock, 2, 8, 8, 32, FRAME>;

/// Records a boot, a reading and a duration, flushes, and returns the length of the
/// COBS record written into `out` (0 if nothing was sent).
#[unsafe(no_mangle)]
pub extern "C" fn zibrato_demo_record(reading: f64, out: &mut [u8; stream_len(FRAME)]) -> usize {
    let uart = Uart { out, len: 0 };
    let mut z: DeviceRecorder<'_> = Recorder::new(1, uart, NoClock);
    z.count("info", "boots", None, 1);
    z.gauge("info", "temp", Some("sensor-3"), reading);
    z.time_ns("info", "adc.read", None, 1_200);
    z.flush();
    z.transport().len
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
