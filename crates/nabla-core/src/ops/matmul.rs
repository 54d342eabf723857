//! Matrix products with `torch.matmul` semantics: the operands' shapes checked, 1-d operands
//! promoted, batch dims broadcast, the op recorded; [`crate::cpu::matmul`] computes them.

use super::Op;
use crate::cpu::matmul::gemm_batches;
use crate::dtype::DType;
use crate::layout::{broadcast_shapes, fmt_shape};
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
                    broadcast_shapes("matmul", &self.shape()[..ra - 2], &rhs.shape()[..rb - 2])
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
                let mut sa = batch.clone();
                sa.extend([m, ka]);
                let mut sb = batch.clone();
                sb.extend([kb, n]);
                let a = self.broadcast_to(&sa)?;
                let b = rhs.broadcast_to(&sb)?;
                let s = match self.dtype() {
                    DType::F32 => Storage::F32(gemm_batches::<f32>(&a, &b, &batch, m, ka, n)),
                    DType::F64 => Storage::F64(gemm_batches::<f64>(&a, &b, &batch, m, ka, n)),
                    DType::I64 => {
                        return Err(Error::dtype("matmul", "needs float tensors, got i64"))
                    }
                };
                let mut shape = batch;
                shape.extend([m, n]);
                Ok(Tensor::from_op(s, &shape, Op::Matmul, &[&a, &b]))
            }
        }
    }
}
