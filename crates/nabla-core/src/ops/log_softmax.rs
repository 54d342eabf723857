//! Log-softmax as one primitive: `y = x - m - log(sum(exp(x - m)))` per slice along a dim,
//! with `m` the slice's max, as PyTorch's kernel: a slice holding +inf or NaN, or all -inf,
//! is NaN throughout (`x - m` is NaN there), and a -inf element among finite ones gives
//! -inf with gradient `g` (its softmax is 0). Composed of
//! reductions and elementwise ops it took nine forward and as many backward passes over the
//! logits, each a separate tensor; here it is one forward pass per slice and, for a first
//! order gradient, one backward pass `dx = g - exp(y) * sum(g)`. Slices are split across
//! threads by whole slices, so results do not depend on the thread count.

use super::Op;
use crate::cpu::elementwise::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::layout::wrap_dim;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use crate::{DType, Error, Result, Tensor};

/// `e^x` for the `x <= 0` (or NaN) that log-softmax exponentiates: f64 from the standard
/// library; f32 by the vectorizable polynomial of the recurrent gates (a few ulp from libm),
/// 0 below -87 where that one clamps (libm's values there are below 1.7e-38, nothing beside
/// a slice's largest term, which is 1).
trait ExpNonPos: Float {
    fn exp_np(self) -> Self;
}

impl ExpNonPos for f64 {
    #[inline(always)]
    fn exp_np(self) -> f64 {
        self.exp()
    }
}

impl ExpNonPos for f32 {
    #[inline(always)]
    fn exp_np(self) -> f32 {
        let e = crate::cpu::recurrent::exp_f32(self);
        if self < -87.0 {
            0.0
        } else {
            e
        }
    }
}

/// A tensor seen as `[outer, len, inner]` around the softmax dim.
#[derive(Clone, Copy)]
struct Slices {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Slices {
    fn of(shape: &[usize], dim: usize) -> Slices {
        if shape.is_empty() {
            // a 0-d tensor is one slice of one element
            return Slices {
                outer: 1,
                len: 1,
                inner: 1,
            };
        }
        Slices {
            outer: shape[..dim].iter().product(),
            len: shape[dim],
            inner: shape[dim + 1..].iter().product(),
        }
    }

    /// Runs `f(o, dst)` for every outer index `o`, `dst` the `[len, inner]` block of `o` in
    /// `out`, split across threads when large.
    fn for_each<T: Send>(&self, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
        let block = self.len * self.inner;
        if block == 0 {
            return;
        }
        let shared = SharedMut::new(out);
        let run = |os: std::ops::Range<usize>| {
            for o in os {
                // SAFETY: outer indices are disjoint, so are their blocks
                f(o, unsafe { shared.range(o * block..(o + 1) * block) });
            }
        };
        if self.outer > 1 && self.outer * block >= PAR_THRESHOLD {
            for_ranges(self.outer, 1, run);
        } else {
            run(0..self.outer);
        }
    }
}

/// `y` from `x`, both `[outer, len, inner]` contiguous.
fn forward<T: ExpNonPos + StorageElem>(x: &[T], s: Slices) -> Vec<T> {
    let mut y = take_buffer::<T>(x.len());
    let block = s.len * s.inner;
    s.for_each(&mut y, |o, dst| {
        let src = &x[o * block..][..block];
        if s.inner == 1 {
            // contiguous slices: the exponentials in one vectorizable pass, then their sum
            let m = slice_max(src.iter().copied());
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v - m).exp_np();
            }
            let sum = dst.iter().fold(T::ZERO, |a, &v| a + v);
            let lse = sum.ln() + m;
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v - lse;
            }
            return;
        }
        for i in 0..s.inner {
            let at = |j: usize| src[j * s.inner + i];
            let m = slice_max((0..s.len).map(at));
            let mut sum = T::ZERO;
            for j in 0..s.len {
                sum += (at(j) - m).exp_np();
            }
            let lse = sum.ln() + m;
            for j in 0..s.len {
                dst[j * s.inner + i] = at(j) - lse;
            }
        }
    });
    y
}

