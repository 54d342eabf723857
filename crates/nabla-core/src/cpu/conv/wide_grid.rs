//! Stride-1 convolutions on the "wide" grid: output positions are numbered over the padded
//! input's width, `q = y * wp + x` for `x < wp` (not `x < ow`), so that one `col` row
//! `(c, i, j)` is a single contiguous stretch of the padded planes, `xp[base(c, i, j) + q]`,
//! instead of `oh` runs of `ow` elements. im2col and col2im become one copy or one addition
//! per `col` row; the price is `wp - ow` extra columns per output row, which the products
//! compute and then drop (used only while `wp <= 1.5 ow`). The wide positions of an image
//! run from 0 to `(oh - 1) * wp + ow`; those with `x >= ow` are the extra ones.
//!
//! - Forward: `tmp[og, len] = w · col` per tile, then the tile's real columns are copied to
//!   the output with the bias added.
//! - Weight gradient: `dw += gy_wide · colᵀ`, where `gy_wide` is `gy` with zeros in the extra
//!   columns. The extra terms are `0 · x`, exactly zero when `x` is finite; with a non-finite
//!   input they would be NaN where the plain sum has none, so that case takes the generic
//!   kernel instead.
//! - Input gradient: `col = wᵀ · gy_wide`, then col2im. The extra columns of `col` are
//!   `w · 0`, zero when the weight is finite (checked likewise), and adding them changes
//!   nothing but the sign of a zero.
//!
//! In f32 on an AVX-512 CPU, [`super::direct_forward`]'s kernels take these geometries first
//! (the same grid, without `col` or packing); the kernels here are the portable path.
//!
//! Tiles, chunks and summation orders depend on the shapes only, so results are bitwise the
//! same for any thread count, as in [`super::im2col_gemm`].

use super::gemm_units::{gemm_seq, split, Ptr};
use super::geom::{ConvGeom, L2_BYTES};
use super::im2col::{copy_run, Padded};
use super::im2col_gemm::{input_grad_units, weight_grad_chunks};
use crate::dtype::Float;
use crate::storage::{take_buffer, StorageElem};
use multiversion::multiversion;

/// Whether the wide grid is used for this geometry.
pub(super) fn applies(g: &ConvGeom) -> bool {
    let (_, wp) = g.padded();
    g.stride == (1, 1) && g.oh > 0 && g.ow > 0 && g.kg() > 0 && 2 * wp <= 3 * g.ow
}

/// Wide positions per image: `(oh - 1) * wp + ow`, rounded up to a multiple of 16 so that
/// the products' row count is a whole number of vector registers (the positions past the
/// planes' end read as zeros).
fn wide(g: &ConvGeom) -> usize {
    ((g.oh - 1) * g.padded().1 + g.ow).next_multiple_of(16)
}

/// Wide positions per tile: `kg * tile` elements of `col` fit in [`L2_BYTES`].
fn tile<T>(g: &ConvGeom) -> usize {
    let t = (L2_BYTES / (g.kg() * std::mem::size_of::<T>())).max(16);
    let pw = wide(g);
    if t >= pw {
        pw
    } else {
        t / 16 * 16
    }
}

/// Whether every element is finite.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn all_finite<T: Float>(v: &[T]) -> bool {
    v.chunks(256)
        .all(|c| c.iter().fold(true, |a, x| a & x.is_finite_()))
}

/// [`all_finite`], split across the threads when `v` is long (it is a whole batch's input).
fn all_finite_par<T: Float>(v: &[T]) -> bool {
    if v.len() < 1 << 16 || crate::parallel::threads() < 2 {
        return all_finite(v);
    }
    let ok = std::sync::atomic::AtomicBool::new(true);
    crate::parallel::for_ranges(v.len(), 4096, |r| {
        if !all_finite(&v[r]) {
            ok.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    });
    ok.into_inner()
}

/// `col[kg, len]` for wide positions `q0..q0 + len` of one group's padded planes `xp`.
/// Positions past the end of the planes read as zeros.
fn im2col<T: Float>(xp: &[T], g: &ConvGeom, q0: usize, len: usize, col: &mut [T]) {
    for (r, dst) in col[..g.kg() * len].chunks_exact_mut(len).enumerate() {
        let s = base(g, r) + q0;
        let n = len.min(xp.len().saturating_sub(s));
        dst[..n].copy_from_slice(&xp[s..s + n]);
        dst[n..].fill(T::ZERO);
    }
}

/// The adjoint of [`im2col`]: adds `col[kg, len]` into the padded planes `dxp` (the
/// columns past their end are dropped).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn col2im<T: Float>(col: &[T], g: &ConvGeom, q0: usize, len: usize, dxp: &mut [T]) {
    for (r, src) in col[..g.kg() * len].chunks_exact(len).enumerate() {
        let s = base(g, r) + q0;
        let n = len.min(dxp.len().saturating_sub(s));
        for (d, &v) in dxp[s..s + n].iter_mut().zip(src) {
            *d += v;
        }
    }
}

