//! Axis ranges and tick positions: padded linear ranges with "nice" ticks (1, 2 or 5 times
//! a power of ten), and decades for a log scale. Every function terminates and returns
//! finite values for any input, including ranges near the limits of `f64`.

use crate::html::text::num;

/// Axis range `[lo, hi]` covering the finite values with 5 % padding, never empty.
pub(crate) fn axis_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else if lo != 0.0 {
        lo.abs() * 0.1
    } else {
        1.0
    };
    let (a, b) = (lo - pad, hi + pad);
    if a < b && (b - a).is_finite() {
        return (a, b);
    }
    // near the limits of f64 (or subnormal): an unpadded range that keeps b - a finite
    let (a, b) = (
        lo.clamp(-f64::MAX / 2.0, 0.0),
        hi.clamp(0.0, f64::MAX / 2.0),
    );
    if a < b {
        (a, b)
    } else {
        (0.0, 1.0)
    }
}

/// "Nice" tick positions (multiples of 1, 2 or 5 times a power of ten) inside `[lo, hi]`,
/// about `target` of them, with a step of at least `min_step`. Never more than
/// `target + 2` ticks.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) || target == 0 {
        return vec![lo];
    }
    let raw = (span / target as f64).max(min_step);
    let base = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * base);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let first = (lo / step).ceil();
    let mut ticks = Vec::new();
    for i in 0..target + 2 {
        let v = (first + i as f64) * step;
        if !v.is_finite() || v > hi + step * 1e-9 {
            break;
        }
        if ticks.last().is_none_or(|&last| v > last) {
            ticks.push(v);
        }
    }
    if ticks.is_empty() {
        ticks.push(lo);
    }
    ticks
}

/// Decade ticks (10^k) covering `[lo, hi]` (both > 0): the exponents, a step of 1, 2, ...
/// decades keeping about 8 labels, and the covered range.
pub fn log_ticks(lo: f64, hi: f64) -> (Vec<i32>, f64, f64) {
    // within the normal range of f64, so 10^a and 10^b are finite and positive
    let a = (lo.log10().floor() as i32).clamp(-307, 307);
    let mut b = (hi.log10().ceil() as i32).clamp(-307, 308);
    if b <= a {
        b = a + 1;
    }
    let step = ((b - a) as f64 / 8.0).ceil().max(1.0) as i32;
    let ticks = (a..=b).step_by(step as usize).collect();
    (ticks, 10f64.powi(a), 10f64.powi(b))
}

/// The label of 10^k: `0.01` to `100` written out, else `1e-5`.
pub fn decade(k: i32) -> String {
    if (-2..=2).contains(&k) {
        num(10f64.powi(k))
    } else {
        format!("1e{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::text::tick_labels;

    #[test]
    fn axis_range_pads_and_handles_degenerate_input() {
        assert_eq!(axis_range([].into_iter()), (0.0, 1.0));
        assert_eq!(
            axis_range([f64::NAN, f64::INFINITY].into_iter()),
            (0.0, 1.0)
        );
        assert_eq!(axis_range([0.0].into_iter()), (-1.0, 1.0));
        let (lo, hi) = axis_range([2.0].into_iter());
        assert!((lo - 1.8).abs() < 1e-12 && (hi - 2.2).abs() < 1e-12);
        let (lo, hi) = axis_range([0.0, 10.0, f64::NAN].into_iter());
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
        for vals in [
            vec![-1e308, 1e308],
            vec![f64::MAX],
            vec![-f64::MAX, f64::MAX],
            vec![5e-324],
            vec![1e-320, 2e-320],
        ] {
            let (lo, hi) = axis_range(vals.iter().copied());
            assert!(lo < hi && (hi - lo).is_finite(), "{vals:?} -> {lo} {hi}");
        }
    }

    #[test]
    fn nice_ticks_are_round_and_bounded() {
        assert_eq!(
            tick_labels(&nice_ticks(0.0, 1.0, 5, 0.0)),
            ["0", "0.2", "0.4", "0.6", "0.8", "1"]
        );
        assert_eq!(
            tick_labels(&nice_ticks(-0.13, 2.6, 8, 0.0)),
            ["0", "0.5", "1", "1.5", "2", "2.5"]
        );
        assert_eq!(
            nice_ticks(0.45, 12.55, 10, 1.0),
            vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
        assert_eq!(nice_ticks(0.8, 5.2, 10, 1.0), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(nice_ticks(0.9, 1.1, 10, 1.0), vec![1.0]);
        assert_eq!(nice_ticks(1.0, 1.0, 10, 0.0), vec![1.0]);
        for (lo, hi) in [
            (-f64::MAX / 2.0, f64::MAX / 2.0),
            (1e-300, 2e-300),
            (1e300, 2e300),
            (5e-324, 1e-323),
            (1e20, 1e20 + 1e5),
        ] {
            let t = nice_ticks(lo, hi, 8, 0.0);
            assert!(!t.is_empty() && t.len() <= 10, "{lo} {hi} {t:?}");
            assert!(t.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_labels(&[0.30000000000000004]), ["0.3"]);
        assert_eq!(tick_labels(&[2.0]), ["2"]);
        assert_eq!(tick_labels(&[-0.0]), ["0"]);
        assert_eq!(tick_labels(&[-0.00001]), ["-1e-5"]);
        assert_eq!(tick_labels(&[1.5e7]), ["1.5e7"]);
        assert_eq!(
            tick_labels(&[0.0, 5e6, 1e7, 1.5e7]),
            ["0", "5e6", "1e7", "1.5e7"]
        );
    }

    #[test]
    fn decades_cover_the_range() {
        let (t, lo, hi) = log_ticks(3e-5, 0.2);
        assert_eq!(t, vec![-5, -4, -3, -2, -1, 0]);
        assert_eq!((lo, hi), (1e-5, 1.0));
        // many decades: every other label
        let (t, _, _) = log_ticks(1e-12, 1e6);
        assert!(t.len() <= 10, "{t:?}");
        // the ends of f64: finite, positive bounds
        let (_, lo, hi) = log_ticks(5e-324, f64::MAX);
        assert!(lo > 0.0 && hi.is_finite());
        assert_eq!(decade(-1), "0.1");
        assert_eq!(decade(2), "100");
        assert_eq!(decade(-4), "1e-4");
    }
}
