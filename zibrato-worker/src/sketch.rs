//! A mergeable relative-error sketch of durations, for percentiles.
//!
//! Values (nanoseconds) fall into log-linear buckets: each power of two is split into
//! 64 equal sub-buckets, so a bucket's width is at most 1/64 of its lower bound and the
//! bucket's midpoint is within 0.8 % of any value in it. Values below 128 get a bucket
//! each (exact). The bucket of a value is found with a few bit operations — no
//! logarithm — which is why this replaced the DDSketch crate on the worker's ingest
//! path (see BENCHMARKS.md). Counts live in a dense array spanning only the buckets
//! between the smallest and largest value seen, so memory is bounded by the spread of
//! the values, never by their number, and by [`MAX_BUCKETS`] whatever the spread: when
//! the values span more than 16 powers of two (a factor of 65 536), the lowest buckets
//! are folded into one, as DDSketch's collapsing store does, so the high percentiles
//! that matter keep their precision and a sketch never exceeds 4 KiB.

/// Sub-buckets per power of two: 2^6.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this get one bucket each.
const LINEAR: u64 = 2 * SUB;

/// The most buckets one sketch keeps: 16 powers of two of 64 sub-buckets, 4 KiB of
/// counts. Values more than 65 536 times smaller than the largest are counted in the
/// lowest kept bucket (reported no lower than the window's true minimum).
pub const MAX_BUCKETS: usize = 1024;

/// The bucket of `value`.
#[inline]
fn bucket(value: u64) -> u32 {
    if value < LINEAR {
        return value as u32;
    }
    let exponent = 63 - value.leading_zeros(); // ≥ SUB_BITS + 1
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) & (SUB - 1);
    LINEAR as u32 + (shift - 1) * SUB as u32 + sub as u32
}

/// The smallest value of bucket `index`, and its width.
fn bounds(index: u32) -> (u64, u64) {
    if u64::from(index) < LINEAR {
        return (u64::from(index), 1);
    }
    let rest = index - LINEAR as u32;
    let shift = rest / SUB as u32 + 1;
    let sub = u64::from(rest % SUB as u32);
    let low = (SUB + sub) << shift;
    (low, 1 << shift)
}

/// Counts of values per log-linear bucket.
///
/// # Examples
///
/// ```
/// use zibrato_worker::DurationSketch;
///
/// let mut sketch = DurationSketch::default();
/// for ns in 1..=1000u64 {
///     sketch.add(ns * 1000);
/// }
/// let p50 = sketch.quantile(0.5).unwrap() as f64;
/// assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DurationSketch {
    first: u32,
    counts: Vec<u32>,
    total: u64,
}

impl DurationSketch {
    /// Adds one value.
    #[inline]
    pub fn add(&mut self, value: u64) {
        let mut index = bucket(value);
        if self.counts.is_empty() {
            self.first = index;
            self.counts.push(0);
        } else if index < self.first {
            let last = self.first + self.counts.len() as u32 - 1;
            // Below the kept span: the lowest bucket takes it.
            index = index.max((last + 1).saturating_sub(MAX_BUCKETS as u32));
            if index < self.first {
                let grow = (self.first - index) as usize;
                self.room_for(self.counts.len() + grow);
                self.counts.splice(0..0, std::iter::repeat_n(0, grow));
                self.first = index;
            }
        } else if (index - self.first) as usize >= self.counts.len() {
            self.reach(index);
        }
        let slot = &mut self.counts[(index - self.first) as usize];
        *slot = slot.saturating_add(1);
        self.total += 1;
    }

    /// Extends the kept span up to bucket `index`, folding the lowest buckets into one
    /// when the span would pass [`MAX_BUCKETS`].
    #[cold]
    fn reach(&mut self, index: u32) {
        let span = (index - self.first) as usize + 1;
        if span > MAX_BUCKETS {
            let new_first = index + 1 - MAX_BUCKETS as u32;
            let fold = ((new_first - self.first) as usize).min(self.counts.len());
            let folded = self
                .counts
                .drain(..fold)
                .fold(0u32, |a, n| a.saturating_add(n));
            if self.counts.is_empty() {
                self.counts.push(0);
            }
            self.counts[0] = self.counts[0].saturating_add(folded);
            self.first = new_first;
        }
        let len = (index - self.first) as usize + 1;
        self.room_for(len);
        self.counts.resize(len, 0);
    }