/// The largest value, NaN if any is NaN (-inf for none: an empty slice never gets here).
fn slice_max<T: Float>(vals: impl Iterator<Item = T>) -> T {
    let mut m = T::NEG_INFINITY;
    for v in vals {
        if v.is_nan_() || m.is_nan_() {
            m = if v.is_nan_() { v } else { m };
        } else if v > m {
            m = v;
        }
    }
    m
}

/// `dx = g - exp(y) * sum(g)` per slice, all `[outer, len, inner]` contiguous.
fn backward<T: ExpNonPos + StorageElem>(g: &[T], y: &[T], s: Slices) -> Vec<T> {
    let mut dx = take_buffer::<T>(g.len());
    let block = s.len * s.inner;
    s.for_each(&mut dx, |o, dst| {
        let (g, y) = (&g[o * block..][..block], &y[o * block..][..block]);
        if s.inner == 1 {
            let sg = g.iter().fold(T::ZERO, |a, &v| a + v);
            for ((d, &gv), &yv) in dst.iter_mut().zip(g).zip(y) {
                *d = gv - yv.exp_np() * sg;
            }
            return;
        }
        for i in 0..s.inner {
            let mut sg = T::ZERO;
            for j in 0..s.len {
                sg += g[j * s.inner + i];
            }
            for j in 0..s.len {
                let k = j * s.inner + i;
                dst[k] = g[k] - y[k].exp_np() * sg;
            }
        }
    });
    dx
}

impl Tensor {
    /// Log-softmax along `dim`: `x - logsumexp(x)`, computed stably (the slice's max is
    /// subtracted first). A 0-d tensor accepts dim 0 and -1 (giving 0), as PyTorch. One
    /// primitive with its own rule, `dx = g - softmax(x) * sum(g)`, written in differentiable
    /// ops when a second-order graph is being built and as one fused pass otherwise.
    ///
    /// Fails on an i64 tensor.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim("log_softmax", dim, self.rank())?;
        let s = Slices::of(self.shape(), d);
        let storage = match self.dtype() {
            DType::F32 => f32::into_storage(forward(&self.data::<f32>()?, s)),
            DType::F64 => f64::into_storage(forward(&self.data::<f64>()?, s)),
            DType::I64 => {
                return Err(Error::dtype(
                    "log_softmax",
                    "needs a float tensor, got i64".to_string(),
                ))
            }
        };
        Ok(Tensor::from_op(
            storage,
            self.shape(),
            Op::LogSoftmax { dim: d },
            &[self],
        ))
    }

    /// The first-order gradient of [`Tensor::log_softmax`] along `dim` from its output `y`,
    /// in one pass (not differentiable).
    pub(crate) fn log_softmax_backward(&self, y: &Tensor, dim: usize) -> Result<Tensor> {
        let s = Slices::of(y.shape(), dim);
        let storage = match y.dtype() {
            DType::F64 => f64::into_storage(backward(&self.data::<f64>()?, &y.data::<f64>()?, s)),
            _ => f32::into_storage(backward(&self.data::<f32>()?, &y.data::<f32>()?, s)),
        };
        Ok(Tensor::from_storage(storage, y.shape()))
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Mt19937, Tensor};

    /// f32 (the polynomial `exp`) against f64 (libm), contiguous and strided slices, values
    /// spread enough that some terms fall below e^-87.
    #[test]
    fn f32_is_within_a_few_ulp_of_f64() {
        let x = Tensor::randn(&[40, 65], DType::F64, &mut Mt19937::new(3))
            .unwrap()
            .mul_scalar(30.0)
            .unwrap();
        let x32 = x.to_dtype(DType::F32).unwrap();
        let x64 = x32.to_dtype(DType::F64).unwrap();
        for dim in [1, 0] {
            let want = x64.log_softmax(dim).unwrap().to_vec_f64();
            let got = x32.log_softmax(dim).unwrap().to_vec_f64();
            // y = x - lse loses what f32 cancels: a few ulp of |x| and |lse| = |x - y|
            for ((g, w), xv) in got.iter().zip(&want).zip(x64.to_vec_f64()) {
                let tol = 4.0 * f32::EPSILON as f64 * (1.0 + xv.abs() + (xv - w).abs());
                assert!((g - w).abs() <= tol, "dim {dim}: {g} vs {w} (x {xv})");
            }
        }
    }
}
