//! The products of a scan's steps and of its weight gradient: one strided `gemm` call on a
//! block ([`Mm`]), a product split across threads ([`gemm_into`]), and `W_hh` packed once per
//! scan by unit blocks, for the `gemm` crate ([`pack_blocks`]) or for the AVX-512 panels of
//! [`super::packed_panel`] ([`pack_panels`]).

use super::cell_activations::GateAct;
use super::packed_panel::Packed;
use super::scan_blocks::PAR_FLOPS;
use super::scan_dims::Dims;
use crate::dtype::as_f32;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use std::ops::Range;

/// One strided product `dst[m, n] (+)= a[m, k] · b[k, n]`, `dst` row-major with row stride `n`.
pub(super) struct Mm<T> {
    pub(super) a: *const T,
    pub(super) a_rs: isize,
    pub(super) a_cs: isize,
    pub(super) b: *const T,
    pub(super) b_rs: isize,
    pub(super) b_cs: isize,
    pub(super) dst: *mut T,
    pub(super) dst_rs: isize,
    pub(super) acc: bool,
}

// SAFETY: an `Mm` is shared only by the tasks of one `gemm_into` call, which write disjoint
// blocks of `dst` and only read `a` and `b`.
unsafe impl<T> Sync for Mm<T> {}

impl<T: StorageElem + 'static> Mm<T> {
    /// # Safety
    /// The pointers and strides address `[m, k]`, `[k, n]` and `[m, n]` elements, `dst` is
    /// writable and does not alias `a` or `b`; `rows`, `cols` lie inside `0..m`, `0..n`.
    pub(super) unsafe fn block(&self, rows: Range<usize>, cols: Range<usize>, k: usize) {
        let (r0, c0) = (rows.start as isize, cols.start as isize);
        // SAFETY: guaranteed by the caller; with `acc` false the old `dst` is never read.
        unsafe {
            gemm::gemm(
                rows.len(),
                cols.len(),
                k,
                self.dst.offset(r0 * self.dst_rs + c0),
                1,
                self.dst_rs,
                self.acc,
                self.a.offset(r0 * self.a_rs),
                self.a_cs,
                self.a_rs,
                self.b.offset(c0 * self.b_cs),
                self.b_cs,
                self.b_rs,
                T::ONE,
                T::ONE,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// The largest offset a strided `[rows, cols]` operand reads, plus one.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    (rows - 1) * rs + (cols - 1) * cs + 1
}

/// `dst[m, n] = a[m, k] · b[k, n]` (or `+=` with `acc`), `dst` row-major; `a` and `b` are read
/// with the given row and column strides. Large products are split over the longer of `m`
/// and `n` across [`crate::parallel`]'s threads; each element is computed the same way for any
/// split, so results do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_into<T: StorageElem + GateAct + 'static>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    acc: bool,
    a: &[T],
    (a_rs, a_cs): (usize, usize),
    b: &[T],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    // the bounds that make the raw-pointer product below sound
    assert!(
        dst.len() >= m * n
            && a.len() >= extent(m, k, a_rs, a_cs)
            && b.len() >= extent(k, n, b_rs, b_cs),
        "gemm_into: operands too short"
    );
    let p = Mm {
        a: a.as_ptr(),
        a_rs: a_rs as isize,
        a_cs: a_cs as isize,
        b: b.as_ptr(),
        b_rs: b_rs as isize,
        b_cs: b_cs as isize,
        dst: dst.as_mut_ptr(),
        dst_rs: n as isize,
        acc,
    };
    if m * n * k >= PAR_FLOPS && threads() > 1 {
        if m >= n {
            // SAFETY: the extents were checked above and `dst` is a distinct `&mut` slice;
            // for_ranges hands out disjoint row ranges, so the tasks write disjoint blocks.
            for_ranges(m, 16, |r| unsafe { p.block(r, 0..n, k) });
        } else {
            // SAFETY: as above, with disjoint column ranges.
            for_ranges(n, 16, |c| unsafe { p.block(0..m, c, k) });
        }
    } else {
        // SAFETY: the extents were checked above and `dst` is a distinct `&mut` slice.
        unsafe { p.block(0..m, 0..n, k) };
    }
}

/// `W_hhᵀ` for the forward products, by unit block: block `j0..j1` (`u` units) is `[h, g*u]`
/// row-major at offset `h * g * j0`, its column `k * u + jj` being gate `k` of unit `j0 + jj`.
pub(super) fn pack_blocks<T: StorageElem>(w: &[T], d: Dims, blocks: &[Range<usize>]) -> Vec<T> {
    let mut wt = take_buffer::<T>(d.gh() * d.h);
    for units in blocks {
        let u = units.len();
        let dst = &mut wt[d.h * d.g * units.start..][..d.h * d.g * u];
        for k in 0..d.g {
            for (jj, j) in units.clone().enumerate() {
                let row = &w[(k * d.h + j) * d.h..][..d.h];
                let col = k * u + jj;
                for (kk, &v) in row.iter().enumerate() {
                    dst[kk * d.g * u + col] = v;
                }
            }
        }
    }
    wt
}

/// The blocks' right-hand sides packed for [`super::packed_panel`] (f32 on an AVX-512 CPU), or
/// `None` (the `gemm` crate then runs the per-step products): block `b` is `[k, cols(b)]`, element
/// `(kk, j)` being `w[col(b, j) + kk * kk_stride]`. The blocks are packed in parallel.
pub(super) fn pack_panels<T: 'static>(
    w: &[T],
    blocks: &[Range<usize>],
    k: usize,
    cols: impl Fn(&Range<usize>) -> usize,
    col: impl Fn(&Range<usize>, usize) -> usize + Sync,
    kk_stride: usize,
) -> Option<Vec<Packed>> {
    let w = as_f32(w).filter(|_| crate::cpu::simd::avx512f())?;
    let mut packs: Vec<Packed> = blocks.iter().map(|b| Packed::alloc(k, cols(b))).collect();
    let n = packs.len();
    let shared = SharedMut::new(&mut packs);
    let fill = |bi: usize| {
        // SAFETY: each task fills its own block.
        let p = unsafe { &mut shared.range(bi..bi + 1)[0] };
        p.fill(w, |j| col(&blocks[bi], j), kk_stride);
    };
    if k * blocks.iter().map(&cols).sum::<usize>() >= PAR_FLOPS / 8 {
        crate::parallel::for_each(n, &fill);
    } else {
        (0..n).for_each(fill);
    }
    Some(packs)
}
