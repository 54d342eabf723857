//! Elementwise ops of one tensor: math functions, activations and scalar arithmetic.

use super::Op;
use crate::cpu::elementwise;
use crate::dtype::{DType, Float};
use crate::layout::fmt_shape;
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Applies `f` elementwise to a float tensor, recording `op` (None: not differentiable).
    pub(crate) fn map_float(
        &self,
        name: &'static str,
        op: Option<Op>,
        f32f: impl Fn(f32) -> f32 + Sync,
        f64f: impl Fn(f64) -> f64 + Sync,
    ) -> Result<Tensor> {
        fn map_float_typed<T: StorageElem>(
            t: &Tensor,
            f: impl Fn(T) -> T + Sync,
        ) -> Result<Storage> {
            let src = t.data::<T>()?;
            let mut out = take_buffer::<T>(src.len());
            elementwise::map(&src, &mut out, f);
            Ok(T::into_storage(out))
        }
        let storage = match self.dtype() {
            DType::F32 => map_float_typed::<f32>(self, f32f)?,
            DType::F64 => map_float_typed::<f64>(self, f64f)?,
            DType::I64 => {
                return Err(Error::dtype(
                    name,
                    format!("needs a float tensor, got i64 {}", fmt_shape(self.shape())),
                ))
            }
        };
        Ok(match op {
            Some(op) => Tensor::from_op(storage, self.shape(), op, &[self]),
            None => Tensor::from_storage(storage, self.shape()),
        })
    }
}

