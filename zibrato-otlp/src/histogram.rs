//! A timer's window distribution (the worker's sketch, nanoseconds) as an OTLP
//! exponential or explicit-bucket histogram, in seconds.
//!
//! The sketch keeps 64 linear sub-buckets per power of two; each holds values within
//! 0.8 % of its midpoint. Every sub-bucket's count goes, whole, to the exponential
//! bucket holding its midpoint, at scale 6: 64 geometric buckets per power of two, each
//! 1.09 % wide, so a percentile a backend reads from the histogram (a bucket's middle)
//! is within about 1.4 % of the true value — the sketch's 0.8 % and half a bucket.
//! The scale is fixed: the sketch spans at most 16 powers of two (it folds smaller
//! values into its lowest bucket), so a point has at most [`MAX_EXPONENTIAL_BUCKETS`]
//! buckets, and points of one series always merge at the backend without rescaling.

use zibrato_worker::DurationSketch;

/// Nanoseconds per second.
const NANOS: f64 = 1e9;

/// The scale of every exponential histogram: 2^6 = 64 buckets per power of two, as
/// the sketch has.
pub const SCALE: i32 = 6;

/// The most buckets one point can have: 16 powers of two of 64, and two for the
/// ends' alignment.
pub const MAX_EXPONENTIAL_BUCKETS: usize = 16 * 64 + 2;

/// An exponential histogram's buckets: `counts[i]` values in
/// `(base^(offset+i), base^(offset+i+1)]` seconds with `base = 2^(2^-scale)`, and
/// `zero` values of 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Exponential {
    /// The scale.
    pub scale: i32,
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` on.
    pub counts: Vec<u64>,
    /// Values of 0 ns.
    pub zero: u64,
}

/// Each sketch bucket's midpoint in seconds (`None` for 0 ns) and its count.
fn midpoints(sketch: &DurationSketch) -> impl Iterator<Item = (Option<f64>, u64)> + '_ {
    sketch.buckets().map(|(low, width, count)| {
        let middle = low + width / 2;
        ((middle > 0).then(|| middle as f64 / NANOS), count)
    })
}

/// The exponential bucket index of `value` (> 0) at `scale`: the `i` with
/// `base^i < value <= base^(i+1)`.
fn index(value: f64, scale: i32) -> i32 {
    let scaled = value.log2() * f64::powi(2.0, scale);
    // Exact powers of the base belong to the bucket below (upper bounds inclusive).
    (scaled.ceil() as i32).saturating_sub(1)
}

/// The sketch as an exponential histogram at [`SCALE`].
pub fn exponential(sketch: &DurationSketch) -> Exponential {
    let mut zero = 0;
    let mut indexed: Vec<(i32, u64)> = Vec::new();
    for (value, count) in midpoints(sketch) {
        match value {
            None => zero += count,
            Some(v) => indexed.push((index(v, SCALE), count)),
        }
    }
    let offset = indexed.first().map_or(0, |(i, _)| *i);
    let last = indexed.last().map_or(offset - 1, |(i, _)| *i);
    let mut counts = vec![0u64; (last - offset + 1) as usize];
    for (i, count) in indexed {
        counts[(i - offset) as usize] += count;
    }
    Exponential {
        scale: SCALE,
        offset,
        counts,
        zero,
    }
}

/// The sketch in buckets with upper `bounds` in seconds (ascending): one count per
/// bound, values `<= bound`, then one for values above the last, as OTLP's
/// explicit-bucket histogram has it.
pub fn explicit(sketch: &DurationSketch, bounds: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; bounds.len() + 1];
    for (value, count) in midpoints(sketch) {
        let value = value.unwrap_or(0.0);
        let slot = bounds.partition_point(|&b| b < value);
        counts[slot] += count;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(values: impl IntoIterator<Item = u64>) -> DurationSketch {
        let mut s = DurationSketch::default();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn every_value_lands_in_one_bucket_and_percentiles_keep_their_error() {
        let values: Vec<u64> = (1..=10_000u64).map(|i| i * 1_000).collect();
        let h = exponential(&sketch(values.iter().copied()));
        assert_eq!(h.counts.iter().sum::<u64>() + h.zero, 10_000);
        assert!(h.counts.len() <= MAX_EXPONENTIAL_BUCKETS);
        // Read the median back as a backend would: the middle of its bucket.
        let base = f64::powf(2.0, f64::powi(2.0, -h.scale));
        let mut seen = 0;
        let i = h
            .counts
            .iter()
            .position(|n| {
                seen += n;
                seen >= 5_000
            })
            .unwrap() as i32;
        let lower = base.powi(h.offset + i);
        let middle = (lower + lower * base) / 2.0;
        let true_median = 5_000_000.0 / NANOS;
        let error = (middle - true_median).abs() / true_median;
        assert!(error < 0.014, "error {error}");
    }

    #[test]
    fn the_widest_spread_a_sketch_holds_fits_the_bound() {
        let wide = exponential(&sketch([1_000, 1_000_000_000_000, 7]));
        assert_eq!(wide.scale, SCALE);
        assert!(
            wide.counts.len() <= MAX_EXPONENTIAL_BUCKETS,
            "{}",
            wide.counts.len()
        );
        assert_eq!(wide.counts.iter().sum::<u64>(), 3);
    }

    #[test]
    fn zero_durations_are_counted_apart() {
        let h = exponential(&sketch([0, 0, 5]));
        assert_eq!((h.zero, h.counts.iter().sum::<u64>()), (2, 1));
    }

    #[test]
    fn explicit_buckets_count_values_up_to_each_bound() {
        let counts = explicit(
            &sketch([1_000_000, 5_000_000, 20_000_000, 3_000_000_000]),
            &[0.005, 0.01, 1.0],
        );
        // 1 ms and 5 ms (a bucket's midpoint may sit just above 5 ms: within 0.8 %).
        assert_eq!(counts.iter().sum::<u64>(), 4);
        assert_eq!(counts[2] + counts[3], 2);
        assert_eq!(counts[3], 1);
    }
}
