//! The recorder: measurements in, frames out.

use heapless::Vec;
use zibrato_wire::{FrameBuilder, Header, Level, Measurement, Value};

use crate::seal;

/// Carries finished frames off the device: one call per frame, the whole frame (a
/// datagram, or a COBS record on a serial line: see `zibrato_wire::stream`).
pub trait Transport {
    /// Why a send failed; the recorder only counts it.
    type Error;

    /// Sends one frame. It should not block for long: the recorder calls it from
    /// whatever records or flushes.
    ///
    /// # Errors
    ///
    /// Any; the frame is then counted in [`Dropped::send_failed`] and dropped.
    fn send(&mut self, frame: &[u8]) -> Result<(), Self::Error>;
}

/// The device's idea of the time.
pub trait Clock {
    /// Microseconds since the Unix epoch, or 0 if the device does not know (the
    /// frame's time is then 0; workers time windows by their own clock).
    fn now_us(&mut self) -> u64;
}

/// What could not be recorded or sent, by reason: measurements (or frames) dropped
/// and counted, never a panic.
///
/// The accounting is the std client's (`zibrato_client::ClientStats`): every measurement
/// recorded ends in exactly one of [`Sent::measurements`], `rejected`, `no_room` or
/// `send_failed_measurements`, or is in a frame not yet flushed; `rejected` means what
/// the std client's `rejected` means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Dropped {
    /// Record calls refused: an invalid level, name or source (empty, too long, a
    /// control character), or a gauge that is NaN or infinite.
    pub rejected: u64,
    /// Measurements that did not fit even in an empty frame (a name longer than the
    /// frame buffer allows), or found every level slot taken and could not free one.
    pub no_room: u64,
    /// Frames the transport refused.
    pub send_failed: u64,
    /// Measurements in those frames.
    pub send_failed_measurements: u64,
}

/// What went out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Sent {
    /// Frames the transport took.
    pub frames: u64,
    /// Measurements in them.
    pub measurements: u64,
}

/// The batch of one level: the frame being filled and the level's sequence number.
struct Batch<'a, const STRINGS: usize, const SERIES: usize, const VALUES: usize> {
    level: Level<'a>,
    sequence: u64,
    builder: FrameBuilder<&'a str, STRINGS, SERIES, VALUES>,
}

/// Records measurements into fixed-capacity frames, one being filled per level, and
/// sends each through `T` when it is full or on [`flush`](Self::flush).
///
/// Capacities, all chosen at compile time:
/// * `LEVELS`: levels batched at once, each with its sequence numbers (recording on one
///   more level sends the open frames and takes the first slot; the level that had it
///   starts its numbering again when it returns, which a worker takes as a restart);
/// * `STRINGS`, `SERIES`, `VALUES`: distinct names and sources, series, and values per
///   frame;
/// * `FRAME`: the frame buffer in bytes: no frame is larger (keep it within the
///   transport's datagram or the broker's `--max-frame-bytes`).
///
/// Names, sources and levels are borrowed for `'a` (string literals, usually): nothing
/// is copied until a frame is encoded.
pub struct Recorder<
    'a,
    T: Transport,
    C: Clock,
    const LEVELS: usize,
    const STRINGS: usize,
    const SERIES: usize,
    const VALUES: usize,
    const FRAME: usize,
> {
    transport: T,
    clock: C,
    publisher: u64,
    batches: Vec<Batch<'a, STRINGS, SERIES, VALUES>, LEVELS>,
    buffer: [u8; FRAME],
    dropped: Dropped,
    sent: Sent,
}

/// The most a measurement can add to a frame: its name and source (each with a length
/// varint), a series header, and a value.
fn worst_case_len(name: &str, source: Option<&str>) -> usize {
    name.len() + source.map_or(0, str::len) + 32
}

impl<
    'a,
    T: Transport,
    C: Clock,
    const LEVELS: usize,
    const STRINGS: usize,
    const SERIES: usize,
    const VALUES: usize,
    const FRAME: usize,
