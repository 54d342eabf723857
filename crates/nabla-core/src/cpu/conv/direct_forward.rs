//! The forward and input gradient of stride-1 convolutions in f32 on an AVX-512 CPU,
//! without im2col: on the wide grid of [`super::wide_grid`], `col` row `r = (c, i, j)` at
//! wide position `q` is `xp[base(r) + q]`, so the product `w · col` can read its right-hand
//! operand straight from the padded planes, a strip of positions at a time, with no `col`
//! matrix and no packing of it. A microkernel keeps 8 output channels x 48 positions
//! (or 6 x 64, for channel counts such as LeNet's 6) in 24 registers and runs over all `kg`
//! rows: per row three (four) unaligned loads of the planes, eight (six) weight broadcasts,
//! 24 FMAs.
//!
//! Each vector's real positions (`x < ow`) are the consecutive outputs from
//! `(q / wp) * ow + min(q % wp, ow)` on, so a compressing masked store writes them (with the
//! bias added) and drops the extra ones. The extra positions read elements outside their
//! channel's window, whose values are never stored, so unlike the gradients on the wide grid
//! the forward needs no finiteness check. The input gradient is the same product over the
//! output gradient laid on the padded input's grid (see [`input_grad`]).
//!
//! The weight gradient's direct kernel is in [`super::direct_weight_grad`].
//!
//! Every output is one sum over `r` in order, whatever the tiling, so results are bitwise the
//! same for any thread count.

use super::gemm_units::{split, Ptr};
use super::geom::ConvGeom;
use super::im2col::{copy_run, Padded};
use crate::dtype::{as_f32, Float};
use crate::storage::{take_buffer, StorageElem};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The microkernel's tile, output rows x vectors of 16 positions (24 accumulators): 8 x 3,
/// or 6 x 4 where that pads the rows less (LeNet's 6 channels).
fn six_rows(rows: usize) -> bool {
    rows.next_multiple_of(6) - rows < rows.next_multiple_of(8) - rows
}

/// Offsets of the `col` rows in a group's padded `[cg, hp, wp]` planes (wide position 0).
pub(super) fn row_offsets(g: &ConvGeom) -> Vec<usize> {
    let (hp, wp) = g.padded();
    let (kh, kw) = (g.kh, g.kw);
    (0..g.kg())
        .map(|r| {
            let (c, ij) = (r / (kh * kw), r % (kh * kw));
            let (i, j) = (ij / kw, ij % kw);
            c * hp * wp + i * g.dilation.0 * wp + j * g.dilation.1
        })
        .collect()
}

/// `[rows / M][k][M]` blocks of the matrix `v(m, r)`, `m < rows`, `r < k` (zeros past
/// `rows`): the microkernel's left-hand operand.
fn pack<const M: usize>(rows: usize, k: usize, v: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut out = vec![0.0f32; rows.div_ceil(M) * k * M];
    for m in 0..rows {
        let dst = &mut out[(m / M) * k * M..][..k * M];
        for r in 0..k {
            dst[r * M + m % M] = v(m, r);
        }
    }
    out
}

/// The positions a direct product runs over: `t0..t1` on a grid of rows `wp` wide, of which
/// those in columns `x0..x0 + xw` are real; the real ones are the consecutive outputs of an
/// `xw`-wide plane whose first row is grid row `row0`.
struct Grid {
    t0: usize,
    t1: usize,
    wp: usize,
    x0: usize,
    xw: usize,
    row0: usize,
}

impl Grid {
    /// Strips of `nr` positions.
    fn strips(&self, nr: usize) -> usize {
        (self.t1 - self.t0).div_ceil(nr)
    }