macro_rules! unary_ops {
    ($($(#[$m:meta])* $fn:ident, $name:literal, $op:expr, |$x:ident| $body:expr;)*) => {
        impl Tensor {
            $(
                $(#[$m])*
                ///
                /// Fails on an i64 tensor.
                pub fn $fn(&self) -> Result<Tensor> {
                    fn f<T: Float>($x: T) -> T { $body }
                    self.map_float($name, Some($op), f::<f32>, f::<f64>)
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`
    neg, "neg", Op::Neg, |x| -x;
    /// `e^x`
    exp, "exp", Op::Exp, |x| x.exp();
    /// Natural logarithm (at 0: `-inf`, gradient `inf`, as PyTorch).
    log, "log", Op::Log, |x| x.ln();
    /// Square root (at 0: gradient `inf`, as PyTorch).
    sqrt, "sqrt", Op::Sqrt, |x| x.sqrt();
    /// `1 / sqrt(x)`, as `torch.rsqrt` (at 0: `inf`, gradient `-inf`; below 0: NaN).
    rsqrt, "rsqrt", Op::Rsqrt, |x| T::ONE / x.sqrt();
    /// Hyperbolic tangent.
    tanh, "tanh", Op::Tanh, |x| x.tanh();
    /// Sine.
    sin, "sin", Op::Sin, |x| x.sin();
    /// Cosine.
    cos, "cos", Op::Cos, |x| x.cos();
    /// Absolute value (its gradient at 0 is 0, as in PyTorch).
    abs, "abs", Op::Abs, |x| x.abs();
    /// `1 / x` (at ±0: `±inf`, gradient `-inf`, as PyTorch).
    recip, "recip", Op::Recip, |x| T::ONE / x;
    /// The logistic function `1 / (1 + e^-x)`, computed without overflow.
    sigmoid, "sigmoid", Op::Sigmoid, |x| {
        if x >= T::ZERO { T::ONE / (T::ONE + (-x).exp()) } else { let e = x.exp(); e / (T::ONE + e) }
    };
    /// `max(x, 0)`, as `torch.relu`: NaN stays NaN (and passes its gradient through), -0
    /// stays -0, and the gradient at exactly 0 is 0.
    relu, "relu", Op::Relu, |x| if x < T::ZERO { T::ZERO } else { x };
    /// The error function.
    erf, "erf", Op::Erf, |x| x.erf();
}

impl Tensor {
    /// `x * mul + add` in one pass.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        let (m32, a32) = (mul as f32, add as f32);
        self.map_float(
            "affine",
            Some(Op::Affine { mul, add }),
            move |x| x * m32 + a32,
            move |x| x * mul + add,
        )
    }
    /// `x + s`
    pub fn add_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, s)
    }
    /// `x - s`
    pub fn sub_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0, -s)
    }
    /// `s - x` in one op, as NumPy's `s - x` or `torch.rsub(x, s)` (bitwise `s - x`: the
    /// negation is exact).
    pub fn rsub_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(-1.0, s)
    }
    /// `x * s`
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// `x / s`
    pub fn div_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0 / s, 0.0)
    }
    /// `x^e` for a constant exponent.
    ///
    /// The gradient is `e x^(e-1)`, except that it is 0 everywhere when `e == 0` (also at
    /// `x = 0`, where the formula would give `0 * inf`), as PyTorch's `pow(x, 0.0)`. At `x = 0`
    /// with `0 < e < 1` it is `inf`, with `e < 0` `-inf`, as PyTorch.
    pub fn powf(&self, e: f64) -> Result<Tensor> {
        let e32 = e as f32;
        if e == 2.0 {
            return self.map_float("powf", Some(Op::PowF { e }), |x| x * x, |x| x * x);
        }
        self.map_float(
            "powf",
            Some(Op::PowF { e }),
            move |x| x.powf(e32),
            move |x| x.powf(e),
        )
    }
    /// `x * x`
    pub fn sqr(&self) -> Result<Tensor> {
        self.powf(2.0)
    }
    /// Limits every element to `[min, max]`, as `torch.clamp(x, min, max)` with scalar bounds:
    /// `min(max(x, min), max)`, so when `min > max` every element is `max` (PyTorch's result;
    /// not an error). NaN in `x` or a NaN bound gives NaN. Use infinities for one-sided clamps.
    ///
    /// The gradient is 1 strictly inside `(min, max)` and 0 at the bounds and beyond, as
    /// PyTorch 2.15 measured (`clamp([0, 0.5, 1], 0, 1)` has gradient `[0, 1, 0]`); an
    /// infinite bound counts as no bound (`clamp(inf, 0, inf)` has gradient 1, like
    /// `clamp(min=0)`).
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        fn f<T: Float>(x: T, lo: T, hi: T) -> T {
            let y = if lo.is_nan_() || x < lo { lo } else { x };
            if hi.is_nan_() || y > hi {
                hi
            } else {
                y
            }
        }
        let (lo, hi) = (min as f32, max as f32);
        self.map_float(
            "clamp",
            Some(Op::Clamp { min, max }),
            move |x| f(x, lo, hi),
            move |x| f(x, min, max),
        )
    }
    /// `x` for `x > 0`, else `slope * x`; the gradient at 0 (and at NaN) is `slope`, as
    /// PyTorch's `leaky_relu`.
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        let s32 = slope as f32;
        self.map_float(
            "leaky_relu",
            Some(Op::LeakyRelu { slope }),
            move |x| if x > 0.0 { x } else { x * s32 },
            move |x| if x > 0.0 { x } else { x * slope },
        )
    }
    /// GELU, exact form `x * Φ(x) = 0.5 x (1 + erf(x / √2))`.
    pub fn gelu(&self) -> Result<Tensor> {
        fn f<T: Float>(x: T) -> T {
            let c = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
            let half = T::from_f64(0.5);
            x * ((x * c).erf() + T::ONE) * half
        }
        // f32: the vectorizable erf (see `cpu::fast_math`)
        self.map_float(
            "gelu",
            Some(Op::Gelu),
            crate::cpu::fast_math::gelu,
            f::<f64>,
        )
    }

    /// `g · gelu'(x)` for the output gradient `g` and the output `y = gelu(x)` (one pass,
    /// into `g`'s buffer when it is private): `gelu'(x) = Φ(x) + x φ(x)` with the standard
    /// normal's distribution Φ, taken as `y / x` (no second erf), and density φ.
    pub(crate) fn gelu_backward(mut self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        fn d<T: Float>(g: T, x: T, y: T) -> T {
            let half = T::from_f64(0.5);
            let inv_sqrt_2pi = T::from_f64(
                0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2,
            );
            let cdf = if x == T::ZERO {
                half
            } else if x.is_finite_() && y.is_finite_() {
                y / x
            } else {
                let c = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
                ((x * c).erf() + T::ONE) * half
            };
            let pdf = (-(x * x) * half).exp() * inv_sqrt_2pi;
            g * (cdf + x * pdf)
        }
        fn typed<T: Float + StorageElem>(
            g: &mut Tensor,
            x: &Tensor,
            y: &Tensor,
            d: impl Fn(T, T, T) -> T + Sync,
        ) -> Result<()> {
            let (x, y) = (x.data::<T>()?, y.data::<T>()?);
            elementwise::zip3_in_place(g.make_mut::<T>()?, &x, &y, d);
            Ok(())
        }
        if self.shape() != x.shape() || self.dtype() != x.dtype() || y.shape() != x.shape() {
            return Err(Error::shape(
                "gelu",
                format!(
                    "gradient {} for input {}",
                    fmt_shape(self.shape()),
                    fmt_shape(x.shape())
                ),
            ));
        }
        match self.dtype() {
            // f32: the vectorizable form (see `cpu::fast_math`)
            DType::F32 => typed::<f32>(&mut self, x, y, crate::cpu::fast_math::gelu_grad)?,
            DType::F64 => typed::<f64>(&mut self, x, y, d::<f64>)?,
            DType::I64 => return Err(Error::dtype("gelu", "needs a float tensor, got i64")),
        }
        Ok(self)
    }
    /// GELU, tanh approximation `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let inner = self
            .add(&self.powf(3.0)?.mul_scalar(0.044715)?)?
            .mul_scalar(c)?;
        self.mul(&inner.tanh()?.add_scalar(1.0)?)?.mul_scalar(0.5)
    }
    /// SiLU (swish): `x * sigmoid(x)`.
    pub fn silu(&self) -> Result<Tensor> {
        self.mul(&self.sigmoid()?)
    }
    /// Softplus `log(1 + e^x)`, PyTorch's `softplus(x)` (beta 1, threshold 20): see
    /// [`Tensor::softplus_with`].
    pub fn softplus(&self) -> Result<Tensor> {
        self.softplus_with(1.0, 20.0)
    }
    /// Softplus with PyTorch's parameters, `torch.nn.functional.softplus(x, beta, threshold)`:
    /// `log(1 + e^(beta x)) / beta`, or `x` itself where `beta x > threshold` (a threshold of
    /// `inf` never switches). Computed with `log1p`, so tiny values stay accurate
    /// (`softplus(-38) = 3.14e-17`, not 0), and without overflow for large `beta x`.
    ///
    /// The gradient is `sigmoid(beta x)` (0.5 at `x = 0`), or 1 where `beta x > threshold`.
    /// Fails on an i64 tensor.
    pub fn softplus_with(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        fn f<T: Float>(x: T, beta: T, thr: T) -> T {
            let bx = x * beta;
            if bx > thr {
                return x;
            }
            let e = bx.exp();
            if e.is_finite_() {
                e.ln_1p() / beta
            } else {
                // beta x is so large that e^(beta x) overflows (only with a huge threshold)
                (bx + (-bx).exp().ln_1p()) / beta
            }
        }
        let (b32, t32) = (beta as f32, threshold as f32);
        self.map_float(
            "softplus",
            Some(Op::Softplus { beta, threshold }),
            move |x| f(x, b32, t32),
            move |x| f(x, beta, threshold),
        )
    }
    /// -1, 0 or 1 by the sign of each element (not differentiable).
    pub fn sign(&self) -> Result<Tensor> {
        fn f<T: Float>(x: T) -> T {
            if x > T::ZERO {
                T::ONE
            } else if x < T::ZERO {
                -T::ONE
            } else {
                T::ZERO
            }
        }
        self.map_float("sign", None, f::<f32>, f::<f64>)
    }
    /// 1 where the element is finite, else 0 (not differentiable).
    pub fn isfinite(&self) -> Result<Tensor> {
        fn f<T: Float>(x: T) -> T {
            if x.is_finite_() {
                T::ONE
            } else {
                T::ZERO
            }
        }
        self.map_float("isfinite", None, f::<f32>, f::<f64>)
    }

    /// Converts to another dtype (float to i64 truncates toward zero).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        fn conv<S: StorageElem, D: StorageElem>(t: &Tensor) -> Result<Storage> {
            let src = t.data::<S>()?;
            let mut out = take_buffer::<D>(src.len());
            elementwise::map(&src, &mut out, |x: S| D::from_f64(x.to_f64()));
            Ok(D::into_storage(out))
        }
        let s = match (self.dtype(), dtype) {
            (DType::F32, DType::F64) => {
                let src = self.data::<f32>()?;
                let mut out = take_buffer::<f64>(src.len());
                elementwise::map(&src, &mut out, |x: f32| x as f64);
                Storage::F64(out)
            }
            (DType::F64, DType::F32) => {
                let src = self.data::<f64>()?;
                let mut out = take_buffer::<f32>(src.len());
                elementwise::map(&src, &mut out, |x: f64| x as f32);
                Storage::F32(out)
            }
            (DType::F32, DType::I64) => conv::<f32, i64>(self)?,
            (DType::F64, DType::I64) => conv::<f64, i64>(self)?,
            (DType::I64, DType::F32) => conv::<i64, f32>(self)?,
            (DType::I64, DType::F64) => conv::<i64, f64>(self)?,
            _ => return Ok(self.clone()),
        };
        if dtype.is_float() && self.dtype().is_float() {
            Ok(Tensor::from_op(s, self.shape(), Op::Cast, &[self]))
        } else {
            Ok(Tensor::from_storage(s, self.shape()))
        }
    }
}
