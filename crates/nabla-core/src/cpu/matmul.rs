//! Batched matrix products computed by the `gemm` crate (runtime SIMD dispatch, strided
//! operands: transposed views are multiplied without a copy, except a large right operand
//! whose columns are contiguous, see [`COPY_RHS`]), one single-threaded call per thread on its
//! own block of the result. Tiny products (the origin program's 4×2 by 2×2) skip the crate's
//! setup: see [`TINY_FLOPS`].

use crate::dtype::Float;
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

/// Products of at most this many multiply-adds run in [`Product::tiny`]: the `gemm` crate
/// allocates packing buffers and dispatches per call, which costs several times the
/// arithmetic of an 8×8×8 product. The tiny loop sums each element in the order of `k`,
/// rounding as the crate's kernel for that shape does, so its results are the crate's bit
/// for bit (tested below).
const TINY_FLOPS: usize = 512;

/// Whether a product of this size is tiny and the `gemm` crate would sum it as
/// [`Product::tiny`] does (`dots`: rows of `a` and columns of `b` both contiguous).
fn tiny_like_gemm(m: usize, n: usize, k: usize, dots: bool) -> bool {
    m * n * k <= TINY_FLOPS && !dots && (k <= 2 || (m > 1 && n > 1))
}

/// Whether [`Product::tiny`] can run here: it needs the fused multiply-add instruction (the
/// `gemm` crate's kernels use it wherever it exists, and the tiny loop must round as they do).
fn tiny_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

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

impl<T: StorageElem + Float> Product<T> {
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
        if self.tiny_applies(m, n, k) {
            // SAFETY: forwarded from the caller; the CPU has FMA (checked just above).
            unsafe { self.tiny(m, n, k) };
            return;
        }
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

    /// Whether [`Product::tiny`] computes this product, and computes it as the `gemm` crate
    /// would: where the crate runs its register-tile kernel or, for `k <= 2`, its
    /// vector-outer-product loop. Its dot-product path (rows of `a` and columns of `b` both
    /// contiguous) and its matrix-vector paths (`m` or `n` of 1) sum in other orders.
    fn tiny_applies(&self, m: usize, n: usize, k: usize) -> bool {
        tiny_like_gemm(m, n, k, self.a_cs == 1 && self.b_rs == 1) && tiny_available()
    }

    /// Computes the whole product on this thread with a plain loop (see [`TINY_FLOPS`]):
    /// `dst[i, j] = a[i, 0] b[0, j]`, then `dst[i, j] = fma(a[i, q], b[q, j], dst[i, j])` for
    /// `q = 1..k`; for `k = 2` the two products are rounded and then added, as the crate's
    /// outer-product loop does.
    ///
    /// # Safety
    /// As for [`Product::run`], with `k >= 1`, on a CPU with the FMA instructions.
    #[cfg_attr(target_arch = "x86_64", target_feature(enable = "fma"))]
    unsafe fn tiny(&self, m: usize, n: usize, k: usize) {
        let (b_rs, b_cs) = (self.b_rs, self.b_cs);
        for i in 0..m as isize {
            // SAFETY: row i < m of `a` and of `dst`, element q < k of that row and column
            // j < n of row q of `b` lie inside the operands by the caller's guarantee;
            // `dst` does not alias them.
            unsafe {
                let a = self.a.offset(i * self.a_rs);
                let d = self.dst.offset(i * self.dst_rs);
                let a0 = *a;
                for j in 0..n as isize {
                    *d.offset(j) = a0 * *self.b.offset(j * b_cs);
                }
                if k == 2 {
                    let a1 = *a.offset(self.a_cs);
                    let b = self.b.offset(b_rs);
                    for j in 0..n as isize {
                        let dj = d.offset(j);
                        *dj = a1 * *b.offset(j * b_cs) + *dj;
                    }
                    continue;
                }
                for q in 1..k as isize {
                    let aq = *a.offset(q * self.a_cs);
                    let b = self.b.offset(q * b_rs);
                    for j in 0..n as isize {
                        let dj = d.offset(j);
                        *dj = aq.mul_add(*b.offset(j * b_cs), *dj);
                    }
                }
            }
        }
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
pub(crate) fn gemm_batches<T: StorageElem + Float>(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `(gemm crate, tiny loop)` for `a [m, k]` and `b [k, n]`, each stored row-major or
    /// transposed.
    fn both<T: StorageElem + Float>(
        m: usize,
        n: usize,
        k: usize,
        seed: u64,
        a_t: bool,
        b_t: bool,
    ) -> (Vec<T>, Vec<T>) {
        let mut s = seed;
        let mut draw = |len: usize| -> Vec<T> {
            (0..len)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    T::from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
                })
                .collect()
        };
        let (a, b) = (draw(m * k), draw(k * n));
        let (a_rs, a_cs) = if a_t {
            (1, m as isize)
        } else {
            (k as isize, 1)
        };
        let (b_rs, b_cs) = if b_t {
            (1, k as isize)
        } else {
            (n as isize, 1)
        };
        let mut out = [vec![T::ZERO; m * n], vec![T::ZERO; m * n]];
        for (i, dst) in out.iter_mut().enumerate() {
            let p = Product {
                a: a.as_ptr(),
                a_rs,
                a_cs,
                b: b.as_ptr(),
                b_rs,
                b_cs,
                dst: dst.as_mut_ptr(),
                dst_rs: n as isize,
            };
            // SAFETY: the strides address the `m * k` and `k * n` elements drawn above and
            // `dst` holds `m * n`; the tiny loop runs only where FMA exists (checked by the
            // caller).
            unsafe {
                if i == 0 {
                    p.block(0..m, 0..n, k)
                } else {
                    p.tiny(m, n, k)
                }
            }
        }
        let [g, t] = out;
        (g, t)
    }

    #[test]
    fn tiny_products_equal_the_gemm_crates_bit_for_bit() {
        if !tiny_available() {
            return;
        }
        let mut seed = 1;
        for m in 1..=8 {
            for n in 1..=8 {
                for k in 1..=8 {
                    for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                        seed += 1;
                        check(m, n, k, seed, a_t, b_t);
                    }
                }
            }
        }
        // long sums of few elements, up to the size limit
        for (m, n, k) in [
            (1, 1, 512),
            (1, 4, 128),
            (4, 1, 128),
            (2, 2, 128),
            (1, 8, 64),
            (8, 1, 64),
            (3, 5, 34),
        ] {
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                seed += 1;
                check(m, n, k, seed, a_t, b_t);
            }
        }
    }

    /// Asserts that the tiny loop, where it applies, equals the `gemm` crate.
    fn check(m: usize, n: usize, k: usize, seed: u64, a_t: bool, b_t: bool) {
        // `a`'s columns and `b`'s rows of stride 1
        let a_cs_1 = !a_t || m == 1;
        let b_rs_1 = b_t || n == 1;
        if tiny_like_gemm(m, n, k, a_cs_1 && b_rs_1) {
            let (g, t) = both::<f64>(m, n, k, seed, a_t, b_t);
            assert_eq!(g, t, "f64 {m}x{k} @ {k}x{n}, transposed {a_t} {b_t}");
            let (g, t) = both::<f32>(m, n, k, seed, a_t, b_t);
            assert_eq!(g, t, "f32 {m}x{k} @ {k}x{n}, transposed {a_t} {b_t}");
        }
    }
}