/// Offset in the padded `[cg, hp, wp]` planes of `col` row `r = (c, i, j)` at wide position 0.
#[inline]
fn base(g: &ConvGeom, r: usize) -> usize {
    let (hp, wp) = g.padded();
    let (c, ij) = (r / (g.kh * g.kw), r % (g.kh * g.kw));
    let (i, j) = (ij / g.kw, ij % g.kw);
    c * hp * wp + i * g.dilation.0 * wp + j * g.dilation.1
}

/// Calls `f(q, y, x, run)` for the runs of real output positions among wide positions
/// `q0..q0 + len`: `run` positions from wide position `q`, which is output `(y, x)`.
#[inline(always)]
fn real_runs(g: &ConvGeom, q0: usize, len: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let wp = g.padded().1;
    let end = q0 + len;
    let mut y = q0 / wp;
    while y < g.oh && y * wp < end {
        let a = (y * wp).max(q0);
        let b = (y * wp + g.ow).min(end);
        if a < b {
            f(a, y, a - y * wp, b - a);
        }
        y += 1;
    }
}

/// `gyw[og, len]`: the group's `gy` block (`[og, oh * ow]`) on wide positions `q0..q0 + len`,
/// zeros in the extra columns.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn widen<T: Float>(gy: &[T], g: &ConvGeom, q0: usize, len: usize, gyw: &mut [T]) {
    let p = g.p();
    for (src, dst) in gy
        .chunks_exact(p)
        .zip(gyw.chunks_exact_mut(len))
        .take(g.og())
    {
        // zeros between the runs only
        let mut at = 0;
        real_runs(g, q0, len, |q, y, x, run| {
            dst[at..q - q0].fill(T::ZERO);
            copy_run(&mut dst[q - q0..][..run], &src[y * g.ow + x..][..run]);
            at = q - q0 + run;
        });
        dst[at..].fill(T::ZERO);
    }
}

/// [`super::im2col_gemm::conv_forward`] on the wide grid.
pub(super) fn forward<T: Float + StorageElem>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    relu: bool,
) -> Vec<T> {
    if let Some(y) = super::direct_forward::forward(x, wt, bias, g, relu) {
        return y;
    }
    let (p, kg, og) = (g.p(), g.kg(), g.og());
    let mut out = take_buffer::<T>(g.n * g.o * p);
    if out.is_empty() {
        return out;
    }
    let (pw, tp) = (wide(g), tile::<T>(g));
    let tiles = pw.div_ceil(tp);
    let (chw, ohw) = (g.c * g.h * g.w, g.o * p);
    let dst = Ptr(out.as_mut_ptr());
    split(g.n * tiles, g.macs(), |units| {
        let mut col = take_buffer::<T>(kg * tp);
        let mut tmp = take_buffer::<T>(og * tp);
        let mut pad = Padded::new();
        for u in units {
            let (img, t) = (u / tiles, u % tiles);
            let (q0, len) = (t * tp, tp.min(pw - t * tp));
            let xi = &x[img * chw..][..chw];
            for grp in 0..g.groups {
                im2col(pad.group(xi, g, img, grp), g, q0, len, &mut col);
                // SAFETY: tmp holds og * len elements, col kg * len, w's group block [og, kg].
                unsafe {
                    gemm_seq(
                        (og, len, kg),
                        (tmp.as_mut_ptr(), len, 1),
                        false,
                        (wt[grp * og * kg..].as_ptr(), kg, 1),
                        (col.as_ptr(), len, 1),
                    );
                }
                for (o, row) in tmp.chunks_exact(len).take(og).enumerate() {
                    let b = bias.map_or(T::ZERO, |b| b[grp * og + o]);
                    real_runs(g, q0, len, |q, y, x, run| {
                        // SAFETY: unit (img, t) alone writes the real positions of its tile,
                        // in rows grp*og.. of image img, inside `out`.
                        let d = unsafe {
                            std::slice::from_raw_parts_mut(
                                dst.get().add(img * ohw + (grp * og + o) * p + y * g.ow + x),
                                run,
                            )
                        };
                        let s = &row[q - q0..][..run];
                        if bias.is_some() {
                            for (d, &v) in d.iter_mut().zip(s) {
                                *d = v + b;
                            }
                        } else {
                            copy_run(d, s);
                        }
                        if relu {
                            super::im2col_gemm::relu_in_place(d);
                        }
                    });
                }
            }
        }
    });
    out
}

