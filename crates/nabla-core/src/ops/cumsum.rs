//! Cumulative sums along a dim (`torch.cumsum`), one primitive whose rule is the cumulative
//! sum of the gradient in the other direction (so gradients of gradients come free).

use super::Op;
use crate::dtype::DType;
use crate::layout::wrap_dim;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::Result;

/// Elements below which the sums stay on the calling thread.
const PAR_ELEMS: usize = 1 << 15;

/// The running sums over `[outer, n, inner]` data, forward or from the end, accumulated in
/// `A` (f64 for floats, as PyTorch's CPU kernel accumulates f32 in double; i64 wrapping).
fn scan<T: StorageElem, A: Copy + Send + Sync>(
    src: &[T],
    (outer, n, inner): (usize, usize, usize),
    reverse: bool,
    zero: A,
    add: impl Fn(A, T) -> A + Sync,
    cast: impl Fn(A) -> T + Sync,
) -> Vec<T> {
    let mut out = take_buffer::<T>(src.len());
    let block = n * inner;
    if block == 0 {
        return out;
    }
    let dst = SharedMut::new(&mut out);
    let run = |os: std::ops::Range<usize>| {
        let mut acc = vec![zero; inner];
        for o in os {
            // SAFETY: outer blocks are disjoint.
            let d = unsafe { dst.range(o * block..(o + 1) * block) };
            let s = &src[o * block..(o + 1) * block];
            acc.iter_mut().for_each(|a| *a = zero);
            for step in 0..n {
                let j = if reverse { n - 1 - step } else { step };
                let (sr, dr) = (
                    &s[j * inner..(j + 1) * inner],
                    &mut d[j * inner..(j + 1) * inner],
                );
                for ((a, &x), y) in acc.iter_mut().zip(sr).zip(dr) {
                    *a = add(*a, x);
                    *y = cast(*a);
                }
            }
        }
    };
    if outer > 1 && src.len() >= PAR_ELEMS {
        for_ranges(outer, 1, run);
    } else {
        run(0..outer);
    }
    out
}

impl Tensor {
    /// Cumulative sums along `dim`, as `torch.cumsum`: `out[.., i, ..] = Σ_{j <= i} x[.., j, ..]`.
    /// f32 sums are accumulated in f64 (as PyTorch's CPU kernel); i64 sums wrap on overflow.
    /// Differentiable for floats (the gradient is the cumulative sum of the output's gradient
    /// from the end). A 0-d tensor accepts dim 0 and -1 and is its own sum.
    ///
    /// Fails when `dim` is out of range.
    /// ```
    /// use nabla_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap();
    /// assert_eq!(x.cumsum(0).unwrap().to_vec::<f64>().unwrap(), [1.0, 3.0, 6.0]);
    /// ```
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        let d = wrap_dim("cumsum", dim, self.rank())?;
        self.cumsum_dir(d, false)
    }

    /// The running sums along `d` from the start, or from the end (`reverse`).
    pub(crate) fn cumsum_dir(&self, d: usize, reverse: bool) -> Result<Tensor> {
        let sh = self.shape();
        let dims = if sh.is_empty() {
            (1, 1, 1)
        } else {
            (
                sh[..d].iter().product(),
                sh[d],
                sh[d + 1..].iter().product(),
            )
        };
        let s = match self.dtype() {
            DType::F32 => f32::into_storage(scan(
                &self.data::<f32>()?,
                dims,
                reverse,
                0.0f64,
                |a, x| a + x as f64,
                |a| a as f32,
            )),
            DType::F64 => f64::into_storage(scan(
                &self.data::<f64>()?,
                dims,
                reverse,
                0.0f64,
                |a, x| a + x,
                |a| a,
            )),
            DType::I64 => {
                let v = scan(
                    &self.data::<i64>()?,
                    dims,
                    reverse,
                    0i64,
                    i64::wrapping_add,
                    |a| a,
                );
                return Ok(Tensor::from_storage(Storage::I64(v), sh));
            }
        };
        Ok(Tensor::from_op(
            s,
            sh,
            Op::Cumsum { dim: d, reverse },
            &[self],
        ))
    }
}
