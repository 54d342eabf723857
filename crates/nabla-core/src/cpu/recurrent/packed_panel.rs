//! A small f32 matrix product for the recurrent steps, `C[m, n] (+)= A[m, k] · B[k, n]` with
//! `B` packed once per scan: the per-step products of a scan are small (a batch of 32 rows
//! times one block of a weight matrix) and use the same `B` every step, where a general GEMM
//! repacks `B` on every call. Here `B` is cut into panels of [`NR`] columns stored `[k][NR]`
//! (zero-padded at the right edge), and an AVX-512 kernel computes up to [`MR`] rows of one
//! panel in registers. Measured beside the `gemm` crate on `[32, 256] · [256, 256]`, one
//! thread: about 2x. Only with AVX-512 (checked at run time); the caller falls back to `gemm`
//! otherwise. Every element is a plain sum over `k` in order, whatever the row split.

use crate::storage::{give_buffer, take_buffer};

/// Columns per panel (two AVX-512 registers).
const NR: usize = 32;
/// Rows per kernel call (24 accumulators).
const MR: usize = 12;

/// `B` `[k, n]` packed by panels of [`NR`] columns, in a buffer of the storage pool.
pub(super) struct Packed {
    data: Vec<f32>,
    k: usize,
    n: usize,
}

impl Drop for Packed {
    fn drop(&mut self) {
        give_buffer(std::mem::take(&mut self.data));
    }
}

impl Packed {
    /// Room for a `[k, n]` `B`, contents unspecified until [`Packed::fill`].
    pub(super) fn alloc(k: usize, n: usize) -> Packed {
        Packed {
            data: take_buffer(n.div_ceil(NR) * k * NR),
            k,
            n,
        }
    }

    /// Packs `B[kk, j] = src[col(j) + kk * kk_stride]`. It walks `B` by 16 x 16 tiles, so a
    /// source stored by rows or by columns is read a cache line at a time.
    pub(super) fn fill(&mut self, src: &[f32], col: impl Fn(usize) -> usize, kk_stride: usize) {
        const T: usize = 16;
        let k = self.k;
        let mut base = [0usize; T];
        for p in 0..self.n.div_ceil(NR) {
            let cols = NR.min(self.n - p * NR);
            let dst = &mut self.data[p * k * NR..][..k * NR];
            if cols < NR {
                dst.fill(0.0);
            }
            for j0 in (0..cols).step_by(T) {
                let tj = T.min(cols - j0);
                for (jj, b) in base[..tj].iter_mut().enumerate() {
                    *b = col(p * NR + j0 + jj);
                }
                for k0 in (0..k).step_by(T) {
                    for kk in k0..(k0 + T).min(k) {
                        let row = &mut dst[kk * NR + j0..][..tj];
                        for (d, &b) in row.iter_mut().zip(&base[..tj]) {
                            *d = src[b + kk * kk_stride];
                        }
                    }
                }
            }
        }
    }

    /// `C (+)= A · B` for `m` rows: `a` is `[m, k]` with row stride `lda`, `c` `[m, n]` with
    /// row stride `ldc`; with `acc` the old `C` is added to.
    ///
    /// # Safety
    /// [`crate::cpu::simd::avx512f`] is true; `a` addresses `m` rows of `k` readable elements with
    /// stride `lda`, `c` `m` rows of `n` writable ones with stride `ldc`, not overlapping `a`.
    pub(super) unsafe fn product(
        &self,
        m: usize,
        a: *const f32,
        lda: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    ) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: passed on from the caller.
        unsafe {
            x86::product(self, m, a, lda, c, ldc, acc)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (m, a, lda, c, ldc, acc);
            unreachable!("the packed kernel is x86_64 only");
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Packed, MR, NR};
    use std::arch::x86_64::*;

