//! im2col and col2im for f32 with unit width stride on AVX-512: each run of `ow` taps is one
//! masked load and one store per 16 elements. A run's store is a full 16-lane store where the
//! `col` buffer has room after it: the lanes past the run are garbage that the next run's
//! store (or the next row's) overwrites, since a `col` row's runs are written in order and
//! back to back. Only a store that would pass the end of `col` is masked. This replaces the
//! generic code's block copies of short runs (LeNet's are 10 and 28 elements), whose loop
//! control and overlapping stores were most of the convolution's time there.
//!
//! Same layout and results as [`super::unfold`]: a copy is exact, and col2im adds each
//! element of `col` once, in the same order (rows in order, columns in order within a row).

use super::im2col::ConvGeom;

/// Whether these kernels run here: f32 data, unit width stride, an AVX-512 CPU.
pub(super) fn applies<T: 'static>(g: &ConvGeom) -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && g.stride.1 == 1 && available()
}

fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `s` as f32 (the caller checked [`applies`]).
fn cast<T: 'static>(s: &[T]) -> &[f32] {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>());
    // SAFETY: T is f32.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
}

fn cast_mut<T: 'static>(s: &mut [T]) -> &mut [f32] {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>());
    // SAFETY: T is f32.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
}

/// Calls `f(dst, src, run)` for every run of `col[kg, len]` (positions `p0..p0 + len`): `dst`
/// its offset in `col`, `src` the offset of its first tap in the padded planes (see
/// `unfold::runs`; here the width stride is 1, so a run's taps are consecutive).
#[inline(always)]
fn runs(g: &ConvGeom, p0: usize, len: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (hp, wp) = g.padded();
    let sh = g.stride.0;
    let (dh, dw) = g.dilation;
    let (y0, x00) = (p0 / g.ow, p0 % g.ow);
    let mut dst = 0;
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let base = c * hp * wp + i * dh * wp + j * dw;
                let (mut q, mut y, mut x0) = (0, y0, x00);
                while q < len {
                    let run = (g.ow - x0).min(len - q);
                    f(dst + q, base + y * sh * wp + x0, run);
                    q += run;
                    x0 = 0;
                    y += 1;
                }
                dst += len;
            }
        }
    }
}

/// One past the last tap that [`runs`] reaches (the last row's last position): every run
/// ends at or before it, since tap offsets grow with the row and the position.
fn end_tap(g: &ConvGeom, p0: usize, len: usize) -> usize {
    if len == 0 || g.kg() == 0 {
        return 0;
    }
    let (hp, wp) = g.padded();
    let last = p0 + len - 1;
    (g.cg() - 1) * hp * wp
        + (g.kh - 1) * g.dilation.0 * wp
        + (g.kw - 1) * g.dilation.1
        + (last / g.ow) * g.stride.0 * wp
        + last % g.ow
        + 1
}

/// [`super::unfold::im2col`] for f32 (the caller checked [`applies`]).
pub(super) fn im2col<T: 'static>(xp: &[T], g: &ConvGeom, p0: usize, len: usize, col: &mut [T]) {
    let (xp, col) = (cast(xp), cast_mut(col));
    assert!(col.len() >= g.kg() * len && end_tap(g, p0, len) <= xp.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: avx512f is present (applies); every run lies inside xp (checked above) and
    // inside col (kg * len elements), and a full store only where col has 16 elements.
    unsafe {
        x86::im2col(xp, g, p0, len, col)
    }
}