> Recorder<'a, T, C, LEVELS, STRINGS, SERIES, VALUES, FRAME>
{
    /// A recorder for the publisher `publisher` (unique per device, and ideally new at
    /// each boot: a hardware id mixed with a boot counter), sending through `transport`.
    pub fn new(publisher: u64, transport: T, clock: C) -> Self {
        Recorder {
            transport,
            clock,
            publisher,
            batches: Vec::new(),
            buffer: [0; FRAME],
            dropped: Dropped::default(),
            sent: Sent::default(),
        }
    }

    /// Adds `by` to the counter `name` on `level`.
    pub fn count(&mut self, level: &'a str, name: &'a str, source: Option<&'a str>, by: i64) {
        self.record(level, name, source, Value::Counter(by));
    }

    /// Records the reading `value` of the gauge `name` on `level`.
    pub fn gauge(&mut self, level: &'a str, name: &'a str, source: Option<&'a str>, value: f64) {
        self.record(level, name, source, Value::Gauge(value));
    }

    /// Records a duration of `nanos` nanoseconds for the timer `name` on `level`.
    pub fn time_ns(&mut self, level: &'a str, name: &'a str, source: Option<&'a str>, nanos: u64) {
        self.record(level, name, source, Value::Timer(nanos));
    }

    /// Records one measurement: into the open frame of its level, sending that frame
    /// first if the measurement would not fit in it.
    pub fn record(&mut self, level: &'a str, name: &'a str, source: Option<&'a str>, value: Value) {
        let (Ok(level), Ok(measurement)) =
            (Level::new(level), Measurement::new(name, source, value))
        else {
            self.dropped.rejected += 1;
            return;
        };
        let Some(at) = self.batch_of(level) else {
            self.dropped.no_room += 1;
            return;
        };
        let needed = worst_case_len(name, source);
        if self.encoded_len(at) + needed > FRAME || self.batches[at].builder.is_full() {
            self.send(at);
        }
        if self.encoded_len(at) + needed > FRAME {
            self.dropped.no_room += 1;
            return;
        }
        if self.batches[at].builder.push(measurement).is_err() {
            // The string or series table is full: send, and try once more in an
            // empty frame.
            self.send(at);
            if self.batches[at].builder.push(measurement).is_err() {
                self.dropped.no_room += 1;
            }
        }
    }

    /// Sends every open frame. Call it on the device's tick.
    pub fn flush(&mut self) {
        for at in 0..self.batches.len() {
            self.send(at);
        }
    }

    /// What could not be recorded or sent, so far.
    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// What went out, so far.
    pub fn sent(&self) -> Sent {
        self.sent
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, to reconfigure it.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The slot of `level`, taking a free one (or sending the open frames to free all).
    fn batch_of(&mut self, level: Level<'a>) -> Option<usize> {
        if let Some(at) = self.batches.iter().position(|b| b.level == level) {
            return Some(at);
        }
        if self.batches.is_full() {
            // Every slot holds another level: send the open frames and give the first
            // slot to this level. The evicted level's numbering restarts when it comes
            // back, which a worker reads as a restart (no loss counted).
            self.flush();
            self.batches.swap_remove(0);
        }
        let batch = Batch {
            level,
            sequence: 0,
            builder: FrameBuilder::new(),
        };
        self.batches.push(batch).ok()?;
        Some(self.batches.len() - 1)
    }

    fn header(&self, at: usize) -> Header {
        Header {
            publisher: self.publisher,
            sequence: self.batches[at].sequence,
            time_us: u64::MAX,
        }
    }

    /// The frame's length if encoded now, with the longest possible time.
    fn encoded_len(&self, at: usize) -> usize {
        let batch = &self.batches[at];
        batch.builder.encoded_len(batch.level, &self.header(at))
    }

    /// Seals and sends the open frame of slot `at`, if it holds anything.
    fn send(&mut self, at: usize) {
        let now = self.clock.now_us();
        let batch = &mut self.batches[at];
        if batch.builder.is_empty() {
            return;
        }
        let measurements = batch.builder.len() as u64;
        let sealed = seal(
            &mut batch.builder,
            batch.level,
            self.publisher,
            &mut batch.sequence,
            now,
            &mut self.buffer,
        );
        let result = match sealed {
            Ok(frame) => self.transport.send(frame).map_err(|_| ()),
            Err(_) => Err(()),
        };
        match result {
            Ok(()) => {
                self.sent.frames += 1;
                self.sent.measurements += measurements;
            }
            Err(()) => {
                self.dropped.send_failed += 1;
                self.dropped.send_failed_measurements += measurements;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec as StdVec;
    use zibrato_wire::Frame;

    /// Keeps every frame; refuses while `refuse` is set.
    #[derive(Default)]
    struct Keep {
        frames: StdVec<StdVec<u8>>,
        refuse: bool,
    }

    impl Transport for Keep {
        type Error = ();
        fn send(&mut self, frame: &[u8]) -> Result<(), ()> {
            if self.refuse {
                return Err(());
            }
            self.frames.push(frame.to_vec());
            Ok(())
        }
    }

    struct Fixed;

    impl Clock for Fixed {
        fn now_us(&mut self) -> u64 {
            1_764_158_400_000_000
        }
    }

    type Small<'a> = Recorder<'a, Keep, Fixed, 2, 4, 4, 8, 128>;

    fn decoded(z: &Small<'_>) -> StdVec<(std::string::String, u64, usize)> {
        z.transport()
            .frames
            .iter()
            .map(|bytes| {
                let frame = Frame::decode(bytes).expect("a valid frame");
                (
                    frame.level().as_str().into(),
                    frame.header().sequence,
                    frame.measurement_count(),
                )
            })
            .collect()
    }

    #[test]
    fn a_full_frame_is_sent_and_numbered_per_level() {
        let mut z = Small::new(9, Keep::default(), Fixed);
        for _ in 0..10 {
            z.count("info", "hits", None, 1);
        }
        z.gauge("crit", "temp", Some("s1"), 20.0);
        z.flush();
        assert_eq!(
            decoded(&z),
            [
                ("info".into(), 0, 8),
                ("info".into(), 1, 2),
                ("crit".into(), 0, 1)
            ]
        );
        assert_eq!(
            z.sent(),
            Sent {
                frames: 3,
                measurements: 11
            }
        );
        assert_eq!(z.dropped(), Dropped::default());
        // Every frame stays within the buffer, whatever the names.
        let long = "n".repeat(60);
        let names: StdVec<std::string::String> =
            (0..6).map(|i| std::format!("{long}{i}")).collect();
        let mut z = Small::new(9, Keep::default(), Fixed);
        for name in &names {
            z.count("info", name, None, 1);
        }
        z.flush();
        assert!(z.transport().frames.iter().all(|f| f.len() <= 128));
        assert_eq!(z.sent().measurements, 6);
    }

    #[test]
    fn what_cannot_be_recorded_or_sent_is_counted() {
        let huge = "x".repeat(200);
        let mut z = Small::new(9, Keep::default(), Fixed);
        z.count("in fo", "hits", None, 1);
        z.count("info", "", None, 1);
        z.gauge("info", "temp", None, f64::NAN);
        z.count("info", &huge, None, 1);
        assert_eq!(z.dropped().rejected, 3);
        assert_eq!(z.dropped().no_room, 1);
        // A refused send loses its frame, counted, and leaves a gap in the numbers.
        z.count("info", "hits", None, 1);
        z.transport_mut().refuse = true;
        z.flush();
        z.transport_mut().refuse = false;
        z.count("info", "hits", None, 1);
        z.flush();
        assert_eq!(decoded(&z), [("info".into(), 1, 1)]);
        assert_eq!(z.dropped().send_failed, 1);
        assert_eq!(z.dropped().send_failed_measurements, 1);
    }

    #[test]
    fn every_measurement_is_sent_or_counted_once() {
        let long = "n".repeat(120);
        let mut z = Small::new(9, Keep::default(), Fixed);
        let mut recorded = 0u64;
        for i in 0..500u32 {
            let name = match i % 7 {
                0 => "",
                1 => long.as_str(),
                _ => "ok",
            };
            z.transport_mut().refuse = i % 50 < 10;
            z.count(if i % 3 == 0 { "a" } else { "b" }, name, None, 1);
            recorded += 1;
        }
        z.transport_mut().refuse = false;
        z.flush();
        let (sent, dropped) = (z.sent(), z.dropped());
        assert_eq!(
            sent.measurements
                + dropped.rejected
                + dropped.no_room
                + dropped.send_failed_measurements,
            recorded,
            "{sent:?} {dropped:?}"
        );
        assert!(dropped.rejected > 0 && dropped.no_room > 0 && dropped.send_failed > 0);
    }

    #[test]
    fn a_level_past_the_slots_takes_one_after_sending_the_open_frames() {
        let mut z = Small::new(9, Keep::default(), Fixed);
        z.count("a", "x", None, 1);
        z.count("b", "x", None, 1);
        z.count("c", "x", None, 1);
        z.flush();
        assert_eq!(
            decoded(&z),
            [("a".into(), 0, 1), ("b".into(), 0, 1), ("c".into(), 0, 1)]
        );
    }
}
