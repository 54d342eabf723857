//! Matrix products with `torch.matmul` semantics: the operands' shapes checked, 1-d operands
//! promoted, batch dims broadcast, the op recorded; [`crate::cpu::matmul`] computes them.

use super::Op;
use crate::cpu::matmul::gemm_batches;
use crate::dtype::DType;
use crate::layout::{broadcast_dims, fmt_shape};
use crate::storage::Storage;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Matrix product with `torch.matmul` semantics: 1-d operands are promoted (and the added
    /// dim removed again), batch dims broadcast.
    ///
    /// Fails when the inner dims differ: `matmul: lhs [2, 3] and rhs [4, 5] do not fit (3 != 4)`.
    /// ```
    /// use nabla_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![1.0f32, 0.0], &[2]).unwrap();
    /// assert_eq!(a.matmul(&b).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 3.0]);
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (ra, rb) = (self.rank(), rhs.rank());
        let misfit = |ka: usize, kb: usize| {
            Error::shape(
                "matmul",
                format!(
                    "lhs {} and rhs {} do not fit ({ka} != {kb})",
                    fmt_shape(self.shape()),
                    fmt_shape(rhs.shape())
                ),
            )
        };
        if ra == 0 || rb == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "both operands need at least 1 dim, got lhs {} and rhs {}",
                    fmt_shape(self.shape()),
                    fmt_shape(rhs.shape())
                ),
            ));
        }
        self.check_same_dtype("matmul", rhs)?;
        let ka = self.shape()[ra - 1];
        let kb = if rb == 1 {
            rhs.shape()[0]
        } else {
            rhs.shape()[rb - 2]
        };
        if ka != kb {
            return Err(misfit(ka, kb));
        }
        match (ra, rb) {
            (1, 1) => self.unsqueeze(0)?.matmul(&rhs.unsqueeze(1)?)?.reshape(&[]),
            (1, _) => self.unsqueeze(0)?.matmul(rhs)?.squeeze(-2),
            (_, 1) => self.matmul(&rhs.unsqueeze(1)?)?.squeeze(-1),
            _ => {
                let batch =
                    broadcast_dims("matmul", &self.shape()[..ra - 2], &rhs.shape()[..rb - 2])
                        .map_err(|_| {
                            Error::shape(
                                "matmul",
                                format!(
                                    "batch dims of lhs {} and rhs {} cannot be broadcast",
                                    fmt_shape(self.shape()),
                                    fmt_shape(rhs.shape())
                                ),
                            )
                        })?;
                let (m, n) = (self.shape()[ra - 2], rhs.shape()[rb - 1]);
                // two matrices are multiplied as they are, with no broadcast views
                let (a_view, b_view);
                let (a, b) = if ra == 2 && rb == 2 {
                    (self, rhs)
                } else {
                    let mut sa = batch.clone();
                    sa.extend([m, ka]);
                    let mut sb = batch.clone();
                    sb.extend([kb, n]);
                    a_view = self.broadcast_to(&sa)?;
                    b_view = rhs.broadcast_to(&sb)?;
                    (&a_view, &b_view)
                };
                let s = match self.dtype() {
                    DType::F32 => Storage::F32(gemm_batches::<f32>(a, b, &batch, m, ka, n)),
                    DType::F64 => Storage::F64(gemm_batches::<f64>(a, b, &batch, m, ka, n)),
                    DType::I64 => {
                        return Err(Error::dtype("matmul", "needs float tensors, got i64"))
                    }
                };
                let mut shape = batch;
                shape.extend([m, n]);
                Ok(Tensor::from_op(s, &shape, Op::Matmul, &[a, b]))
            }
        }
    }

    /// A linear map, PyTorch's `F.linear`: `self [.., in] @ weightᵀ + bias` with `weight`
    /// `[out, in]` and `bias` `[out]`, giving `[.., out]`. With a bias it is one primitive
    /// (the product, then the bias added in place), so the product without the bias is not
    /// kept for the backward pass as `matmul` followed by `add` would keep it.
    ///
    /// Fails when `self` has no dims, `weight` is not `[out, in]` with `in` the last dim of
    /// `self`, `bias` is not `[out]`, or the dtypes differ.
    /// ```
    /// use nabla_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 2]).unwrap();
    /// let w = Tensor::from_vec(vec![1.0f32, 1.0, 0.0, 3.0], &[2, 2]).unwrap();
    /// let b = Tensor::from_vec(vec![0.5f32, -1.0], &[2]).unwrap();
    /// assert_eq!(x.linear(&w, Some(&b)).unwrap().to_vec::<f32>().unwrap(), vec![3.5, 5.0]);
    /// ```
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let r = self.rank();
        let fits = r >= 1 && weight.rank() == 2 && weight.shape()[1] == self.shape()[r - 1];
        if !fits {
            return Err(Error::shape(
                "linear",
                format!(
                    "input {} and weight {} do not fit (weight must be [out, {}])",
                    fmt_shape(self.shape()),
                    fmt_shape(weight.shape()),
                    self.shape().last().copied().unwrap_or(0)
                ),
            ));
        }
        let (k, n) = (weight.shape()[1], weight.shape()[0]);
        let mut out_shape = self.shape().to_vec();
        out_shape[r - 1] = n;
        let Some(bias) = bias else {
            let rows = self.numel() / k.max(1);
            return self
                .reshape(&[rows, k])?
                .matmul(&weight.t()?)?
                .reshape(&out_shape);
        };
        if bias.shape() != [n] {
            return Err(Error::shape(
                "linear",
                format!(
                    "bias {} must be [{n}] for weight {}",
                    fmt_shape(bias.shape()),
                    fmt_shape(weight.shape())
                ),
            ));
        }
        self.check_same_dtype("linear", weight)?;
        self.check_same_dtype("linear", bias)?;
        let m = self.numel() / k.max(1);
        let a = self.reshape(&[m, k])?;
        let b = weight.t()?;
        let s = match self.dtype() {
            DType::F32 => Storage::F32(with_bias::<f32>(&a, &b, bias, m, k, n)?),
            DType::F64 => Storage::F64(with_bias::<f64>(&a, &b, bias, m, k, n)?),
            DType::I64 => return Err(Error::dtype("linear", "needs float tensors, got i64")),
        };
        Tensor::from_op(s, &[m, n], Op::Linear, &[&a, weight, bias]).reshape(&out_shape)
    }
}

/// `a [m, k] @ b [k, n]` with `bias [n]` added to every row.
fn with_bias<T: crate::storage::StorageElem + crate::dtype::Float>(
    a: &Tensor,
    b: &Tensor,
    bias: &Tensor,
    m: usize,
    k: usize,
    n: usize,
) -> Result<Vec<T>> {
    let mut out = gemm_batches::<T>(a, b, &[], m, k, n);
    let bias = bias.data::<T>()?;
    if n > 0 {
        for row in out.chunks_exact_mut(n) {
            for (o, &c) in row.iter_mut().zip(bias.iter()) {
                *o += c;
            }
        }
    }
    Ok(out)
}
