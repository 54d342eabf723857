//! Batched matrix products computed by the `gemm` crate (runtime SIMD dispatch, strided
//! operands: transposed views are multiplied without a copy, except a large right operand
//! whose columns are contiguous, see [`COPY_RHS`]), one single-threaded call per thread on its
//! own block of the result.

use crate::layout::Layout;
use crate::storage::{take_buffer, StorageElem};
use crate::tensor::Tensor;
use std::ops::Range;

/// Products of at least this many multiply-adds are split across threads...
const PAR_FLOPS: usize = 1 << 20;
/// ...when every dim is at least this large. With the spinning helpers of
/// [`crate::parallel`] a product of a 64-row batch already gains from the split (`nabla bench
/// W2`, batch 64, 2 threads: about 1.4× the samples/s of splitting only from 128).
const PAR_MIN_DIM: usize = 64;

/// A right operand `[k, n]` stored column by column (`x @ w.t()`, a linear layer's forward)
/// of at least this many elements is copied to row-major order first (a tiled transpose) when
/// the left one has at least [`COPY_RHS_ROWS`] rows: the `gemm` crate gathers such an operand
/// into its panels slowly once it no longer fits in L2; below about 2 MB the copy costs more
/// than it saves (measurements in `docs/performance.md`).
const COPY_RHS: usize = 1 << 19;
/// See [`COPY_RHS`].
const COPY_RHS_ROWS: usize = 32;

/// One row-major product `dst[m, n] = a[m, k] @ b[k, n]` given by raw pointers and strides.
struct Product<T> {
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    b_cs: isize,
    dst: *mut T,
    dst_rs: isize,
}

// SAFETY: a `Product` is shared only by the threads of one `run` call, which write disjoint
// blocks of `dst` and only read `a` and `b`.
unsafe impl<T> Sync for Product<T> {}

impl<T: StorageElem + 'static> Product<T> {
    /// Computes the product, split across [`crate::parallel`]'s threads when `split`: each
    /// task owns a block of rows (or of columns, whichever dim is longer) and runs a
    /// single-threaded gemm on it, so the threads share nothing but the read-only operands.
    /// In `nabla bench W1` on 2 threads this reached 0.90–0.95 of MKL and OpenBLAS at
    /// n ≥ 1024, where the `gemm` crate's own rayon split had reached 0.75–0.86.
    ///
    /// # Safety
    /// `a`, `b` and `dst` address `[m, k]`, `[k, n]` and `[m, n]` elements with the given
    /// strides; `dst` is writable and does not alias the operands.
    unsafe fn run(&self, m: usize, n: usize, k: usize, split: bool) {
        if !split {
            // SAFETY: forwarded from the caller.
            unsafe { self.block(0..m, 0..n, k) };
            return;
        }
        let split_rows = m >= n;
        // Block bounds on multiples of 16 keep each thread's columns vector-aligned.
        crate::parallel::for_ranges(if split_rows { m } else { n }, 16, |r| {
            // SAFETY: for_ranges hands out disjoint ranges, so the tasks write disjoint
            // blocks of `dst`.
            unsafe {
                if split_rows {
                    self.block(r, 0..n, k)
                } else {
                    self.block(0..m, r, k)
                }
            }
        });
    }

    /// Computes the given rows and columns of `dst` on this thread.
    ///
    /// # Safety
    /// As for [`Product::run`], with `rows` and `cols` inside `0..m` and `0..n`.
    unsafe fn block(&self, rows: Range<usize>, cols: Range<usize>, k: usize) {
        let (r0, c0) = (rows.start as isize, cols.start as isize);
        // SAFETY: the caller guarantees the strides address the operands; `read_dst` is
        // false, so the old contents of `dst` are never read.
        unsafe {
            gemm::gemm(
                rows.len(),
                cols.len(),
                k,
                self.dst.offset(r0 * self.dst_rs + c0),
                1,
                self.dst_rs,
                false,
                self.a.offset(r0 * self.a_rs),
                self.a_cs,
                self.a_rs,
                self.b.offset(c0 * self.b_cs),
                self.b_cs,
                self.b_rs,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// The products `a[i] @ b[i]` for every index `i` of the batch dims `batch`, `a` and `b`
/// being views `[.., m, k]` and `[.., k, n]` over those dims: a new packed `[.., m, n]`.
pub(crate) fn gemm_batches<T: StorageElem + 'static>(
    a: &Tensor,
    b: &Tensor,
    batch: &[usize],
    m: usize,
    k: usize,
    n: usize,
) -> Vec<T> {
    let nb: usize = batch.iter().product();
    let mut out = take_buffer::<T>(nb * m * n);
    if m == 0 || n == 0 || nb == 0 {
        return out;
    }
    if k == 0 {
        out.fill(T::ZERO);
        return out;
    }
    let (la, lb) = (a.layout(), b.layout());
    let r = la.shape().len();
    let offsets = |l: &Layout| -> crate::layout::Dims {
        if r == 2 {
            // one matrix: no batch layout to walk
            return smallvec::smallvec![l.offset()];
        }
        let bl = Layout::new(batch.to_vec(), l.strides()[..r - 2].to_vec(), l.offset());
        let mut v = crate::layout::Dims::with_capacity(nb);
        bl.for_each_offset(|o| v.push(o));
        v
    };
    let (oa, ob) = (offsets(la), offsets(lb));
    let (sa, sb) = (a.typed_storage::<T>(), b.typed_storage::<T>());
    let (a_rs, a_cs) = (la.strides()[r - 2] as isize, la.strides()[r - 1] as isize);
    let (b_rs, b_cs) = (lb.strides()[r - 2] as isize, lb.strides()[r - 1] as isize);
    let split =
        m * n * k >= PAR_FLOPS && m.min(n).min(k) >= PAR_MIN_DIM && crate::parallel::threads() > 1;
    let copy_rhs = b_rs == 1 && b_cs != 1 && k * n >= COPY_RHS && m >= COPY_RHS_ROWS;
    let mut rhs = take_buffer::<T>(if copy_rhs { k * n } else { 0 });
    for bi in 0..nb {
        let dst = &mut out[bi * m * n..(bi + 1) * m * n];
        let (b, b_rs, b_cs) = if copy_rhs {
            let l = Layout::new(vec![k, n], vec![1, b_cs as usize], ob[bi]);
            crate::strided::gather(sb, &l, &mut rhs);
            (rhs.as_ptr(), n as isize, 1)
        } else {
            // SAFETY (of the offset): the batch offsets lie inside the storage.
            (unsafe { sb.as_ptr().add(ob[bi]) }, b_rs, b_cs)
        };
        let p = Product {
            // SAFETY (of the offsets): the batch offsets lie inside the storages.
            a: unsafe { sa.as_ptr().add(oa[bi]) },
            a_rs,
            a_cs,
            b,
            b_rs,
            b_cs,
            dst: dst.as_mut_ptr(),
            dst_rs: n as isize,
        };
        // SAFETY: the layouts hold [.., m, k] and [.., k, n] elements inside their storages
        // (every view op keeps offsets and strides in bounds), and `dst` holds exactly
        // m * n elements with row stride n.
        unsafe { p.run(m, n, k, split) };
    }
    crate::storage::give_buffer(rhs);
    out
}
