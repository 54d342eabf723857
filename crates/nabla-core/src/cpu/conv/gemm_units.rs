//! What the convolution kernels share: one single-threaded `gemm` call ([`gemm_seq`]), the
//! split of work units across threads ([`split`]) and the raw pointer those units write
//! through ([`Ptr`]).

use crate::parallel::{for_ranges, threads};
use crate::storage::StorageElem;
use std::ops::Range;

/// Multiply-adds below which a kernel stays on the calling thread.
const PAR_MACS: usize = 1 << 18;

/// A raw pointer shared by the tasks of one parallel loop.
#[derive(Clone, Copy)]
pub(super) struct Ptr<T>(pub(super) *mut T);
// SAFETY: each loop using it states which disjoint elements each task writes through it; the
// pointed-to buffer outlives the loop (for_ranges returns after every task is done).
unsafe impl<T> Sync for Ptr<T> {}
unsafe impl<T> Send for Ptr<T> {}

impl<T> Ptr<T> {
    /// The pointer (a method, so closures capture the whole `Ptr`, which is `Sync`).
    pub(super) fn get(self) -> *mut T {
        self.0
    }
}

/// Runs `f` over `0..units`, split across threads when the work is large enough.
pub(super) fn split(units: usize, macs: usize, f: impl Fn(Range<usize>) + Sync) {
    if macs >= PAR_MACS && threads() > 1 && units > 1 {
        for_ranges(units, 1, f);
    } else if units > 0 {
        f(0..units);
    }
}

/// `dst[m, n] = (dst if accumulate) + a[m, k] · b[k, n]` on this thread; each operand is a
/// pointer with its strides in elements (`rs` between rows, `cs` between columns).
///
/// # Safety
/// The pointers address `[m, n]`, `[m, k]` and `[k, n]` elements with the given strides,
/// `dst` is writable and does not overlap `a` or `b`.
pub(crate) unsafe fn gemm_seq<T: StorageElem>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (*mut T, usize, usize),
    accumulate: bool,
    a: (*const T, usize, usize),
    b: (*const T, usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for c in 0..n {
                    // SAFETY: element (r, c) of dst is writable (caller).
                    unsafe { *dst.add(r * dst_rs + c * dst_cs) = T::ZERO };
                }
            }
        }
        return;
    }
    // SAFETY: forwarded from the caller; with `read_dst` false the old contents of `dst` are
    // never read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            a.0,
            a.2 as isize,
            a.1 as isize,
            b.0,
            b.2 as isize,
            b.1 as isize,
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
