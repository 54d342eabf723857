//! Elementwise ops of one tensor: math functions, activations and scalar arithmetic.

use super::kernels;
use super::Op;
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
        fn go<T: StorageElem>(t: &Tensor, f: impl Fn(T) -> T + Sync) -> Result<Storage> {
            let src = t.data::<T>()?;
            let mut out = take_buffer::<T>(src.len());
            kernels::map(&src, &mut out, f);
            Ok(T::into_storage(out))
        }
        let storage = match self.dtype() {
            DType::F32 => go::<f32>(self, f32f)?,
            DType::F64 => go::<f64>(self, f64f)?,
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
    /// Natural logarithm.
    log, "log", Op::Log, |x| x.ln();
    /// Square root.
    sqrt, "sqrt", Op::Sqrt, |x| x.sqrt();
    /// Hyperbolic tangent.
    tanh, "tanh", Op::Tanh, |x| x.tanh();
    /// Sine.
    sin, "sin", Op::Sin, |x| x.sin();
    /// Cosine.
    cos, "cos", Op::Cos, |x| x.cos();
    /// Absolute value (its gradient at 0 is 0, as in PyTorch).
    abs, "abs", Op::Abs, |x| x.abs();
    /// `1 / x`
    recip, "recip", Op::Recip, |x| T::ONE / x;
    /// The logistic function `1 / (1 + e^-x)`, computed without overflow.
    sigmoid, "sigmoid", Op::Sigmoid, |x| {
        if x >= T::ZERO { T::ONE / (T::ONE + (-x).exp()) } else { let e = x.exp(); e / (T::ONE + e) }
    };
    /// `max(x, 0)` (gradient 0 at 0, as in PyTorch).
    relu, "relu", Op::Relu, |x| if x > T::ZERO { x } else { T::ZERO };
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
    /// `x * s`
    pub fn mul_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// `x / s`
    pub fn div_scalar(&self, s: f64) -> Result<Tensor> {
        self.affine(1.0 / s, 0.0)
    }
    /// `x^e` for a constant exponent.
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
    /// Limits every element to `[min, max]` (use infinities for one-sided clamps).
    ///
    /// Fails when `min > max`.
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min > max {
            return Err(Error::arg("clamp", format!("min {min} > max {max}")));
        }
        let (lo, hi) = (min as f32, max as f32);
        self.map_float(
            "clamp",
            Some(Op::Clamp { min, max }),
            move |x| {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            },
            move |x| {
                if x < min {
                    min
                } else if x > max {
                    max
                } else {
                    x
                }
            },
        )
    }
    /// `x` for `x > 0`, else `slope * x`.
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
        let e = self
            .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)?
            .erf()?
            .add_scalar(1.0)?;
        self.mul(&e)?.mul_scalar(0.5)
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
    /// Softplus `log(1 + e^x)`, computed stably as `relu(x) + log(1 + e^-|x|)`.
    pub fn softplus(&self) -> Result<Tensor> {
        self.relu()?
            .add(&self.abs()?.neg()?.exp()?.add_scalar(1.0)?.log()?)
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
            kernels::map(&src, &mut out, |x: S| D::from_f64(x.to_f64()));
            Ok(D::into_storage(out))
        }
        let s = match (self.dtype(), dtype) {
            (DType::F32, DType::F64) => {
                let src = self.data::<f32>()?;
                let mut out = take_buffer::<f64>(src.len());
                kernels::map(&src, &mut out, |x: f32| x as f64);
                Storage::F64(out)
            }
            (DType::F64, DType::F32) => {
                let src = self.data::<f64>()?;
                let mut out = take_buffer::<f32>(src.len());
                kernels::map(&src, &mut out, |x: f64| x as f32);
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
