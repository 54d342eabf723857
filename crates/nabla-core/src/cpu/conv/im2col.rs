//! im2col and col2im: the copies between an image's channel planes and the `col` matrix that
//! the convolution kernels multiply (see [`super::im2col_gemm`] for the layout).
//!
//! The planes are zero-padded once per image ([`Padded`]), so the inner loops are plain
//! copies (or additions) of runs of `ow` elements with no edge tests; runs are copied in
//! fixed blocks of 16, 8 or 4 (compiled for AVX2 and AVX-512 where the CPU has them), which
//! are vector moves instead of a `memcpy` call per run (runs of 10 to 28 elements are common,
//! and there the call cost was most of the time). Stride-1 convolutions mostly take the
//! wide grid of [`super::wide_grid`] instead.

use super::geom::ConvGeom;
use crate::dtype::Float;
use crate::storage::{take_buffer, StorageElem};
use multiversion::multiversion;

/// The input planes of one image, zero-padded to `[c, hp, wp]` when the geometry pads;
/// reused while the same image is asked for again.
pub(super) struct Padded<T> {
    img: Option<usize>,
    buf: Vec<T>,
}

impl<T: Float + StorageElem> Padded<T> {
    pub(super) fn new() -> Self {
        Padded {
            img: None,
            buf: Vec::new(),
        }
    }

    /// The `[cg, hp, wp]` planes of group `grp` of image `img`, whose `[c, h, w]` planes are
    /// `x` (the unpadded planes themselves when the geometry does not pad).
    pub(super) fn group<'a>(
        &'a mut self,
        x: &'a [T],
        g: &ConvGeom,
        img: usize,
        grp: usize,
    ) -> &'a [T] {
        let (hp, wp) = g.padded();
        let gp = g.cg() * hp * wp;
        if g.padding == (0, 0) {
            return &x[grp * gp..(grp + 1) * gp];
        }
        if self.img != Some(img) {
            if self.buf.len() != g.c * hp * wp {
                self.buf = take_buffer(g.c * hp * wp);
            }
            pad_planes(x, g, &mut self.buf);
            self.img = Some(img);
        }
        &self.buf[grp * gp..(grp + 1) * gp]
    }

    /// Image `img`'s padded `[c, hp, wp]` planes followed by at least `slack` more readable
    /// elements (for kernels whose vectors run past a plane's end): the input itself when the
    /// geometry does not pad and `x` goes on far enough (the next images' elements), else a
    /// copy whose slack is zeros.
    pub(super) fn image_with_slack<'a>(
        &'a mut self,
        x: &'a [T],
        g: &ConvGeom,
        img: usize,
        slack: usize,
    ) -> &'a [T] {
        let (hp, wp) = g.padded();
        let (planes, chw) = (g.c * hp * wp, g.c * g.h * g.w);
        if g.padding == (0, 0) && img * chw + planes + slack <= x.len() {
            return &x[img * chw..];
        }
        if self.buf.len() != planes + slack {
            self.buf = vec![T::ZERO; planes + slack];
            self.img = None;
        }
        if self.img != Some(img) {
            let xi = &x[img * chw..][..chw];
            if g.padding == (0, 0) {
                self.buf[..planes].copy_from_slice(xi);
            } else {
                pad_planes(xi, g, &mut self.buf[..planes]);
            }
            self.img = Some(img);
        }
        &self.buf
    }
}

/// Copies `c` planes `[h, w]` of `x` into the middle of `[hp, wp]` planes of `dst`, zeros
/// around.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn pad_planes<T: Float>(x: &[T], g: &ConvGeom, dst: &mut [T]) {
    let (hp, wp) = g.padded();
    let (ph, pw) = g.padding;
    dst.fill(T::ZERO);
    for (src, plane) in x.chunks_exact(g.h * g.w).zip(dst.chunks_exact_mut(hp * wp)) {
        for (y, row) in src.chunks_exact(g.w).enumerate() {
            copy_run(&mut plane[(y + ph) * wp + pw..][..g.w], row);
        }
    }
}

/// Adds the middle of the `[hp, wp]` planes of `src` into the `c / groups` planes `[h, w]` of
/// `dx` (the adjoint of [`pad_planes`] for one group).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn unpad_add<T: Float>(src: &[T], g: &ConvGeom, dx: &mut [T]) {
    let (hp, wp) = g.padded();
    let (ph, pw) = g.padding;
    for (plane, dst) in src
        .chunks_exact(hp * wp)
        .zip(dx.chunks_exact_mut(g.h * g.w))
    {
        for (y, row) in dst.chunks_exact_mut(g.w).enumerate() {
            add_run(row, &plane[(y + ph) * wp + pw..][..g.w]);
        }
    }
}

/// `dst = src` for a short run, in blocks of 16 (the last block overlaps the one before),
/// or two overlapping blocks of 8 or 4 for shorter runs.
#[inline(always)]
pub(super) fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    let src = &src[..n];
    if n >= 16 {
        let mut k = 0;
        while k + 16 <= n {
            dst[k..k + 16].copy_from_slice(&src[k..k + 16]);
            k += 16;
        }
        if k < n {
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        // 0 to 3 elements, one by one (not a memcpy call)
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    }
}

/// `dst += src` for a short run, in blocks of 8 then one by one.
#[inline(always)]
fn add_run<T: Float>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    let src = &src[..n];
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s8 = src.chunks_exact(8);
    for (d, s) in (&mut d8).zip(&mut s8) {
        for k in 0..8 {
            d[k] += s[k];
        }
    }
    for (d, &s) in d8.into_remainder().iter_mut().zip(s8.remainder()) {
        *d += s;
    }
}

