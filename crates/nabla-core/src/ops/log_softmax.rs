//! Log-softmax as one primitive: `y = x - m - log(sum(exp(x - m)))` per slice along a dim,
//! with `m` the slice's max, as PyTorch's kernel: a slice holding +inf or NaN, or all -inf,
//! is NaN throughout (`x - m` is NaN there), and a -inf element among finite ones gives
//! -inf with gradient `g` (its softmax is 0). Composed of
//! reductions and elementwise ops it took nine forward and as many backward passes over the
//! logits, each a separate tensor; here it is one forward pass per slice and, for a first
//! order gradient, one backward pass `dx = g - exp(y) * sum(g)` (both in
//! [`crate::cpu::log_softmax`]).

use super::Op;
use crate::cpu::log_softmax::{backward, forward, Slices};
use crate::layout::wrap_dim;
use crate::storage::StorageElem;
use crate::{DType, Error, Result, Tensor};

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
