//! Gate activations of the fused recurrent kernels. f64 uses the standard library's `tanh`
//! and `exp`; f32 uses branch-free forms that the compiler vectorizes (Cephes' `expf`
//! polynomial with an exponent built from bits, and Cephes' `tanhf`), because scalar libm
//! calls took a third of an LSTM training step. Their error is a few ulp (tested below).

use crate::dtype::Float;

/// `sigmoid` and `tanh` as the gate kernels compute them.
pub(crate) trait GateAct: Float {
    /// `1 / (1 + e^-x)`
    fn sigm(self) -> Self;
    /// `tanh(x)`
    fn th(self) -> Self;
}

impl GateAct for f64 {
    #[inline(always)]
    fn sigm(self) -> f64 {
        if self >= 0.0 {
            1.0 / (1.0 + (-self).exp())
        } else {
            let e = self.exp();
            e / (1.0 + e)
        }
    }
    #[inline(always)]
    fn th(self) -> f64 {
        self.tanh()
    }
}

impl GateAct for f32 {
    #[inline(always)]
    fn sigm(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn th(self) -> f32 {
        tanh_f32(self)
    }
}

/// `e^x` for f32 without branches: `x = n ln 2 + r`, `e^r` by Cephes' polynomial, `2^n` from
/// bits. `x` is clamped to [-87, 88] (results stay normal and finite: sigmoid and tanh need
/// no more); NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // round to nearest by the 1.5 * 2^23 trick: t's low mantissa bits hold n (read as an
    // integer below; `n as i32` would be a saturating scalar conversion that stops the
    // vectorizer)
    let t = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = t - 12_582_912.0;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = (((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1)
        * r
        * r
        + r
        + 1.0;
    // n is in [-126, 127], so the exponent field is in [1, 254]; t's bits are 0x4B40_0000 + n
    let e = (t.to_bits() as i32).wrapping_sub(0x4B40_0000 - 127);
    p * f32::from_bits((e as u32) << 23)
}

/// `tanh(x)` for f32 without branches: Cephes' odd polynomial below 0.625 in magnitude,
/// `1 - 2 / (e^(2|x|) + 1)` with the sign of `x` above; NaN stays NaN.
#[inline(always)]
pub(super) fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328e-1)
            * z
            * x
            + x;
    let big = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_activations_are_within_a_few_ulp_of_std() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        let mut x = -100.0f32;
        while x < 100.0 {
            let xd = x as f64;
            let e = (exp_f32(x) as f64 - xd.clamp(-87.0, 88.0).exp()).abs()
                / xd.clamp(-87.0, 88.0).exp();
            let t = (tanh_f32(x) as f64 - xd.tanh()).abs() / xd.tanh().abs().max(1e-30);
            // below -87 the true value is under f32's normal range: compare absolutely there
            let s = (x.sigm() as f64 - xd.sigm()).abs() / xd.sigm().max(1e-30);
            worst = (worst.0.max(e), worst.1.max(t), worst.2.max(s));
            x += 0.001 + x.abs() * 1e-4;
        }
        // f32 ulp is 1.2e-7 relative
        assert!(
            worst.0 < 4e-7 && worst.1 < 4e-7 && worst.2 < 4e-7,
            "{worst:?}"
        );
        assert!(exp_f32(f32::NAN).is_nan() && tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(f32::NEG_INFINITY.sigm() < 1e-37);
        assert_eq!(f32::INFINITY.sigm(), 1.0);
    }
}
