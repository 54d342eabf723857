//! Branch-free f32 `exp` and `erf` for the GELU and attention kernels: plain arithmetic the
//! compiler vectorizes inside the elementwise loops (libm's scalar calls took about 30% of a
//! small GPT's train step). `exp`'s relative error is below 2.5e-7; `erf` is Abramowitz and
//! Stegun's 7.1.26 (absolute error 1.5e-7 in exact arithmetic, below 5e-7 in f32; the
//! formula PyTorch's vectorized f32 `erf` uses), which GELU needs only as `1 + erf`. The `erf` op itself and f64 keep musl's functions.

/// `e^x` for f32: `2^n · p(r)` with `x = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-6
/// polynomial; inputs are clamped to [-87, 88] (below, the result is about 1.6e-38, not 0).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    // round to nearest by the 1.5 · 2^23 trick (a call to `roundf` would not vectorize)
    const MAGIC: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from its exponent bits (n in [-126, 127] after the clamp). `shifted` is 1.5 · 2^23 + n
    // exactly, so its bits are MAGIC's plus n: integer arithmetic that vectorizes, where
    // `n as i32` (a saturating conversion) compiles to one scalar conversion per lane.
    let n_bits = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    f32::from_bits(n_bits.wrapping_add(127) << 23) * p
}

/// [`exp`], but 0 below -87 (and for `-inf`, a masked score), as softmax needs: the
/// attention kernels' f32 exponential.
#[inline(always)]
pub(crate) fn exp_or_zero(x: f32) -> f32 {
    if x < -87.0 {
        0.0
    } else {
        exp(x)
    }
}

/// The error function for f32 (Abramowitz and Stegun 7.1.26).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// `g · gelu'(x)` for f32 given `y = gelu(x)`: `Φ(x) = y / x` (no erf), `φ` from [`exp`];
/// branch-free (selects), so the loop around it vectorizes. Past |x| = 10, Φ is 0 or 1 and
/// φ is 0 in f32.
#[inline(always)]
pub(crate) fn gelu_grad(g: f32, x: f32, y: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let far = x.abs() > 10.0;
    let cdf = if far {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    } else if x == 0.0 {
        0.5
    } else {
        y / x
    };
    // x φ(x), 0 far out (where x · 0 could be inf · 0)
    let tail = if far {
        0.0
    } else {
        x * exp(-0.5 * x * x) * INV_SQRT_2PI
    };
    g * (cdf + tail)
}

/// `gelu(x) = x Φ(x)` for f32, with [`erf`].
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    x * (erf(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_and_erf_within_its_bound() {
        let mut worst_exp = 0.0f64;
        let mut worst_erf = 0.0f64;
        // out to the clamp's ends, where the scale 2^n (read from the rounding constant's
        // bits) reaches 2^-124 and 2^127 (near -87 the results can be subnormal and lose bits)
        for i in -86_000..88_000 {
            let x = i as f32 * 1e-3; // -86 .. 88
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64) - want).abs() / want;
            worst_exp = worst_exp.max(rel);
            if x.abs() < 6.0 {
                let e = ((erf(x) as f64) - libm::erf(x as f64)).abs();
                worst_erf = worst_erf.max(e);
            }
        }
        assert!(worst_exp < 2.5e-7, "exp: {worst_exp}");
        assert!(worst_erf < 6e-7, "erf: {worst_erf}");
        assert_eq!(exp(0.0), 1.0);
        assert!(erf(0.0).abs() < 1e-7);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert!(exp(-200.0) < 1e-37 && exp(200.0).is_finite());
        assert_eq!(exp_or_zero(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_or_zero(-87.5), 0.0);
        assert_eq!(exp_or_zero(-1.5), exp(-1.5));
        assert!(exp_or_zero(f32::NAN).is_nan());
        // the gradient at the far ends and at 0, and against the f64 formula
        assert_eq!(gelu_grad(1.0, f32::INFINITY, f32::INFINITY), 1.0);
        assert_eq!(gelu_grad(1.0, f32::NEG_INFINITY, f32::NAN), 0.0);
        assert_eq!(gelu_grad(1.0, 0.0, 0.0), 0.5);
        for i in -700..=700 {
            let x = i as f32 * 0.01;
            let xd = x as f64;
            let want = 0.5 * (1.0 + libm::erf(xd / 2f64.sqrt()))
                + xd * (-0.5 * xd * xd).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let got = gelu_grad(1.0, x, gelu(x)) as f64;
            assert!((got - want).abs() < 2e-6, "x = {x}: {got} against {want}");
        }
    }
}