    /// Makes room for `len` counts, growing by doubling as a `Vec` does but never past
    /// [`MAX_BUCKETS`], so a sketch's allocation (not only its length) stays within
    /// 4 KiB.
    fn room_for(&mut self, len: usize) {
        if len > self.counts.capacity() {
            let target = len
                .max(self.counts.capacity() * 2)
                .min(MAX_BUCKETS)
                .max(len);
            self.counts.reserve_exact(target - self.counts.len());
        }
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Adds every value of `other`, as if they had been added here.
    pub fn merge(&mut self, other: &DurationSketch) {
        for (offset, &n) in other.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let (low, width) = bounds(other.first + offset as u32);
            let middle = low + width / 2;
            // Make room (folding as `add` does), then add the rest of the count to
            // the bucket that took the first one.
            self.add(middle);
            let index = bucket(middle).max(self.first);
            let slot = &mut self.counts[(index - self.first) as usize];
            *slot = slot.saturating_add(n - 1);
            self.total += u64::from(n) - 1;
        }
    }

    /// The value at quantile `q` (0 to 1): the midpoint of the bucket holding the value
    /// of rank `q × (count − 1)`. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (self.total - 1) as f64).round() as u64;
        let mut seen = 0u64;
        for (offset, &n) in self.counts.iter().enumerate() {
            seen += u64::from(n);
            if seen > rank {
                let (low, width) = bounds(self.first + offset as u32);
                return Some(low + width / 2);
            }
        }
        None
    }

    /// The buckets holding values, lowest first, as `(low, width, count)`: `count`
    /// values were at least `low` and less than `low + width` nanoseconds (the lowest
    /// bucket also holds any values folded into it, which are smaller). A bucket's
    /// width is 1 below 128 ns, and at most 1/64 of its `low` above.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(offset, &n)| {
                let (low, width) = bounds(self.first + offset as u32);
                (low, width, u64::from(n))
            })
    }

    /// About how many bytes the sketch holds in memory.
    pub fn approx_bytes(&self) -> usize {
        self.counts.len() * 4 + 32
    }

    /// Forgets every value, keeping the allocation.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_bounds_agree() {
        for value in (0..100_000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40]) {
            let (low, width) = bounds(bucket(value));
            assert!(
                low <= value && value - low < width,
                "{value}: {low}+{width}"
            );
            assert!(width == 1 || width as f64 / low as f64 <= 1.0 / SUB as f64);
        }
    }

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut sketch = DurationSketch::default();
        let mut values: Vec<u64> = (0..10_000u64)
            .map(|i| (i * 7919 % 10_000 + 1) * 1337)
            .collect();
        for &v in &values {
            sketch.add(v);
        }
        values.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let exact = values[(q * (values.len() - 1) as f64).round() as usize] as f64;
            let got = sketch.quantile(q).unwrap() as f64;
            assert!((got - exact).abs() / exact < 0.01, "q{q}: {got} vs {exact}");
        }
    }

    #[test]
    fn a_wide_spread_keeps_the_high_percentiles_in_bounded_memory() {
        let mut sketch = DurationSketch::default();
        // 1 ns to 2^60 ns: far more than MAX_BUCKETS buckets apart.
        for shift in 0..61u32 {
            for _ in 0..10 {
                sketch.add(1u64 << shift);
            }
        }
        sketch.add(1);
        assert!(
            sketch.counts.len() <= MAX_BUCKETS,
            "{}",
            sketch.counts.len()
        );
        assert_eq!(sketch.count(), 611);
        let top = sketch.quantile(1.0).unwrap() as f64;
        assert!((top - (1u64 << 60) as f64).abs() / top < 0.01);
        let p99 = sketch.quantile(0.99).unwrap() as f64;
        let exact = (1u64 << 60) as f64;
        assert!((p99 - exact).abs() / exact < 0.01, "{p99}");
        // Everything folded is still counted, in the lowest kept bucket.
        assert_eq!(
            sketch.counts.iter().map(|&n| u64::from(n)).sum::<u64>(),
            611
        );
    }

    #[test]
    fn merging_is_adding() {
        let (mut a, mut b, mut both) = (
            DurationSketch::default(),
            DurationSketch::default(),
            DurationSketch::default(),
        );
        for v in 1..5000u64 {
            if v % 3 == 0 {
                a.add(v * 10)
            } else {
                b.add(v * 1000)
            }
            both.add(if v % 3 == 0 { v * 10 } else { v * 1000 });
        }
        a.merge(&b);
        assert_eq!(a.count(), both.count());
        for q in [0.1, 0.5, 0.99] {
            assert_eq!(a.quantile(q), both.quantile(q));
        }
    }
}
