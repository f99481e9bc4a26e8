//! A timer's window distribution (the worker's sketch, nanoseconds) as an OTLP
//! exponential or explicit-bucket histogram, in seconds.
//!
//! The sketch keeps 64 linear sub-buckets per power of two; each holds values within
//! 0.8 % of its midpoint. Every sub-bucket's count goes, whole, to the exponential
//! bucket holding its midpoint, at scale 6: 64 geometric buckets per power of two, each
//! 1.09 % wide, so a percentile a backend reads from the histogram (a bucket's middle)
//! is within about 1.4 % of the true value — the sketch's 0.8 % and half a bucket.
//! A point may have at most `--max-buckets` buckets (160 by default, the SDK's
//! default): a wider one is downscaled, as the SDK does, halving the buckets per power
//! of two (scale 6 → 5 → …, merging neighbours) until it fits. Count, sum, min and max
//! stay exact; what a backend reads as a percentile is then within half a bucket at
//! the scale used plus the sketch's 0.8 % ([`percentile_error`]).

use zibrato_worker::DurationSketch;

/// Nanoseconds per second.
const NANOS: f64 = 1e9;

/// The scale of every exponential histogram: 2^6 = 64 buckets per power of two, as
/// the sketch has.
pub const SCALE: i32 = 6;

/// The most buckets a point can have at [`SCALE`]: the sketch spans at most 16 powers
/// of two (it folds smaller values into its lowest bucket), 64 each, and two for the
/// ends' alignment.
pub const MAX_EXPONENTIAL_BUCKETS: usize = 16 * 64 + 2;

/// The default most buckets per point, as OpenTelemetry's SDKs have it.
pub const DEFAULT_MAX_BUCKETS: usize = 160;

/// The lowest scale downscaling goes to (OpenTelemetry's), where one bucket spans
/// 2^1024: any two positive values fit in two buckets long before.
pub const MIN_SCALE: i32 = -10;

/// The largest relative error of a percentile read from a point at `scale` (the
/// middle of its bucket) against the true value: half a bucket's width plus the
/// sketch's 0.8 %. Scale 6: 1.4 %; 5: 1.9 %; 4: 3.1 %; 3: 5.4 %; 2: 10.3 %.
pub fn percentile_error(scale: i32) -> f64 {
    let width = f64::powf(2.0, f64::powi(2.0, -scale)) - 1.0;
    width / 2.0 + 0.008
}

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