    /// For strip `s` (of `V` vectors): per vector, the mask of its real positions and the
    /// output index of the first of them.
    fn masks<const V: usize>(&self, s: usize) -> ([u16; V], [usize; V]) {
        let mut masks = [0u16; V];
        let mut first = [0usize; V];
        for v in 0..V {
            let tv = self.t0 + s * 16 * V + 16 * v;
            for l in 0..16 {
                let t = tv + l;
                if t < self.t1 && (self.x0..self.x0 + self.xw).contains(&(t % self.wp)) {
                    masks[v] |= 1 << l;
                }
            }
            let col = (tv % self.wp).saturating_sub(self.x0).min(self.xw);
            first[v] = (tv / self.wp).saturating_sub(self.row0) * self.xw + col;
        }
        (masks, first)
    }
}

/// One group's direct product over strips `ss` of `grid`: for every output row `m < rows`
/// (plane `m` of `out`, `plane` elements apart), the real positions `t` get
/// `bias[m] + Σ_r packed(m, r) · xg[offs[r] + t]`.
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + t0 + strips * 16 V` elements for every `r`;
/// `packed` holds [`pack`]'s blocks of `rows x offs.len()`; the real outputs of the strips lie
/// inside `out`'s `rows` planes and no other thread writes them.
#[allow(clippy::too_many_arguments)]
unsafe fn product<const M: usize, const V: usize>(
    xg: &[f32],
    offs: &[usize],
    packed: &[f32],
    rows: usize,
    grid: &Grid,
    ss: std::ops::Range<usize>,
    out: *mut f32,
    plane: usize,
    bias: Option<&[f32]>,
    relu: bool,
) {
    let k = offs.len();
    for s in ss {
        let (masks, first) = grid.masks::<V>(s);
        for b in 0..rows.div_ceil(M) {
            let n = M.min(rows - b * M);
            let bias = bias.map(|v| &v[b * M..b * M + n]);
            // SAFETY: forwarded from the caller.
            unsafe {
                kernel::<M, V>(
                    xg,
                    offs,
                    grid.t0 + s * 16 * V,
                    &packed[b * k * M..][..k * M],
                    out.add(b * M * plane),
                    plane,
                    n,
                    bias,
                    relu,
                    &masks,
                    &first,
                );
            }
        }
    }
}

/// [`super::im2col_gemm::conv_forward`] for a stride-1 geometry on the wide grid
/// ([`super::wide_grid::applies`]), or `None` when `T` is not f32 or the CPU lacks AVX-512.
pub(super) fn forward<T: Float + StorageElem>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    relu: bool,
) -> Option<Vec<T>> {
    if six_rows(g.og()) {
        forward_tiles::<T, 6, 4>(x, wt, bias, g, relu)
    } else {
        forward_tiles::<T, 8, 3>(x, wt, bias, g, relu)
    }
}

/// [`forward`] with `M x V` tiles.
fn forward_tiles<T: Float + StorageElem, const M: usize, const V: usize>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    relu: bool,
) -> Option<Vec<T>> {
    let (x, wt) = (as_f32(x)?, as_f32(wt)?);
    let bias = match bias {
        Some(b) => Some(as_f32(b)?),
        None => None,
    };
    if !crate::cpu::simd::avx512f() {
        return None;
    }
    let (p, og, kg) = (g.p(), g.og(), g.kg());
    let mut out = take_buffer::<T>(g.n * g.o * p);
    if out.is_empty() {
        return Some(out);
    }
    let (hp, wp) = g.padded();
    let grid = Grid {
        t0: 0,
        t1: (g.oh - 1) * wp + g.ow,
        wp,
        x0: 0,
        xw: g.ow,
        row0: 0,
    };
    let strips = grid.strips(16 * V);
    let offs = row_offsets(g);
    let packed: Vec<Vec<f32>> = (0..g.groups)
        .map(|grp| pack::<M>(og, kg, |m, r| wt[(grp * og + m) * kg + r]))
        .collect();
    // reads reach `offs[r] + t` for t < strips * 16 V: the planes plus slack
    let slack = strips * 16 * V + 16;
    let (units, per_unit) = units(g.n, strips);
    let dst = Ptr(out.as_mut_ptr().cast::<f32>());
    split(g.n * units, g.macs(), |us| {
        let mut pad = Padded::new();
        for u in us {
            let (img, t) = (u / units, u % units);
            let src = pad.image_with_slack(x, g, img, slack);
            for (grp, packed) in packed.iter().enumerate() {
                let o0 = grp * og;
                // SAFETY: avx512f() checked the CPU; src holds the slack; unit (img, t)
                // alone writes the real positions of its strips in image img's planes.
                unsafe {
                    product::<M, V>(
                        &src[grp * g.cg() * hp * wp..],
                        &offs,
                        packed,
                        og,
                        &grid,
                        t * per_unit..((t + 1) * per_unit).min(strips),
                        dst.get().add((img * g.o + o0) * p),
                        p,
                        bias.map(|b| &b[o0..o0 + og]),
                        relu,
                    );
                }
            }
        }
    });
    Some(out)
}

/// Work units of `n` images of `strips` strips: (units per image, strips per unit), several
/// units per image when the batch is small.
fn units(n: usize, strips: usize) -> (usize, usize) {
    let per_img = 8usize.div_ceil(n.max(1)).min(strips).max(1);
    let per_unit = strips.div_ceil(per_img).max(1);
    (strips.div_ceil(per_unit), per_unit)
}

/// [`super::im2col_gemm::conv_input_grad`] for a stride-1 geometry on the wide grid, or `None`
/// when `T` is not f32, the CPU lacks AVX-512 or the groups have fewer than 6 input channels
/// (the microkernel's rows would be mostly padding; LeNet's 6 on 8-row tiles measured no
/// faster than im2col, on 6-row tiles faster). The caller has checked that the weight is
/// finite (the zero gaps add `w · 0`).
///
/// The same product as the forward, with the roles turned: `gy` on the wide grid of the
/// padded input (`gyw[o, q]` at `q = y * wp + x`, zeros at the extra columns and around), and
/// `dxp[c, t] = Σ_(o, i, j) w[o, c, i, j] · gyw[o, t - i d0 wp - j d1]` for the positions `t`
/// of the unpadded input, written straight into `dx`.
pub(super) fn input_grad<T: Float + StorageElem>(
    gy: &[T],
    wt: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    if g.cg() < 6 {
        None
    } else if six_rows(g.cg()) {
        input_grad_tiles::<T, 6, 4>(gy, wt, g)
    } else {
        input_grad_tiles::<T, 8, 3>(gy, wt, g)
    }
}

/// [`input_grad`] with `M x V` tiles.
fn input_grad_tiles<T: Float + StorageElem, const M: usize, const V: usize>(
    gy: &[T],
    wt: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (gy, wt) = (as_f32(gy)?, as_f32(wt)?);
    if !crate::cpu::simd::avx512f() {
        return None;
    }
    let (p, og, cg, kg) = (g.p(), g.og(), g.cg(), g.kg());
    let mut dx = take_buffer::<T>(g.n * g.c * g.h * g.w);
    if dx.is_empty() {
        return Some(dx);
    }
    let (hp, wp) = g.padded();
    let (ph, pw) = g.padding;
    let (khw, (d0, d1)) = (g.kh * g.kw, g.dilation);
    let grid = Grid {
        t0: ph * wp,
        t1: (ph + g.h - 1) * wp + pw + g.w,
        wp,
        x0: pw,
        xw: g.w,
        row0: ph,
    };
    let strips = grid.strips(16 * V);
    // gyw of channel o at o * len + lead + q; reads reach q from -lead to t1 + strips * 16 V
    let lead = (g.kh - 1) * d0 * wp + (g.kw - 1) * d1;
    let wide_gy = (g.oh - 1) * wp + g.ow;
    let len = lead + (grid.t0 + strips * 16 * V).max(wide_gy) + 16;
    let offs: Vec<usize> = (0..og * khw)
        .map(|r| {
            let (o, ij) = (r / khw, r % khw);
            o * len + lead - (ij / g.kw) * d0 * wp - (ij % g.kw) * d1
        })
        .collect();
    let packed: Vec<Vec<f32>> = (0..g.groups)
        .map(|grp| {
            pack::<M>(cg, og * khw, |c, r| {
                wt[(grp * og + r / khw) * kg + c * khw + r % khw]
            })
        })
        .collect();
    debug_assert!(hp * wp >= grid.t1);
    let (units, per_unit) = units(g.n, strips);
    let hw = g.h * g.w;
    let dst = Ptr(dx.as_mut_ptr().cast::<f32>());
    split(g.n * units, g.macs(), |us| {
        // the zeros (gaps, lead, tail) are never written, so they stay zero
        let mut gw = vec![0.0f32; g.groups * og * len];
        let mut have = None;
        for u in us {
            let (img, t) = (u / units, u % units);
            if have != Some(img) {
                for (o, src) in gy[img * g.o * p..][..g.o * p].chunks_exact(p).enumerate() {
                    let dst = &mut gw[o * len + lead..];
                    for (y, row) in src.chunks_exact(g.ow).enumerate() {
                        copy_run(&mut dst[y * wp..y * wp + g.ow], row);
                    }
                }
                have = Some(img);
            }
            for (grp, packed) in packed.iter().enumerate() {
                // SAFETY: avx512f() checked the CPU; every read offs[r] + t lies in the
                // group's og * len elements of gw; unit (img, t) alone writes the real
                // positions of its strips in image img's planes of dx.
                unsafe {
                    product::<M, V>(
                        &gw[grp * og * len..],
                        &offs,
                        packed,
                        cg,
                        &grid,
                        t * per_unit..((t + 1) * per_unit).min(strips),
                        dst.get().add((img * g.c + grp * cg) * hw),
                        hw,
                        None,
                        false,
                    );
                }
            }
        }
    });
    Some(dx)
}

/// For `m < rows`: `y = bias[m] + Σ_r wb[r][m] · xg[offs[r] + q0 + 16 v + lane]` (with
/// `relu`: 0 where `y < 0`, so NaN and -0 stay as [`crate::Tensor::relu`] leaves them), and
/// the lanes of `masks[v]` of `y` stored compressed at `out[m][first[v]..]`, output channel
/// `m`'s plane starting at `outp + m * p`.
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + q0 + 16 V` elements for every `r`; `wb` holds
/// `offs.len() * M`; the masked outputs lie inside `out`'s planes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const M: usize, const V: usize>(
    xg: &[f32],
    offs: &[usize],
    q0: usize,
    wb: &[f32],
    outp: *mut f32,
    p: usize,
    rows: usize,
    bias: Option<&[f32]>,
    relu: bool,
    masks: &[u16; V],
    first: &[usize; V],
) {
    let mut acc = [[_mm512_setzero_ps(); V]; M];
    let xp = xg.as_ptr().add(q0);
    let mut w = wb.as_ptr();
    for &off in offs {
        let a = xp.add(off);
        let mut v = [_mm512_setzero_ps(); V];
        for (i, v) in v.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(a.add(16 * i));
        }
        for (m, acc) in acc.iter_mut().enumerate() {
            let b = _mm512_set1_ps(*w.add(m));
            for (acc, &v) in acc.iter_mut().zip(&v) {
                *acc = _mm512_fmadd_ps(b, v, *acc);
            }
        }
        w = w.add(M);
    }
    for (m, acc) in acc.iter().enumerate().take(rows) {
        let b = _mm512_set1_ps(bias.map_or(0.0, |b| b[m]));
        let plane = outp.add(m * p);
        for v in 0..V {
            let mut y = if bias.is_some() {
                _mm512_add_ps(acc[v], b)
            } else {
                acc[v]
            };
            if relu {
                let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(y, _mm512_setzero_ps());
                y = _mm512_mask_mov_ps(y, neg, _mm512_setzero_ps());
            }
            _mm512_mask_compressstoreu_ps(plane.add(first[v]).cast(), masks[v], y);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const M: usize, const V: usize>(
    _: &[f32],
    _: &[usize],
    _: usize,
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: usize,
    _: Option<&[f32]>,
    _: bool,
    _: &[u16; V],
    _: &[usize; V],
) {
    unreachable!("avx512f() is false off x86_64")
}
