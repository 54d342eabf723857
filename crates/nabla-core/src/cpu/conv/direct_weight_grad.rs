//! The weight gradient of stride-1 convolutions in f32 on an AVX-512 CPU, on the wide grid
//! of [`super::wide_grid`] without im2col (the forward and input gradient are in
//! [`super::direct_forward`]): `dw[o, r] = Σ_q gy_wide[o, q] · xp[base(r) + q]`, with `gy`
//! turned round per image so that the sums are kept over output channels in registers.

use super::direct_forward::row_offsets;
use super::geom::ConvGeom;
use super::im2col::Padded;
#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::transpose16::transpose16;
use crate::dtype::{as_f32, as_f32_mut, Float};
use crate::storage::StorageElem;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output channels of the weight gradient per microkernel (four vectors).
const WO: usize = 64;
/// Positions per block of the weight gradient's loop (the block of `gyᵀ` stays in L1).
const WQ: usize = 128;

/// [`super::im2col_gemm::conv_weight_grad`] for a stride-1 geometry on the wide grid, or `None`
/// when `T` is not f32, the CPU lacks AVX-512 or padding the groups' output channels to a
/// multiple of 16 would add more than a quarter. The caller has checked that `x` is finite
/// (the extra positions add `0 · x`).
///
/// Per image, `gy` is turned round to `gyᵀ[q][o]` on the wide positions (zero rows at the
/// extra ones, zero columns up to a multiple of 16 channels), and the sums are kept as
/// `dwᵀ[r][o]`: a microkernel holds `rows x (vectors of 16 channels)` sums (24 registers)
/// and per position broadcasts one plane element per row and loads the position's channels
/// of `gyᵀ`. No horizontal sums; the layout is the `[kg, og]` of
/// [`super::im2col_gemm::weight_grad_chunks`].
pub(super) fn weight_grad<T: Float + StorageElem>(
    x: &[T],
    gy: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (x, gy) = (as_f32(x)?, as_f32(gy)?);
    let (p, og, kg) = (g.p(), g.og(), g.kg());
    let ogp = og.next_multiple_of(16);
    // channels padded to vectors of 16: not when that adds more than a quarter
    if !crate::cpu::simd::avx512f() || 4 * ogp > 5 * og {
        return None;
    }
    let (hp, wp) = g.padded();
    let wide = (g.oh - 1) * wp + g.ow;
    let offs = row_offsets(g);
    let dw = super::im2col_gemm::weight_grad_chunks(
        g,
        g.n,
        || {
            let gyt = vec![0.0f32; wide * ogp];
            let dwt = vec![0.0f32; g.groups * kg * ogp];
            (Padded::new(), gyt, dwt)
        },
        |(pad, gyt, dwt), acc: &mut [T], imgs| {
            dwt.fill(0.0);
            for img in imgs {
                // (slack beyond an image is the next image's elements, finite like all of x,
                // or zeros)
                let src = pad.image_with_slack(x, g, img, wide + 16);
                for grp in 0..g.groups {
                    let gyg = &gy[(img * g.o + grp * og) * p..][..og * p];
                    // gyᵀ on the wide positions; the extra rows and padding columns stay 0
                    // SAFETY: avx512f() checked the CPU; gyg is [og, p], gyt [wide, ogp].
                    unsafe { transpose_gy(gyg, og, p, (g.ow, wp), ogp, gyt) };
                    let xg = &src[grp * g.cg() * hp * wp..];
                    let dg = &mut dwt[grp * kg * ogp..][..kg * ogp];
                    // SAFETY: avx512f() checked the CPU; xg holds offs[r] + wide elements
                    // for every r, gyt wide * ogp, dg kg * ogp.
                    unsafe { weight_grad_image(xg, &offs, gyt, wide, ogp, dg) };
                }
            }
            let acc = as_f32_mut(acc).expect("T is f32");
            for grp in 0..g.groups {
                for r in 0..kg {
                    let src = &dwt[(grp * kg + r) * ogp..][..og];
                    acc[grp * og * kg + r * og..][..og].copy_from_slice(src);
                }
            }
        },
    );
    Some(dw)
}