    /// # Safety
    /// As [`Packed::product`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn product(
        p: &Packed,
        m: usize,
        a: *const f32,
        lda: usize,
        c: *mut f32,
        ldc: usize,
        acc: bool,
    ) {
        for panel in 0..p.n.div_ceil(NR) {
            let cols = NR.min(p.n - panel * NR);
            let bp = p.data[panel * p.k * NR..].as_ptr();
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                // SAFETY: rows r0..r0 + rows and columns panel*NR.. + cols lie inside the
                // caller's `a` and `c`; the panel holds k * NR floats.
                unsafe {
                    let (ap, cp) = (a.add(r0 * lda), c.add(r0 * ldc + panel * NR));
                    let t = Tile {
                        k: p.k,
                        a: ap,
                        lda,
                        b: bp,
                        c: cp,
                        ldc,
                        cols,
                        acc,
                    };
                    match rows {
                        12 => t.run::<12>(),
                        11 => t.run::<11>(),
                        10 => t.run::<10>(),
                        9 => t.run::<9>(),
                        8 => t.run::<8>(),
                        7 => t.run::<7>(),
                        6 => t.run::<6>(),
                        5 => t.run::<5>(),
                        4 => t.run::<4>(),
                        3 => t.run::<3>(),
                        2 => t.run::<2>(),
                        _ => t.run::<1>(),
                    }
                }
                r0 += rows;
            }
        }
    }

    /// One `R x cols` tile of `C` (`cols <= NR`).
    struct Tile {
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        acc: bool,
    }

    impl Tile {
        /// # Safety
        /// `a` has `R` rows of `k`, `b` `k * NR` floats, `c` `R` rows of `cols` writable.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn run<const R: usize>(&self) {
            // the two registers' column masks
            let lo = crate::cpu::simd::lane_mask(self.cols);
            let hi = crate::cpu::simd::lane_mask(self.cols.saturating_sub(16));
            // SAFETY (the whole body): the caller's bounds; masked loads and stores touch only
            // the tile's `cols` columns.
            unsafe {
                let mut accs = [[_mm512_setzero_ps(); 2]; R];
                if self.acc {
                    for (r, v) in accs.iter_mut().enumerate() {
                        let row = self.c.add(r * self.ldc);
                        v[0] = _mm512_maskz_loadu_ps(lo, row);
                        v[1] = _mm512_maskz_loadu_ps(hi, row.add(16));
                    }
                }
                let mut ap = [self.a; R];
                for (r, p) in ap.iter_mut().enumerate() {
                    *p = self.a.add(r * self.lda);
                }
                for kk in 0..self.k {
                    let b0 = _mm512_loadu_ps(self.b.add(kk * NR));
                    let b1 = _mm512_loadu_ps(self.b.add(kk * NR + 16));
                    for r in 0..R {
                        let av = _mm512_set1_ps(*ap[r].add(kk));
                        accs[r][0] = _mm512_fmadd_ps(av, b0, accs[r][0]);
                        accs[r][1] = _mm512_fmadd_ps(av, b1, accs[r][1]);
                    }
                }
                for (r, v) in accs.iter().enumerate() {
                    let row = self.c.add(r * self.ldc);
                    _mm512_mask_storeu_ps(row, lo, v[0]);
                    _mm512_mask_storeu_ps(row.add(16), hi, v[1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_product_for_ragged_sizes() {
        if !crate::cpu::simd::avx512f() {
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 7, 33),
            (13, 3, 17),
            (32, 20, 64),
            (25, 9, 70),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 11) as f32) - 5.0).collect();
            // B stored transposed, to test that packing reads it through `b(kk, j)`
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 13) as f32) * 0.5).collect();
            let mut p = Packed::alloc(k, n);
            p.fill(&b, |j| j * k, 1);
            for acc in [false, true] {
                let ldc = n + 3;
                let mut c = vec![1.5f32; m * ldc];
                // SAFETY: avx512f() checked the CPU; the buffers have the sizes named.
                unsafe { p.product(m, a.as_ptr(), k, c.as_mut_ptr(), ldc, acc) };
                for i in 0..m {
                    for j in 0..ldc {
                        let want = if j < n {
                            let s: f32 = (0..k).map(|kk| a[i * k + kk] * b[j * k + kk]).sum();
                            s + if acc { 1.5 } else { 0.0 }
                        } else {
                            1.5
                        };
                        assert_eq!(c[i * ldc + j], want, "{m}x{k}x{n} acc={acc} at {i},{j}");
                    }
                }
            }
        }
    }
}
