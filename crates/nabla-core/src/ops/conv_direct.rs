//! The forward of stride-1 convolutions in f32 on an AVX-512 CPU, without im2col: on the wide
//! grid of [`super::conv_wide`], `col` row `r = (c, i, j)` at wide position `q` is
//! `xp[base(r) + q]`, so the product `w · col` can read its right-hand operand straight from
//! the padded planes, 48 positions (three vectors) at a time, with no `col` matrix and no
//! packing of it. A microkernel keeps 8 output channels x 48 positions in 24 registers and
//! runs over all `kg` rows: per row three unaligned loads of the planes, eight weight
//! broadcasts, 24 FMAs.
//!
//! Each vector's real positions (`x < ow`) are the consecutive outputs from
//! `(q / wp) * ow + min(q % wp, ow)` on, so a compressing masked store writes them (with the
//! bias added) and drops the extra ones. The extra positions read elements outside their
//! channel's window, whose values are never stored, so unlike the gradients on the wide grid
//! the forward needs no finiteness check.
//!
//! Every output is one sum over `r` in order, whatever the tiling, so results are bitwise the
//! same for any thread count.

use super::im2col::{split, ConvGeom, Ptr};
use super::unfold::pad_planes;
use crate::dtype::{as_f32, Float};
use crate::storage::{take_buffer, StorageElem};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output channels per microkernel.
const MR: usize = 8;
/// Vectors of 16 positions per microkernel.
const NV: usize = 3;
/// Positions per microkernel.
const NR: usize = NV * 16;

/// Whether the kernel runs on this CPU.
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

/// Offsets of the `col` rows in a group's padded `[cg, hp, wp]` planes (wide position 0).
fn row_offsets(g: &ConvGeom) -> Vec<usize> {
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

/// The weight of each group as `[og / MR][kg][MR]` blocks (zeros past `og`).
fn pack_weights(wt: &[f32], g: &ConvGeom) -> Vec<f32> {
    let (og, kg) = (g.og(), g.kg());
    let blocks = og.div_ceil(MR);
    let mut out = vec![0.0f32; g.groups * blocks * kg * MR];
    for grp in 0..g.groups {
        for o in 0..og {
            let (b, m) = (o / MR, o % MR);
            let src = &wt[(grp * og + o) * kg..][..kg];
            let dst = &mut out[(grp * blocks + b) * kg * MR..][..kg * MR];
            for (r, &v) in src.iter().enumerate() {
                dst[r * MR + m] = v;
            }
        }
    }
    out
}

/// [`super::im2col::conv_forward`] for a stride-1 geometry on the wide grid
/// ([`super::conv_wide::applies`]), or `None` when `T` is not f32 or the CPU lacks AVX-512.
pub(super) fn forward<T: Float + StorageElem>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (x, wt) = (as_f32(x)?, as_f32(wt)?);
    let bias = match bias {
        Some(b) => Some(as_f32(b)?),
        None => None,
    };
    if !available() {
        return None;
    }
    let (p, og, kg) = (g.p(), g.og(), g.kg());
    let mut out = take_buffer::<T>(g.n * g.o * p);
    if out.is_empty() {
        return Some(out);
    }
    let (hp, wp) = g.padded();
    let wide = (g.oh - 1) * wp + g.ow;
    let strips = wide.div_ceil(NR);
    let offs = row_offsets(g);
    let packed = pack_weights(wt, g);
    let blocks = og.div_ceil(MR);
    // reads reach `base(r) + q` for q < strips * NR: the planes plus slack
    let planes = g.c * hp * wp;
    let slack = strips * NR + 16;
    // units: (image, range of strips); several per image when the batch is small
    let per_img = (8usize).div_ceil(g.n).min(strips).max(1);
    let per_unit = strips.div_ceil(per_img);
    let units = strips.div_ceil(per_unit);
    let chw = g.c * g.h * g.w;
    let dst = Ptr(out.as_mut_ptr().cast::<f32>());
    split(g.n * units, g.macs(), |us| {
        let mut xs = vec![0.0f32; planes + slack];
        let mut have = None;
        for u in us {
            let (img, t) = (u / units, u % units);
            if have != Some(img) {
                let xi = &x[img * chw..][..chw];
                if g.padding == (0, 0) {
                    xs[..planes].copy_from_slice(xi);
                } else {
                    pad_planes(xi, g, &mut xs[..planes]);
                }
                have = Some(img);
            }
            for grp in 0..g.groups {
                let xg = &xs[grp * g.cg() * hp * wp..];
                for s in t * per_unit..((t + 1) * per_unit).min(strips) {
                    let q0 = s * NR;
                    // per vector: the mask of real positions and the output index of the first
                    let mut masks = [0u16; NV];
                    let mut first = [0usize; NV];
                    for v in 0..NV {
                        let qv = q0 + 16 * v;
                        for l in 0..16 {
                            let q = qv + l;
                            if q < wide && q % wp < g.ow {
                                masks[v] |= 1 << l;
                            }
                        }
                        first[v] = (qv / wp) * g.ow + (qv % wp).min(g.ow);
                    }
                    for b in 0..blocks {
                        let wb = &packed[(grp * blocks + b) * kg * MR..][..kg * MR];
                        let rows = MR.min(og - b * MR);
                        let o0 = grp * og + b * MR;
                        // SAFETY: available() checked the CPU; xg holds base(r) + q0 + NR
                        // elements for every r (the slack); unit (img, t) alone writes the
                        // real positions of its strips in image img's planes of `out`.
                        unsafe {
                            let outp = dst.get().add((img * g.o + o0) * p);
                            let bias = bias.map(|b| &b[o0..o0 + rows]);
                            kernel(xg, &offs, q0, wb, outp, p, rows, bias, &masks, &first);
                        }
                    }
                }
            }
        }
    });
    Some(out)
}

