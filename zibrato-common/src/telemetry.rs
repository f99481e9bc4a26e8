//! A daemon's self-metrics, published as ordinary Zibrato frames.

use zibrato_wire::{Error, FrameBuilder, Header, Level, Measurement, Value};

use crate::{now_us, random_publisher_id};

/// The level every Zibrato daemon publishes its self-metrics on. Subscribe a worker to
/// it (`--levels zibrato`) to see the pipeline's own health beside your metrics.
pub const SELF_METRICS_LEVEL: &str = "zibrato";

/// Turns a daemon's running totals into frames on the [`SELF_METRICS_LEVEL`].
///
/// Counters are given as totals since start; each frame carries the increase since
/// the previous frame, so workers sum them like any counter. Gauges are given as they
/// stand.
///
/// # Examples
///
/// ```
/// use zibrato_common::Telemetry;
/// use zibrato_wire::{Frame, Value};
///
/// let mut telemetry = Telemetry::new("broker-1");
/// telemetry.encode(&[("zibrato.broker.frames_in", 10)], &[]).unwrap();
/// let bytes = telemetry.encode(&[("zibrato.broker.frames_in", 25)], &[("zibrato.broker.subscribers", 2.0)]).unwrap();
/// let frame = Frame::decode(&bytes).unwrap();
/// let values: Vec<Value> = frame.measurements().map(|m| m.value).collect();
/// assert_eq!(values, [Value::Counter(15), Value::Gauge(2.0)]);
/// ```
#[derive(Debug, Clone)]
pub struct Telemetry {
    source: String,
    publisher: u64,
    sequence: u64,
    last: Vec<(String, u64)>,
}

impl Telemetry {
    /// Self-metrics of the daemon known as `source`.
    pub fn new(source: &str) -> Self {
        Telemetry {
            source: source.to_string(),
            publisher: random_publisher_id(),
            sequence: 0,
            last: Vec::new(),
        }
    }

    /// The frame for the totals `counters` and the readings `gauges`.
    ///
    /// # Errors
    ///
    /// A wire error if a name or the source is not a valid name.
    pub fn encode(
        &mut self,
        counters: &[(&str, u64)],
        gauges: &[(&str, f64)],
    ) -> Result<Vec<u8>, Error> {
        let mut builder = Box::new(FrameBuilder::<&str, 256, 256, 256>::new());
        let source = Some(self.source.as_str());
        for &(name, total) in counters {
            let previous = match self.last.iter_mut().find(|(n, _)| n == name) {
                Some((_, last)) => std::mem::replace(last, total),
                None => {
                    self.last.push((name.to_string(), total));
                    0
                }
            };
            let delta = total.saturating_sub(previous).min(i64::MAX as u64) as i64;
            builder.push(Measurement::new(name, source, Value::Counter(delta))?)?;
        }
        for &(name, value) in gauges {
            builder.push(Measurement::new(name, source, Value::Gauge(value))?)?;
        }
        let level = Level::new(SELF_METRICS_LEVEL)?;
        let header = Header {
            publisher: self.publisher,
            sequence: self.sequence,
            time_us: now_us(),
        };
        let mut buf = vec![0u8; builder.encoded_len(level, &header)];
        let len = builder.encode(level, &header, &mut buf)?.len();
        buf.truncate(len);
        self.sequence = self.sequence.wrapping_add(1);
        Ok(buf)
    }
}