/// `gyt[q(pos)][o] = gy[o][pos]` for `o < og` and the `p` real positions, `q(pos)` being
/// position `pos`'s wide index (`(pos / ow) * wp + pos % ow`), in 16 x 16 blocks.
///
/// # Safety
/// AVX-512F is available; `gy` holds `og * p` elements, `gyt` `q(p - 1) + 1` rows of `ogp`
/// (a multiple of 16, at least `og`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_gy(
    gy: &[f32],
    og: usize,
    p: usize,
    (ow, wp): (usize, usize),
    ogp: usize,
    gyt: &mut [f32],
) {
    let mut pos0 = 0;
    // the wide index of each lane's position, advanced without divisions
    let (mut y, mut x) = (0, 0);
    let mut qs = [0usize; 16];
    while pos0 < p {
        let n = 16.min(p - pos0);
        let m = crate::cpu::simd::lane_mask(n);
        for q in qs.iter_mut().take(n) {
            *q = y * wp + x;
            x += 1;
            if x == ow {
                (y, x) = (y + 1, 0);
            }
        }
        let mut o0 = 0;
        while o0 < og {
            let r: &mut [__m512; 16] = &mut std::array::from_fn(|k| {
                if o0 + k < og {
                    // SAFETY: row o0 + k < og of gy, positions pos0..pos0 + n <= p.
                    unsafe { _mm512_maskz_loadu_ps(m, gy.as_ptr().add((o0 + k) * p + pos0)) }
                } else {
                    _mm512_setzero_ps()
                }
            });
            // SAFETY: forwarded.
            unsafe { transpose16(r) };
            for (r, &q) in r.iter().zip(&qs).take(n) {
                // SAFETY: row q of gyt, channels o0..o0 + 16 <= ogp.
                unsafe { _mm512_storeu_ps(gyt.as_mut_ptr().add(q * ogp + o0), *r) };
            }
            o0 += 16;
        }
        pos0 += 16;
    }
}

/// `dg[r][o] += Σ_q xg[offs[r] + q] · gyt[q][o]` for `q < wide`, every `r` and `o < ogp`,
/// in blocks of [`WQ`] positions (each sum in position order).
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + wide` elements for every `r`; `gyt` holds
/// `wide * ogp` and `dg` `offs.len() * ogp`, with `ogp` a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn weight_grad_image(
    xg: &[f32],
    offs: &[usize],
    gyt: &[f32],
    wide: usize,
    ogp: usize,
    dg: &mut [f32],
) {
    let kg = offs.len();
    let mut q0 = 0;
    while q0 < wide {
        let nq = WQ.min(wide - q0);
        let mut o0 = 0;
        while o0 < ogp {
            let nv = ((ogp - o0) / 16).min(WO / 16);
            let mut r = 0;
            while r < kg {
                let left = kg - r;
                // SAFETY: forwarded; the tile's rows r.. and channels o0.. are inside dg.
                unsafe {
                    match nv {
                        4 => r += wg_tile::<4, 6>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        3 => r += wg_tile::<3, 8>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        2 => r += wg_tile::<2, 12>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        _ => r += wg_tile::<1, 24>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                    }
                }
            }
            o0 += nv * 16;
        }
        q0 += nq;
    }
}

/// One tile of [`weight_grad_image`]: rows `r0..r0 + min(R, left)`, channels
/// `o0..o0 + 16 NV`, positions `q0..q0 + nq`. Returns the number of rows done.
///
/// # Safety
/// As for [`weight_grad_image`], with the tile inside `dg`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn wg_tile<const NV: usize, const R: usize>(
    xg: &[f32],
    offs: &[usize],
    gyt: &[f32],
    ogp: usize,
    dg: &mut [f32],
    (q0, nq): (usize, usize),
    o0: usize,
    r0: usize,
    left: usize,
) -> usize {
    let rows = R.min(left);
    let mut acc = [[_mm512_setzero_ps(); NV]; R];
    let mut xr = [xg.as_ptr(); R];
    for (i, xr) in xr.iter_mut().enumerate() {
        // rows past the last repeat it (their sums are dropped)
        *xr = xg.as_ptr().add(offs[r0 + i.min(rows - 1)] + q0);
    }
    let dp = dg.as_mut_ptr();
    for (i, acc) in acc.iter_mut().enumerate().take(rows) {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = _mm512_loadu_ps(dp.add((r0 + i) * ogp + o0 + 16 * v));
        }
    }
    let mut gp = gyt.as_ptr().add(q0 * ogp + o0);
    for q in 0..nq {
        let mut gv = [_mm512_setzero_ps(); NV];
        for (v, gv) in gv.iter_mut().enumerate() {
            *gv = _mm512_loadu_ps(gp.add(16 * v));
        }
        for (acc, xr) in acc.iter_mut().zip(&xr) {
            let b = _mm512_set1_ps(*xr.add(q));
            for (a, &gv) in acc.iter_mut().zip(&gv) {
                *a = _mm512_fmadd_ps(b, gv, *a);
            }
        }
        gp = gp.add(ogp);
    }
    for (i, acc) in acc.iter().enumerate().take(rows) {
        for (v, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(dp.add((r0 + i) * ogp + o0 + 16 * v), *a);
        }
    }
    rows
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn transpose_gy(_: &[f32], _: usize, _: usize, _: (usize, usize), _: usize, _: &mut [f32]) {
    unreachable!("avx512f() is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn weight_grad_image(_: &[f32], _: &[usize], _: &[f32], _: usize, _: usize, _: &mut [f32]) {
    unreachable!("avx512f() is false off x86_64")
}
