//! Elementwise ops of two tensors with NumPy broadcasting, comparisons, and `where`.

use super::Op;
use crate::cpu::elementwise::{zip_broadcast, zip_in_place};
use crate::dtype::{DType, Float};
use crate::layout::{broadcast_dims as broadcast_shapes, fmt_shape};
use crate::storage::{Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::cmp::Ordering;

/// ReLU's backward at one element: `g` where the input `x > 0` or is NaN (which passes its
/// gradient, as PyTorch's `threshold_backward`), else 0.
fn relu_mask<T: Float>(g: T, x: T) -> T {
    if x <= T::ZERO {
        T::ZERO
    } else {
        g
    }
}

macro_rules! binary_ops {
    ($($(#[$m:meta])* $fn:ident, $name:literal, $op:expr, |$x:ident, $y:ident| $body:expr;)*) => {
        impl Tensor {
            $(
                $(#[$m])*
                ///
                /// Broadcasts like NumPy. Fails when the shapes cannot be broadcast or the
                /// dtypes differ (the message names both shapes).
                pub fn $fn(&self, rhs: &Tensor) -> Result<Tensor> {
                    fn f<T: Float>($x: T, $y: T) -> T { $body }
                    self.binary_float($name, $op, rhs, f::<f32>, f::<f64>)
                }
            )*
        }
    };
}

binary_ops! {
    /// `a + b`
    add, "add", Op::Add, |x, y| x + y;
    /// `a - b`
    sub, "sub", Op::Sub, |x, y| x - y;
    /// `a * b`
    mul, "mul", Op::Mul, |x, y| x * y;
    /// `a / b`
    div, "div", Op::Div, |x, y| x / y;
    /// The larger of each pair (NaN propagates). The gradient goes to the larger side; at a
    /// tie each side gets half; where either side is NaN both get all of it (`torch.maximum`).
    maximum, "maximum", Op::Maximum, |x, y| x.max_(y);
    /// The smaller of each pair (NaN propagates), with the gradient rules of
    /// [`Tensor::maximum`] mirrored (`torch.minimum`).
    minimum, "minimum", Op::Minimum, |x, y| x.min_(y);
    /// `a ^ b` elementwise. Gradients as PyTorch's: w.r.t. `a` it is `b a^(b-1)`, but 0 where
    /// `b == 0`; w.r.t. `b` it is `a^b ln a`, but 0 where `a == 0` and `b >= 0` (so
    /// `pow(0, 0)` and `pow(0, 2)` have gradient 0, `pow(0, -1)` has `-inf`), and NaN for a
    /// negative `a`.
    pow, "pow", Op::Pow, |x, y| x.powf(y);
}

impl Tensor {
    /// `f(self, rhs)` element by element with broadcasting, for the float dtypes: the values
    /// and the broadcast shape, recorded nowhere.
    fn zip_float(
        &self,
        name: &'static str,
        rhs: &Tensor,
        f32f: impl Fn(f32, f32) -> f32 + Sync + Copy,
        f64f: impl Fn(f64, f64) -> f64 + Sync + Copy,
    ) -> Result<(Storage, crate::layout::Dims)> {
        self.check_same_dtype(name, rhs)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        let s = match self.dtype() {
            DType::F32 => Storage::F32(zip_broadcast(self, rhs, &shape, f32f)?),
            DType::F64 => Storage::F64(zip_broadcast(self, rhs, &shape, f64f)?),
            DType::I64 => return Err(Error::dtype(name, "needs float tensors, got i64")),
        };
        Ok((s, shape))
    }

    fn binary_float(
        &self,
        name: &'static str,
        op: Op,
        rhs: &Tensor,
        f32f: impl Fn(f32, f32) -> f32 + Sync + Copy,
        f64f: impl Fn(f64, f64) -> f64 + Sync + Copy,
    ) -> Result<Tensor> {
        let (s, shape) = self.zip_float(name, rhs, f32f, f64f)?;
        Ok(Tensor::from_op(s, &shape, op, &[self, rhs]))
    }

    /// `f(self, y)` element by element (broadcast as `mul` would), recorded nowhere: a
    /// first-order backward rule in one pass, with the roundings of the composed ops it
    /// replaces (the caller writes `f` as those ops compute).
    pub(crate) fn zip_rule(
        &self,
        name: &'static str,
        y: &Tensor,
        f32f: impl Fn(f32, f32) -> f32 + Sync + Copy,
        f64f: impl Fn(f64, f64) -> f64 + Sync + Copy,
    ) -> Result<Tensor> {
        let (s, shape) = self.zip_float(name, y, f32f, f64f)?;
        Ok(Tensor::from_storage(s, &shape))
    }

    /// `g` where `x > 0` or NaN, else 0: ReLU's backward in one pass (not differentiable itself).
    pub(crate) fn relu_backward(&self, x: &Tensor) -> Result<Tensor> {
        self.zip_rule("relu_backward", x, relu_mask::<f32>, relu_mask::<f64>)
    }

    /// [`Tensor::relu_backward`] written over `self` when nothing else holds it (see
    /// [`Tensor::is_private`]) and `x` has its shape: the same values without a new buffer.
    pub(crate) fn relu_backward_into(mut self, x: &Tensor) -> Result<Tensor> {
        fn relu_backward_into_typed<T: Float + StorageElem>(
            g: &mut Tensor,
            x: &Tensor,
        ) -> Result<()> {
            let x = x.data::<T>()?;
            zip_in_place(g.make_mut::<T>()?, &x, relu_mask::<T>);
            Ok(())
        }
        if self.shape() != x.shape() || self.dtype() != x.dtype() || !self.is_private() {
            return self.relu_backward(x);
        }
        match self.dtype() {
            DType::F32 => relu_backward_into_typed::<f32>(&mut self, x)?,
            DType::F64 => relu_backward_into_typed::<f64>(&mut self, x)?,
            DType::I64 => return self.relu_backward(x),
        }
        Ok(self)
    }

    fn compare(
        &self,
        name: &'static str,
        rhs: &Tensor,
        pred: fn(Option<Ordering>) -> bool,
    ) -> Result<Tensor> {
        self.check_same_dtype(name, rhs)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        // compared in the dtype itself: no conversion, and exact for i64 beyond 2^53
        fn compare_typed<T: StorageElem + PartialOrd>(
            a: &Tensor,
            b: &Tensor,
            shape: &[usize],
            pred: fn(Option<Ordering>) -> bool,
        ) -> Result<Storage> {
            let v = zip_broadcast::<T, T, _>(a, b, shape, move |x, y| {
                if pred(x.partial_cmp(&y)) {
                    T::ONE
                } else {
                    T::ZERO
                }
            })?;
            Ok(T::into_storage(v))
        }
        let s = match self.dtype() {
            DType::F32 => compare_typed::<f32>(self, rhs, &shape, pred)?,
            DType::F64 => compare_typed::<f64>(self, rhs, &shape, pred)?,
            DType::I64 => compare_typed::<i64>(self, rhs, &shape, pred)?,
        };
        Ok(Tensor::from_storage(s, &shape))
    }

    fn compare_scalar(
        &self,
        name: &'static str,
        s: f64,
        pred: fn(Option<Ordering>) -> bool,
    ) -> Result<Tensor> {
        let rhs = Tensor::full(s, &[], self.dtype());
        self.compare(name, &rhs, pred)
    }
}

macro_rules! compare_ops {
    ($($fn:ident, $sfn:ident, $name:literal, $pred:expr;)*) => {
        impl Tensor {
            $(
                /// Elementwise comparison giving a mask of 1s and 0s in the same dtype
                /// (broadcasting; not differentiable).
                pub fn $fn(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.compare($name, rhs, $pred)
                }
                /// Comparison with a scalar, giving a mask of 1s and 0s in the same dtype.
                pub fn $sfn(&self, s: f64) -> Result<Tensor> {
                    self.compare_scalar($name, s, $pred)
                }
            )*
        }
    };
}

compare_ops! {
    eq, eq_scalar, "eq", |o| o == Some(Ordering::Equal);
    ne, ne_scalar, "ne", |o| o != Some(Ordering::Equal);
    lt, lt_scalar, "lt", |o| o == Some(Ordering::Less);
    le, le_scalar, "le", |o| matches!(o, Some(Ordering::Less | Ordering::Equal));
    gt, gt_scalar, "gt", |o| o == Some(Ordering::Greater);
    ge, ge_scalar, "ge", |o| matches!(o, Some(Ordering::Greater | Ordering::Equal));
}

impl Tensor {
    /// `value` where `mask` is nonzero, `self` elsewhere, as `torch.masked_fill` (nabla has
    /// no bool dtype: the mask is i64 0/1, or any dtype, nonzero meaning fill). The mask
    /// broadcasts to `self`'s shape, which is the result's. Differentiable in `self`, with
    /// gradient 0 where filled.
    ///
    /// Fails when the mask does not broadcast to `self`'s shape.
    /// ```
    /// use nabla_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    /// let m = Tensor::from_vec(vec![0i64, 1, 0], &[3]).unwrap();
    /// let y = x.masked_fill(&m, f64::NEG_INFINITY).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), [1.0, f32::NEG_INFINITY, 3.0]);
    /// ```
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let fits = broadcast_shapes("masked_fill", self.shape(), mask.shape())
            .is_ok_and(|s| s.as_slice() == self.shape());
        if !fits {
            return Err(Error::shape(
                "masked_fill",
                format!(
                    "mask {} does not broadcast to the input's shape {}",
                    fmt_shape(mask.shape()),
                    fmt_shape(self.shape())
                ),
            ));
        }
        Tensor::where_cond(mask, &Tensor::full(value, &[], self.dtype()), self)
    }

    /// `mask ? a : b` elementwise, broadcasting all three (`mask` is nonzero for true and may
    /// have any dtype). Differentiable in `a` and `b`.
    pub fn where_cond(mask: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.check_same_dtype("where", b)?;
        let shape = broadcast_shapes("where", a.shape(), b.shape())?;
        let shape = broadcast_shapes("where", mask.shape(), &shape)?;
        let m: Vec<bool> = {
            let lm = mask.layout().broadcast_to("where", &shape)?;
            let mut v = Vec::with_capacity(lm.numel());
            let mut push = |x: f64| v.push(x != 0.0);
            match mask.dtype() {
                DType::F32 => {
                    let s = mask.typed_storage::<f32>();
                    lm.for_each_offset(|o| push(s[o] as f64));
                }
                DType::F64 => {
                    let s = mask.typed_storage::<f64>();
                    lm.for_each_offset(|o| push(s[o]));
                }
                DType::I64 => {
                    let s = mask.typed_storage::<i64>();
                    lm.for_each_offset(|o| push(s[o] as f64));
                }
            }
            v
        };
        fn where_cond_typed<T: StorageElem>(
            m: &[bool],
            a: &Tensor,
            b: &Tensor,
            shape: &[usize],
        ) -> Result<Storage> {
            let ga = a.broadcast_to(shape)?.data_pooled::<T>()?;
            let bb = b.broadcast_to(shape)?;
            let gb = bb.data::<T>()?;
            let mut out = ga;
            for ((o, &mm), &y) in out.iter_mut().zip(m).zip(gb.iter()) {
                if !mm {
                    *o = y;
                }
            }
            Ok(T::into_storage(out))
        }
        let s = match a.dtype() {
            DType::F32 => where_cond_typed::<f32>(&m, a, b, &shape)?,
            DType::F64 => where_cond_typed::<f64>(&m, a, b, &shape)?,
            DType::I64 => where_cond_typed::<i64>(&m, a, b, &shape)?,
        };
        Ok(Tensor::from_op(s, &shape, Op::Where, &[mask, a, b]))
    }
}

impl std::ops::Add for &Tensor {
    type Output = Result<Tensor>;
    fn add(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::add(self, rhs)
    }
}
impl std::ops::Sub for &Tensor {
    type Output = Result<Tensor>;
    fn sub(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::sub(self, rhs)
    }
}
impl std::ops::Mul for &Tensor {
    type Output = Result<Tensor>;
    fn mul(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::mul(self, rhs)
    }
}
impl std::ops::Div for &Tensor {
    type Output = Result<Tensor>;
    fn div(self, rhs: &Tensor) -> Result<Tensor> {
        Tensor::div(self, rhs)
    }
}
impl std::ops::Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
impl std::ops::Add<f64> for &Tensor {
    type Output = Result<Tensor>;
    fn add(self, rhs: f64) -> Result<Tensor> {
        self.add_scalar(rhs)
    }
}
impl std::ops::Sub<f64> for &Tensor {
    type Output = Result<Tensor>;
    fn sub(self, rhs: f64) -> Result<Tensor> {
        self.sub_scalar(rhs)
    }
}
/// `s - x`, one op ([`Tensor::rsub_scalar`]).
impl std::ops::Sub<&Tensor> for f64 {
    type Output = Result<Tensor>;
    fn sub(self, rhs: &Tensor) -> Result<Tensor> {
        rhs.rsub_scalar(self)
    }
}
impl std::ops::Mul<f64> for &Tensor {
    type Output = Result<Tensor>;
    fn mul(self, rhs: f64) -> Result<Tensor> {
        self.mul_scalar(rhs)
    }
}
impl std::ops::Div<f64> for &Tensor {
    type Output = Result<Tensor>;
    fn div(self, rhs: f64) -> Result<Tensor> {
        self.div_scalar(rhs)
    }
}