/// Calls `f(r, q, s, run)` for every run of `col` row `r = (c, i, j)`: `run` consecutive
/// output positions starting at column `q` of the row (positions `p0..p0 + len` of the
/// image), whose taps start at element `s` of the padded `[cg, hp, wp]` planes and step by
/// the stride.
#[inline(always)]
fn runs(g: &ConvGeom, p0: usize, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let (hp, wp) = g.padded();
    let (sh, sw) = g.stride;
    let (dh, dw) = g.dilation;
    let mut r = 0;
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let base = c * hp * wp + i * dh * wp + j * dw;
                let (mut q, mut y, mut x0) = (0, p0 / g.ow, p0 % g.ow);
                while q < len {
                    let run = (g.ow - x0).min(len - q);
                    f(r, q, base + y * sh * wp + x0 * sw, run);
                    q += run;
                    x0 = 0;
                    y += 1;
                }
                r += 1;
            }
        }
    }
}

/// Fills `col[kg, len]` for output positions `p0..p0 + len` of one image and group, from
/// the group's padded planes `xp` (see [`Padded::group`]).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn im2col<T: Float>(xp: &[T], g: &ConvGeom, p0: usize, len: usize, col: &mut [T]) {
    let sw = g.stride.1;
    runs(g, p0, len, |r, q, s, run| {
        let dst = &mut col[r * len + q..][..run];
        if sw == 1 {
            copy_run(dst, &xp[s..s + run]);
        } else {
            for (k, d) in dst.iter_mut().enumerate() {
                *d = xp[s + k * sw];
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds `col[kg, len]` into the group's padded `[cg, hp, wp]`
/// gradient planes `dxp`, rows in order and columns in order within a row.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn col2im<T: Float>(col: &[T], g: &ConvGeom, p0: usize, len: usize, dxp: &mut [T]) {
    let sw = g.stride.1;
    runs(g, p0, len, |r, q, s, run| {
        let src = &col[r * len + q..][..run];
        if sw == 1 {
            add_run(&mut dxp[s..s + run], src);
        } else {
            for (k, &v) in src.iter().enumerate() {
                dxp[s + k * sw] += v;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, stride: usize, pad: usize, dil: usize) -> ConvGeom {
        let oh = (h + 2 * pad - dil * (k - 1) - 1) / stride + 1;
        let ow = (w + 2 * pad - dil * (k - 1) - 1) / stride + 1;
        ConvGeom {
            n: 1,
            c: 2,
            h,
            w,
            o: 1,
            kh: k,
            kw: k,
            stride: (stride, stride),
            padding: (pad, pad),
            dilation: (dil, dil),
            groups: 1,
            oh,
            ow,
        }
    }

    /// The definition: col[(c, i, j), (y, x)] = x[c, y s + i d - p, x s + j d - p] or 0.
    fn naive(x: &[f64], g: &ConvGeom) -> Vec<f64> {
        let mut col = Vec::new();
        for c in 0..g.c {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    for y in 0..g.oh {
                        for xx in 0..g.ow {
                            let iy =
                                (y * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
                            let ix = (xx * g.stride.1 + j * g.dilation.1) as isize
                                - g.padding.1 as isize;
                            let inside =
                                (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                            col.push(if inside {
                                x[c * g.h * g.w + iy as usize * g.w + ix as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_matches_the_definition_in_tiles_and_col2im_is_its_adjoint() {
        for &(h, w, k, s, p, d) in &[
            (5, 7, 3, 1, 1, 1),
            (28, 28, 5, 1, 2, 1),
            (9, 6, 2, 2, 0, 1),
            (8, 8, 3, 2, 3, 2),
            (3, 3, 3, 1, 0, 1),
            (1, 13, 1, 3, 0, 1),
        ] {
            let g = geom(h, w, k, s, p, d);
            let x: Vec<f64> = (0..g.c * h * w).map(|v| v as f64 + 1.0).collect();
            let want = naive(&x, &g);
            let mut pad = Padded::new();
            let xp = pad.group(&x, &g, 0, 0).to_vec();
            let (kg, pn) = (g.kg(), g.p());
            // whole image, then odd tiles
            for tile in [pn, 5, 1] {
                let mut p0 = 0;
                while p0 < pn {
                    let len = tile.min(pn - p0);
                    let mut col = vec![f64::NAN; kg * len];
                    im2col(&xp, &g, p0, len, &mut col);
                    for r in 0..kg {
                        assert_eq!(col[r * len..][..len], want[r * pn + p0..][..len]);
                    }
                    p0 += len;
                }
            }
            // <im2col(x), c> = <x, col2im(c)> for a ramp c
            let c: Vec<f64> = (0..kg * pn).map(|v| (v % 7) as f64 - 3.0).collect();
            let (hp, wp) = g.padded();
            let mut dxp = vec![0.0; g.c * hp * wp];
            col2im(&c, &g, 0, pn, &mut dxp);
            let mut dx = vec![0.0; x.len()];
            unpad_add(&dxp, &g, &mut dx);
            let lhs: f64 = want.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "{h}x{w} k{k} s{s} p{p} d{d}");
        }
    }

    #[test]
    fn runs_copy_every_length() {
        for n in 0..40 {
            let src: Vec<f32> = (0..n).map(|v| v as f32).collect();
            let mut dst = vec![-1.0; n];
            copy_run(&mut dst, &src);
            assert_eq!(dst, src);
            add_run(&mut dst, &src);
            assert_eq!(dst, src.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        }
    }
}