/// [`super::unfold::col2im`] for f32 (the caller checked [`applies`]).
pub(super) fn col2im<T: 'static>(col: &[T], g: &ConvGeom, p0: usize, len: usize, dxp: &mut [T]) {
    let (col, dxp) = (cast(col), cast_mut(dxp));
    assert!(col.len() >= g.kg() * len && end_tap(g, p0, len) <= dxp.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as for im2col; every access is masked to its run.
    unsafe {
        x86::col2im(col, g, p0, len, dxp)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{runs, ConvGeom};
    use std::arch::x86_64::*;

    /// The mask of the first `n` lanes (`n <= 16`).
    #[inline(always)]
    fn lanes(n: usize) -> u16 {
        if n >= 16 {
            u16::MAX
        } else {
            ((1u32 << n) - 1) as u16
        }
    }

    /// # Safety
    /// avx512f; the runs lie inside `xp` and `col`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn im2col(xp: &[f32], g: &ConvGeom, p0: usize, len: usize, col: &mut [f32]) {
        let (src, dst, end) = (xp.as_ptr(), col.as_mut_ptr(), col.len());
        runs(g, p0, len, |d, s, run| {
            let mut k = 0;
            // SAFETY: elements s..s + run of xp and d..d + run of col exist (caller); a full
            // store writes d + k..d + k + 16 only when that is inside col.
            unsafe {
                while k < run {
                    let m = lanes(run - k);
                    let v = _mm512_maskz_loadu_ps(m, src.add(s + k));
                    if d + k + 16 <= end {
                        _mm512_storeu_ps(dst.add(d + k), v);
                    } else {
                        _mm512_mask_storeu_ps(dst.add(d + k), m, v);
                    }
                    k += 16;
                }
            }
        });
    }

    /// # Safety
    /// avx512f; the runs lie inside `col` and `dxp`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn col2im(col: &[f32], g: &ConvGeom, p0: usize, len: usize, dxp: &mut [f32]) {
        let (src, dst) = (col.as_ptr(), dxp.as_mut_ptr());
        runs(g, p0, len, |d, s, run| {
            let mut k = 0;
            // SAFETY: elements d..d + run of col and s..s + run of dxp exist (caller); every
            // access is masked to the run.
            unsafe {
                while k < run {
                    let m = lanes(run - k);
                    let v = _mm512_maskz_loadu_ps(m, src.add(d + k));
                    let a = _mm512_maskz_loadu_ps(m, dst.add(s + k));
                    _mm512_mask_storeu_ps(dst.add(s + k), m, _mm512_add_ps(a, v));
                    k += 16;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::unfold::{col2im_any, im2col_any, Padded};
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn geom(
        c: usize,
        h: usize,
        w: usize,
        k: (usize, usize),
        s: usize,
        p: usize,
        d: usize,
    ) -> ConvGeom {
        let oh = (h + 2 * p - d * (k.0 - 1) - 1) / s + 1;
        let ow = (w + 2 * p - d * (k.1 - 1) - 1) + 1;
        ConvGeom {
            n: 1,
            c,
            h,
            w,
            o: 1,
            kh: k.0,
            kw: k.1,
            stride: (s, 1),
            padding: (p, p),
            dilation: (d, d),
            groups: 1,
            oh,
            ow,
        }
    }

    /// The AVX-512 copies give exactly the generic ones, for whole images and ragged tiles,
    /// with `col` sized exactly (so the last store must be masked) and with slack after it.
    #[test]
    fn avx512_runs_match_the_generic_copies() {
        if !available() {
            return;
        }
        for &(c, h, w, k, s, p, d) in &[
            (1, 28, 28, (5, 5), 1, 2, 1),
            (6, 14, 14, (5, 5), 1, 0, 1),
            (3, 26, 26, (3, 3), 1, 0, 1),
            (2, 9, 40, (2, 3), 2, 1, 2),
            (2, 5, 17, (1, 1), 1, 0, 1),
            (1, 3, 3, (3, 3), 1, 0, 1),
            (2, 7, 33, (3, 2), 3, 2, 1),
        ] {
            let g = geom(c, h, w, k, s, p, d);
            assert!(applies::<f32>(&g));
            let x: Vec<f32> = (0..c * h * w).map(|v| v as f32 * 0.5 - 3.0).collect();
            let mut pad = Padded::new();
            let xp = pad.group(&x, &g, 0, 0).to_vec();
            let (kg, pn) = (g.kg(), g.p());
            for tile in [pn, 37, 5, 1] {
                let mut p0 = 0;
                while p0 < pn {
                    let len = tile.min(pn - p0);
                    for slack in [0, 16] {
                        // `got` has 16 more elements than the slice passed in when slack
                        // is 0, to see that nothing is written past the slice
                        let mut want = vec![f32::NAN; kg * len + 16];
                        let mut got = want.clone();
                        im2col_any(&xp, &g, p0, len, &mut want[..kg * len + slack]);
                        im2col(&xp, &g, p0, len, &mut got[..kg * len + slack]);
                        assert_eq!(
                            want[..kg * len]
                                .iter()
                                .map(|v| v.to_bits())
                                .collect::<Vec<_>>(),
                            got[..kg * len]
                                .iter()
                                .map(|v| v.to_bits())
                                .collect::<Vec<_>>(),
                            "{g:?} p0 {p0} len {len}"
                        );
                        if slack == 0 {
                            assert!(got[kg * len..].iter().all(|v| v.is_nan()), "{g:?}");
                        }
                        let (hp, wp) = g.padded();
                        let colv: Vec<f32> = (0..kg * len).map(|v| (v % 11) as f32 - 5.0).collect();
                        let mut a = vec![0.25f32; c * hp * wp];
                        let mut b = a.clone();
                        col2im_any(&colv, &g, p0, len, &mut a);
                        col2im(&colv, &g, p0, len, &mut b);
                        assert_eq!(a, b, "{g:?} p0 {p0} len {len}");
                    }
                    p0 += len;
                }
            }
        }
    }
}