impl Exponential {
    /// Adds `other`'s counts in; both must be at the same scale.
    pub fn merge(&mut self, other: &Exponential) {
        debug_assert_eq!(self.scale, other.scale);
        self.zero += other.zero;
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.offset = other.offset;
        }
        let first = self.offset.min(other.offset);
        let last = (self.offset + self.counts.len() as i32 - 1)
            .max(other.offset + other.counts.len() as i32 - 1);
        let mut counts = vec![0u64; (last - first + 1) as usize];
        for (from, offset) in [(&self.counts, self.offset), (&other.counts, other.offset)] {
            for (i, n) in from.iter().enumerate() {
                counts[(offset - first) as usize + i] += n;
            }
        }
        self.offset = first;
        self.counts = counts;
    }

    /// This histogram with at most `max` buckets (at least 2): itself when it fits,
    /// else at the highest lower scale where it does, each bucket's count added to the
    /// bucket that holds it there (index `i` at scale `s` is `i >> k` at `s - k`).
    pub fn downscaled(self, max: usize) -> Exponential {
        let max = max.max(2);
        if self.counts.len() <= max {
            return self;
        }
        let last = self.offset + self.counts.len() as i32 - 1;
        let mut shift = 1;
        while ((last >> shift) - (self.offset >> shift) + 1) as usize > max
            && self.scale - shift > MIN_SCALE
        {
            shift += 1;
        }
        let offset = self.offset >> shift;
        let mut counts = vec![0u64; ((last >> shift) - offset + 1) as usize];
        for (i, n) in self.counts.iter().enumerate() {
            counts[(((self.offset + i as i32) >> shift) - offset) as usize] += n;
        }
        Exponential {
            scale: self.scale - shift,
            offset,
            counts,
            zero: self.zero,
        }
    }
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
        let middle = read_quantile(&h, 0.5);
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

    /// The value a backend reads for quantile `q`: the middle of the bucket holding it.
    fn read_quantile(h: &Exponential, q: f64) -> f64 {
        let total: u64 = h.counts.iter().sum();
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let base = f64::powf(2.0, f64::powi(2.0, -h.scale));
        let mut seen = 0;
        let i = h
            .counts
            .iter()
            .position(|n| {
                seen += n;
                seen >= rank
            })
            .unwrap() as i32;
        let lower = base.powi(h.offset + i);
        (lower + lower * base) / 2.0
    }

    #[test]
    fn a_wide_histogram_is_downscaled_to_the_cap_and_keeps_its_stated_error() {
        // 1 ms to 10 s: 13.3 powers of two, 852 buckets at scale 6.
        let values: Vec<u64> = (0..=1_000)
            .map(|i| (1e6 * f64::powf(10_000.0, f64::from(i) / 1_000.0)) as u64)
            .collect();
        let full = exponential(&sketch(values.iter().copied()));
        assert!(
            full.counts.len() > DEFAULT_MAX_BUCKETS,
            "{}",
            full.counts.len()
        );
        let capped = full.clone().downscaled(DEFAULT_MAX_BUCKETS);
        assert!(capped.counts.len() <= DEFAULT_MAX_BUCKETS);
        assert_eq!(
            capped.scale, 3,
            "the highest scale that fits 13.3 powers of two"
        );
        assert_eq!(capped.counts.iter().sum::<u64>(), 1_001);
        for q in [0.5, 0.9, 0.99] {
            let truth = values[((q * 1_001.0) as usize).min(1_000)] as f64 / NANOS;
            let read = read_quantile(&capped, q);
            let error = (read - truth).abs() / truth;
            // One value's rank may differ at a bucket edge: allow a value's step too.
            assert!(
                error < percentile_error(capped.scale) + 0.01,
                "q {q}: read {read}, true {truth}, error {error}"
            );
        }
        // Narrow enough already: unchanged.
        let narrow = exponential(&sketch([1_000_000, 1_100_000]));
        assert_eq!(narrow.clone().downscaled(DEFAULT_MAX_BUCKETS), narrow);
        // The lowest scale holds anything in two buckets.
        let tiny = full.downscaled(2);
        assert!(
            tiny.counts.len() <= 2 && tiny.scale >= MIN_SCALE,
            "{tiny:?}"
        );
        assert_eq!(tiny.counts.iter().sum::<u64>(), 1_001);
    }

    #[test]
    fn the_stated_errors_are_the_formulas() {
        // The README's table.
        for (scale, stated) in [(6, 0.014), (5, 0.019), (4, 0.031), (3, 0.054), (2, 0.103)] {
            let error = percentile_error(scale);
            assert!(
                error <= stated && stated - error < 0.001,
                "{scale}: {error}"
            );
        }
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = exponential(&sketch([1_000_000, 0]));
        let b = exponential(&sketch([5_000_000_000, 2_000_000]));
        a.merge(&b);
        assert_eq!((a.counts.iter().sum::<u64>(), a.zero), (3, 1));
        let mut b_then_a = b.clone();
        b_then_a.merge(&exponential(&sketch([1_000_000, 0])));
        assert_eq!(a, b_then_a, "merging does not depend on the order");
        let filled = a.counts.iter().filter(|n| **n > 0).count();
        assert_eq!(filled, 3, "each value in a bucket of its own");
        let mut empty = Exponential {
            scale: SCALE,
            offset: 0,
            counts: vec![],
            zero: 0,
        };
        empty.merge(&b);
        assert_eq!(empty, b);
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
