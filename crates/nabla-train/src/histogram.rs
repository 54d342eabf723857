//! Histograms of a tensor's values (weights, gradients), taken at health steps for
//! TensorBoard: equal-width buckets
//! between the smallest and largest finite value, with the count, sum and sum of squares.

use nabla_core::{DType, Tensor};

/// Buckets of a histogram (TensorBoard re-buckets them for display).
pub const BUCKETS: usize = 30;

/// A histogram of values: `counts[i]` values lie in `(limits[i-1], limits[i]]` (the first
/// bucket from `min`). Non-finite values are left out and counted in `non_finite`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Smallest finite value (0 when there is none).
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Number of finite values.
    pub num: u64,
    /// Their sum.
    pub sum: f64,
    /// The sum of their squares.
    pub sum_squares: f64,
    /// Right edges of the buckets, increasing; the last is `max`.
    pub limits: Vec<f64>,
    /// Counts, one per limit.
    pub counts: Vec<u64>,
    /// NaN and infinite values (not in the buckets).
    pub non_finite: u64,
}

impl Histogram {
    /// The histogram of `values` in `buckets` equal-width buckets (one bucket when every
    /// finite value is the same; none when there is no finite value).
    pub fn of(values: impl IntoIterator<Item = f64>, buckets: usize) -> Self {
        let mut h = Histogram::default();
        let mut finite = Vec::new();
        for v in values {
            if v.is_finite() {
                finite.push(v);
            } else {
                h.non_finite += 1;
            }
        }
        if finite.is_empty() {
            return h;
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in &finite {
            lo = lo.min(v);
            hi = hi.max(v);
            h.sum += v;
            h.sum_squares += v * v;
        }
        h.min = lo;
        h.max = hi;
        h.num = finite.len() as u64;
        let buckets = buckets.max(1);
        if hi == lo || buckets == 1 {
            h.limits = vec![hi];
            h.counts = vec![h.num];
            return h;
        }
        let width = (hi - lo) / buckets as f64;
        h.limits = (1..=buckets)
            .map(|i| {
                if i == buckets {
                    hi
                } else {
                    lo + width * i as f64
                }
            })
            .collect();
        h.counts = vec![0; buckets];
        for v in finite {
            // the first limit >= v
            let i = (((v - lo) / width).ceil() as usize).saturating_sub(1);
            let mut i = i.min(buckets - 1);
            while i > 0 && v <= h.limits[i - 1] {
                i -= 1;
            }
            while i + 1 < buckets && v > h.limits[i] {
                i += 1;
            }
            h.counts[i] += 1;
        }
        h
    }

    /// The histogram of a tensor's elements (any float dtype; i64 as floats).
    pub fn of_tensor(t: &Tensor, buckets: usize) -> Self {
        match t.dtype() {
            DType::F32 => Self::of(
                t.to_vec::<f32>()
                    .unwrap_or_default()
                    .into_iter()
                    .map(f64::from),
                buckets,
            ),
            _ => Self::of(t.to_vec_f64(), buckets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_finite_value_once() {
        let h = Histogram::of([0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN, f64::INFINITY], 4);
        assert_eq!((h.min, h.max, h.num, h.non_finite), (0.0, 4.0, 5, 2));
        assert_eq!(h.limits, vec![1.0, 2.0, 3.0, 4.0]);
        // (-inf, 1] holds 0 and 1, then (1, 2], (2, 3], (3, 4]
        assert_eq!(h.counts, vec![2, 1, 1, 1]);
        assert_eq!(h.sum, 10.0);
        assert_eq!(h.sum_squares, 30.0);
    }

    #[test]
    fn constant_and_empty_inputs() {
        let h = Histogram::of([0.5; 7], 30);
        assert_eq!((h.limits, h.counts), (vec![0.5], vec![7]));
        let h = Histogram::of([f64::NAN], 30);
        assert_eq!((h.num, h.non_finite, h.counts.len()), (0, 1, 0));
        let t = Tensor::from_vec(vec![-1.0f32, 1.0, 0.25, 0.25], &[2, 2]).unwrap();
        let h = Histogram::of_tensor(&t, 8);
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!((h.min, h.max), (-1.0, 1.0));
    }
}