/// [`super::im2col_gemm::conv_input_grad`] on the wide grid, or `None` when the weight has a
/// non-finite element.
pub(super) fn input_grad<T: Float + StorageElem>(
    gy: &[T],
    wt: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    if !all_finite_par(wt) {
        return None;
    }
    if let Some(dx) = super::direct_forward::input_grad(gy, wt, g) {
        return Some(dx);
    }
    let (p, kg, og) = (g.p(), g.kg(), g.og());
    let (pw, tp) = (wide(g), tile::<T>(g));
    let dx = input_grad_units(
        g,
        || (take_buffer::<T>(kg * tp), take_buffer::<T>(og * tp)),
        |(col, gyw), img, grp, acc| {
            let gyg = &gy[img * g.o * p + grp * og * p..][..og * p];
            let mut q0 = 0;
            while q0 < pw {
                let len = tp.min(pw - q0);
                widen(gyg, g, q0, len, gyw);
                // SAFETY: col holds kg * len elements; w's group block is [og, kg] packed,
                // read transposed; gyw is [og, len] packed.
                unsafe {
                    gemm_seq(
                        (kg, len, og),
                        (col.as_mut_ptr(), len, 1),
                        false,
                        (wt[grp * og * kg..].as_ptr(), 1, kg),
                        (gyw.as_ptr(), len, 1),
                    );
                }
                col2im(col, g, q0, len, acc);
                q0 += len;
            }
        },
    );
    Some(dx)
}

/// [`super::im2col_gemm::conv_weight_grad`] on the wide grid (the same chunks of (image, tile)
/// units, the sums kept transposed), or `None` when the input has a non-finite element.
pub(super) fn weight_grad<T: Float + StorageElem>(
    x: &[T],
    gy: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    if !all_finite_par(x) {
        return None;
    }
    if let Some(dw) = super::direct_weight_grad::weight_grad(x, gy, g) {
        return Some(dw);
    }
    let (p, kg, og) = (g.p(), g.kg(), g.og());
    let (pw, tp) = (wide(g), tile::<T>(g));
    let tiles = pw.div_ceil(tp);
    let chw = g.c * g.h * g.w;
    let dw = weight_grad_chunks(
        g,
        g.n * tiles,
        || {
            let (col, gyw) = (take_buffer::<T>(kg * tp), take_buffer::<T>(og * tp));
            (col, gyw, Padded::new())
        },
        |(col, gyw, pad), acc, units| {
            for (k, u) in units.enumerate() {
                let (img, t) = (u / tiles, u % tiles);
                let (q0, len) = (t * tp, tp.min(pw - t * tp));
                let xi = &x[img * chw..][..chw];
                for grp in 0..g.groups {
                    im2col(pad.group(xi, g, img, grp), g, q0, len, col);
                    widen(&gy[img * g.o * p + grp * og * p..], g, q0, len, gyw);
                    // SAFETY: acc's group block is [og, kg] stored transposed; gyw is
                    // [og, len] packed; col read transposed ([len, kg], row stride 1).
                    unsafe {
                        gemm_seq(
                            (og, kg, len),
                            (acc[grp * og * kg..].as_mut_ptr(), 1, og),
                            k > 0,
                            (gyw.as_ptr(), len, 1),
                            (col.as_ptr(), 1, len),
                        );
                    }
                }
            }
        },
    );
    Some(dw)
}