/// `out[m, first[v]..]` (compressed by `masks[v]`) = `bias[m] + Σ_r wb[r][m] · xg[offs[r]
/// + q0 + 16 v + lane]` for `m < rows`; output channel `m`'s plane starts at `outp + m * p`.
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + q0 + NR` elements for every `r`; `wb` holds
/// `offs.len() * MR`; the masked outputs lie inside `out`'s planes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    xg: &[f32],
    offs: &[usize],
    q0: usize,
    wb: &[f32],
    outp: *mut f32,
    p: usize,
    rows: usize,
    bias: Option<&[f32]>,
    masks: &[u16; NV],
    first: &[usize; NV],
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let xp = xg.as_ptr().add(q0);
    let mut w = wb.as_ptr();
    for &off in offs {
        let a = xp.add(off);
        let v = [
            _mm512_loadu_ps(a),
            _mm512_loadu_ps(a.add(16)),
            _mm512_loadu_ps(a.add(32)),
        ];
        for (m, acc) in acc.iter_mut().enumerate() {
            let b = _mm512_set1_ps(*w.add(m));
            for (acc, &v) in acc.iter_mut().zip(&v) {
                *acc = _mm512_fmadd_ps(b, v, *acc);
            }
        }
        w = w.add(MR);
    }
    for (m, acc) in acc.iter().enumerate().take(rows) {
        let b = _mm512_set1_ps(bias.map_or(0.0, |b| b[m]));
        let plane = outp.add(m * p);
        for v in 0..NV {
            let y = if bias.is_some() {
                _mm512_add_ps(acc[v], b)
            } else {
                acc[v]
            };
            _mm512_mask_compressstoreu_ps(plane.add(first[v]).cast(), masks[v], y);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    _: &[f32],
    _: &[usize],
    _: usize,
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: usize,
    _: Option<&[f32]>,
    _: &[u16; NV],
    _: &[usize; NV],
) {
    unreachable!("available() is false off x86_64")
}
