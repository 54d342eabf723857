//! `topk`: the `k` largest (or smallest) entries along a dim and their indices, as PyTorch's
//! CPU kernel: per slice, `(value, index)` pairs ordered by GNU libstdc++'s `partial_sort`
//! when `64 k <= n`, else its `nth_element` (and `sort` of the first `k - 1` when sorted),
//! with NaN counted larger than every number. Which of several equal values comes first is
//! decided by those algorithms' moves, so the port in [`crate::cpu::std_sort`] gives
//! PyTorch's indices for ties too. The values are `gather`ed at the indices, so their
//! gradient goes to the chosen entries.

use crate::cpu::std_sort;
use crate::dtype::DType;
use crate::layout::{fmt_shape, wrap_dim};
use crate::storage::StorageElem;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// The indices of the top `k` of one slice, in PyTorch's order.
fn top_indices<T: PartialOrd + Copy>(
    row: impl Iterator<Item = T>,
    k: usize,
    largest: bool,
    sorted: bool,
    out: &mut Vec<(T, i64)>,
) {
    #[allow(clippy::eq_op)] // NaN is the only value unequal to itself
    fn nan<T: PartialOrd>(x: &T) -> bool {
        x != x
    }
    out.clear();
    out.extend(row.enumerate().map(|(j, v)| (v, j as i64)));
    let big = |x: &(T, i64), y: &(T, i64)| (nan(&x.0) && !nan(&y.0)) || x.0 > y.0;
    let small = |x: &(T, i64), y: &(T, i64)| (!nan(&x.0) && nan(&y.0)) || x.0 < y.0;
    fn run<E: Copy>(v: &mut [E], k: usize, sorted: bool, comp: impl Fn(&E, &E) -> bool) {
        if k * 64 <= v.len() {
            std_sort::partial_sort(v, k, &comp);
        } else {
            std_sort::nth_element(v, k - 1, &comp);
            if sorted {
                std_sort::sort(&mut v[..k - 1], &comp);
            }
        }
    }
    if largest {
        run(out, k, sorted, big);
    } else {
        run(out, k, sorted, small);
    }
}

impl Tensor {
    /// The `k` largest (`largest`) or smallest entries along `dim`, as `torch.topk`: the
    /// values (differentiable: the gradient goes to the chosen entries) and their indices
    /// (i64), both with `dim` of size `k`. NaN counts as larger than every number. With
    /// `sorted` the values are in order (largest first, or smallest first); equal values come
    /// in the order PyTorch's CPU kernel gives (not necessarily by index). Without `sorted`
    /// the order is PyTorch's too (unspecified there).
    ///
    /// Fails when `k` is larger than the dim's size or `dim` is out of range.
    /// ```
    /// use nabla_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 4.0], &[4]).unwrap();
    /// let (v, i) = x.topk(2, 0, true, true).unwrap();
    /// assert_eq!(v.to_vec::<f32>().unwrap(), [5.0, 4.0]);
    /// assert_eq!(i.to_vec::<i64>().unwrap(), [1, 3]);
    /// ```
    pub fn topk(
        &self,
        k: usize,
        dim: isize,
        largest: bool,
        sorted: bool,
    ) -> Result<(Tensor, Tensor)> {
        let d = wrap_dim("topk", dim, self.rank())?;
        let n = if self.rank() == 0 { 1 } else { self.shape()[d] };
        if k > n {
            return Err(Error::arg(
                "topk",
                format!(
                    "k ({k}) is larger than dim {d} of size {n} in {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        if self.rank() == 0 {
            // PyTorch: a 0-d tensor is its own top entry
            return Ok((self.clone(), Tensor::from_vec(vec![0i64], &[])?));
        }
        let outer: usize = self.shape()[..d].iter().product();
        let inner: usize = self.shape()[d + 1..].iter().product();
        fn run<T: StorageElem + PartialOrd>(
            t: &Tensor,
            k: usize,
            largest: bool,
            sorted: bool,
            (outer, n, inner): (usize, usize, usize),
        ) -> Result<Vec<i64>> {
            let src = t.data::<T>()?;
            let mut idx = vec![0i64; outer * k * inner];
            if k == 0 {
                return Ok(idx);
            }
            let mut buf = Vec::with_capacity(n);
            for o in 0..outer {
                for i in 0..inner {
                    let row = (0..n).map(|j| src[(o * n + j) * inner + i]);
                    top_indices(row, k, largest, sorted, &mut buf);
                    for (r, &(_, j)) in buf[..k].iter().enumerate() {
                        idx[(o * k + r) * inner + i] = j;
                    }
                }
            }
            Ok(idx)
        }
        let dims = (outer, n, inner);
        let idx = match self.dtype() {
            DType::F32 => run::<f32>(self, k, largest, sorted, dims)?,
            DType::F64 => run::<f64>(self, k, largest, sorted, dims)?,
            DType::I64 => run::<i64>(self, k, largest, sorted, dims)?,
        };
        let mut shape = self.shape().to_vec();
        shape[d] = k;
        let idx = Tensor::from_vec(idx, &shape)?;
        Ok((self.gather(d as isize, &idx)?, idx))
    }
}
