//! Element types: [`DType`] at run time, [`Element`] and [`Float`] in kernels.

use std::fmt;

/// The element type of a tensor, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    /// 32-bit float, the default.
    #[default]
    F32,
    /// 64-bit float (gradcheck, parity with NumPy).
    F64,
    /// 64-bit signed integer: indices (argmax results, `index_select`, `gather`).
    I64,
}

impl DType {
    /// The name as PyTorch prints it (`f32`, `f64`, `i64`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
        }
    }
    /// Whether this is a floating-point dtype.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type that can be stored in a tensor.
pub trait Element: Copy + Send + Sync + PartialOrd + fmt::Debug + Default + 'static {
    /// The run-time tag of this type.
    const DTYPE: DType;
    /// Converts from f64 (rounding / truncating as `as` does).
    fn from_f64(v: f64) -> Self;
    /// Converts to f64.
    fn to_f64(self) -> f64;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
}

/// A floating-point element type: the math that kernels need.
pub trait Float:
    Element
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::iter::Sum
{
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// e^x
    fn exp(self) -> Self;
    /// e^x in the attention kernels' softmax loops: for f32 the branch-free exponential of
    /// `cpu::fast_math`, which vectorizes (relative error below 2.5e-7, and 0 below -87); for
    /// f64 [`Float::exp`].
    fn exp_kernel(self) -> Self;
    /// natural log
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate for small `x`
    fn ln_1p(self) -> Self {
        Self::from_f64(self.to_f64().ln_1p())
    }
    /// square root
    fn sqrt(self) -> Self;
    /// hyperbolic tangent
    fn tanh(self) -> Self;
    /// sine
    fn sin(self) -> Self;
    /// cosine
    fn cos(self) -> Self;
    /// absolute value
    fn abs(self) -> Self;
    /// x^e
    fn powf(self, e: Self) -> Self;
    /// larger of two (NaN-propagating like torch.maximum)
    fn max_(self, o: Self) -> Self;
    /// smaller of two (NaN-propagating like torch.minimum)
    fn min_(self, o: Self) -> Self;
    /// Whether this is NaN.
    fn is_nan_(self) -> bool;
    /// Whether this is finite.
    fn is_finite_(self) -> bool;
    /// `self * a + b` rounded once (a fused multiply-add)
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// error function
    fn erf(self) -> Self {
        Self::from_f64(erf_f64(self.to_f64()))
    }
}

macro_rules! impl_float {
    ($t:ty, $d:expr, $erf:path, $exp_kernel:path) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
        impl Float for $t {
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn exp_kernel(self) -> Self {
                $exp_kernel(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                if self.is_nan() || self > o {
                    self
                } else if o.is_nan() || o >= self {
                    o
                } else {
                    self
                }
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                if self.is_nan() || self < o {
                    self
                } else if o.is_nan() || o <= self {
                    o
                } else {
                    self
                }
            }
            #[inline(always)]
            fn is_nan_(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn is_finite_(self) -> bool {
                self.is_finite()
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
        }
    };
}
// (f32: musl's single-precision erf, within 1 ulp of f32 and cheaper than the f64 one)
impl_float!(
    f32,
    DType::F32,
    libm::erff,
    crate::cpu::fast_math::exp_or_zero
);
impl_float!(f64, DType::F64, erf_f64, f64::exp);

impl Element for i64 {
    const DTYPE: DType = DType::I64;
    const ZERO: Self = 0;
    const ONE: Self = 1;
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// The error function, to double precision (within 1 ulp): musl's rational approximations
/// (the `libm` crate), with no iteration. (f32 uses musl's `erff`; f32 GELU its own
/// vectorizable form, `cpu::fast_math`.)
pub fn erf_f64(x: f64) -> f64 {
    libm::erf(x)
}

/// `s` as f32 when `T` is f32 (for kernels written for f32 only).
pub(crate) fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: T is f32, so the slice is one of f32.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
    })
}

/// `s` as mutable f32 when `T` is f32.
pub(crate) fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: T is f32, so the slice is one of f32.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn erf_matches_reference_values() {
        // reference values from scipy.special.erf
        let cases = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (-1.5, -0.9661051464753108),
            (2.0, 0.9953222650189527),
            (3.5, 0.9999992569016276),
        ];
        for (x, want) in cases {
            let got = erf_f64(x);
            assert!((got - want).abs() < 1e-14, "erf({x}) = {got}, want {want}");
        }
    }
    #[test]
    fn dtype_names() {
        assert_eq!(DType::F32.to_string(), "f32");
        assert_eq!(DType::default(), DType::F32);
        assert!(!DType::I64.is_float());
    }
}
