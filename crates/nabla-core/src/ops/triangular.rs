//! `tril` and `triu`: the lower or upper triangle of the last two dims, the rest zeroed. One
//! primitive that copies and zeroes (no mask tensor is built); it is linear and its own
//! adjoint, so its rule is the same op on the gradient.

use super::Op;
use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Elements below which the zeroing stays on the calling thread.
const PAR_ELEMS: usize = 1 << 15;

/// Zeroes, in each `[r, c]` matrix of `v`, what lies outside the triangle.
fn zero_outside<T: StorageElem>(v: &mut [T], r: usize, c: usize, diagonal: i64, upper: bool) {
    let rows = v.len().checked_div(c).unwrap_or(0);
    if rows == 0 {
        return;
    }
    let shared = SharedMut::new(v);
    let run = |rs: std::ops::Range<usize>| {
        for row in rs {
            // the columns kept: j <= i + diagonal (tril), j >= i + diagonal (triu)
            let edge = (row % r) as i64 + diagonal;
            let zeros = if upper {
                0..edge.clamp(0, c as i64) as usize
            } else {
                (edge + 1).clamp(0, c as i64) as usize..c
            };
            // SAFETY: rows are disjoint.
            let d = unsafe { shared.range(row * c + zeros.start..row * c + zeros.end) };
            d.fill(T::ZERO);
        }
    };
    if rows > 1 && rows * c >= PAR_ELEMS {
        for_ranges(rows, 1, run);
    } else {
        run(0..rows);
    }
}

impl Tensor {
    /// The lower triangle of the last two dims, as `torch.tril`: element `(i, j)` is kept
    /// where `j - i <= diagonal`, zeroed elsewhere (`diagonal` 0: the main diagonal, > 0
    /// above it, < 0 below; beyond the matrix it keeps all or nothing). Differentiable (the
    /// gradient is the same triangle of the output's gradient).
    ///
    /// Fails when the rank is below 2.
    pub fn tril(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle("tril", diagonal, false)
    }

    /// The upper triangle of the last two dims, as `torch.triu`: element `(i, j)` is kept
    /// where `j - i >= diagonal`, zeroed elsewhere. Differentiable.
    ///
    /// Fails when the rank is below 2.
    pub fn triu(&self, diagonal: i64) -> Result<Tensor> {
        self.triangle("triu", diagonal, true)
    }

    pub(crate) fn triangle(
        &self,
        name: &'static str,
        diagonal: i64,
        upper: bool,
    ) -> Result<Tensor> {
        let rank = self.rank();
        if rank < 2 {
            return Err(Error::shape(
                name,
                format!(
                    "the input must have at least 2 dims; got {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let (r, c) = (self.shape()[rank - 2], self.shape()[rank - 1]);
        fn run<T: StorageElem>(
            t: &Tensor,
            r: usize,
            c: usize,
            diag: i64,
            up: bool,
        ) -> Result<Storage> {
            let mut v = t.data_pooled::<T>()?;
            zero_outside(&mut v, r, c, diag, up);
            Ok(T::into_storage(v))
        }
        let s = match self.dtype() {
            DType::F32 => run::<f32>(self, r, c, diagonal, upper)?,
            DType::F64 => run::<f64>(self, r, c, diagonal, upper)?,
            DType::I64 => run::<i64>(self, r, c, diagonal, upper)?,
        };
        let op = Op::Triangle { diagonal, upper };
        Ok(Tensor::from_op(s, self.shape(), op, &[self]))
    }
}
