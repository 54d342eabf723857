//! Convolution kernels: im2col tiles fed to single-threaded `gemm` calls (one per tile and
//! group), col2im for the adjoint, and the weight gradient as one product summed over the
//! whole batch.
//!
//! The layout is NCHW throughout. For one image and one group, with `K = C/g * kh * kw` and
//! `P = oh * ow`, the convolution is `out[O/g, P] = w[O/g, K] · col[K, P]`, where `col` holds,
//! in row `(c, i, j)` and column `(y, x)`, the input element under kernel tap `(i, j)` of
//! output `(y, x)` (zero in the padding). Columns are cut into tiles of at most
//! [`L2_BYTES`](super::geom::L2_BYTES) of `col`, so a tile stays in L2 between im2col and gemm.
//!
//! Determinism: tile boundaries and the chunks of the weight gradient depend on the shapes
//! only, never on the thread count, and every output element is summed in a fixed order, so
//! results are bitwise the same for any number of threads.

use super::gemm_units::{gemm_seq, split, Ptr};
use super::geom::ConvGeom;
use super::im2col::{col2im, im2col, unpad_add, Padded};
use super::wide_grid as wide;
use crate::dtype::Float;
use crate::storage::{take_buffer, StorageElem};
use std::ops::Range;

/// Weight-gradient partial sums: at most this many, and at most [`MAX_PARTIAL_ELEMS`]
/// elements of them in all.
const MAX_PARTIALS: usize = 8;
const MAX_PARTIAL_ELEMS: usize = 1 << 24;

/// The convolution `out[n, o, oh, ow]` of `x[n, c, h, w]` (packed) with `wt[o, c/g, kh, kw]`
/// (packed), plus `bias[o]`, and with `relu` through ReLU (in each work unit as it is
/// written, not as another pass). Work units are (image, tile) pairs.
pub(crate) fn conv_forward<T: Float + StorageElem>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
    relu: bool,
) -> Vec<T> {
    if wide::applies(g) {
        return wide::forward(x, wt, bias, g, relu);
    }
    let (p, kg, og, cg) = (g.p(), g.kg(), g.og(), g.cg());
    let mut out = take_buffer::<T>(g.n * g.o * p);
    if out.is_empty() {
        return out;
    }
    let tp = g.tile(std::mem::size_of::<T>());
    let tiles = p.div_ceil(tp);
    let (chw, ohw) = (g.c * g.h * g.w, g.o * p);
    let dst = Ptr(out.as_mut_ptr());
    split(g.n * tiles, g.macs(), |units| {
        let mut col = take_buffer::<T>(if g.pointwise() { 0 } else { kg * tp });
        let mut pad = Padded::new();
        for u in units {
            let (img, t) = (u / tiles, u % tiles);
            let (p0, len) = (t * tp, tp.min(p - t * tp));
            let xi = &x[img * chw..][..chw];
            for grp in 0..g.groups {
                let (bptr, brs) = if g.pointwise() {
                    (xi[grp * cg * p + p0..].as_ptr(), p)
                } else {
                    im2col(pad.group(xi, g, img, grp), g, p0, len, &mut col);
                    (col.as_ptr(), len)
                };
                // SAFETY: unit (img, t) alone writes rows grp*og.. of image img, columns
                // p0..p0+len, inside `out` (n * o * p elements); `bias` is prefilled there
                // and accumulated onto.
                unsafe {
                    let d = dst.get().add(img * ohw + grp * og * p + p0);
                    if let Some(b) = bias {
                        for (r, &bv) in b[grp * og..(grp + 1) * og].iter().enumerate() {
                            std::slice::from_raw_parts_mut(d.add(r * p), len).fill(bv);
                        }
                    }
                    gemm_seq(
                        (og, len, kg),
                        (d, p, 1),
                        bias.is_some(),
                        (wt[grp * og * kg..].as_ptr(), kg, 1),
                        (bptr, brs, 1),
                    );
                    if relu {
                        for r in 0..og {
                            relu_in_place(std::slice::from_raw_parts_mut(d.add(r * p), len));
                        }
                    }
                }
            }
        }
    });
    out
}

/// `v = relu(v)` in place: 0 where `v < 0` (NaN and -0 stay, as [`crate::Tensor::relu`]).
pub(super) fn relu_in_place<T: Float>(v: &mut [T]) {
    for e in v {
        if *e < T::ZERO {
            *e = T::ZERO;
        }
    }
}

/// The adjoint of [`conv_forward`] in its input: `dx[n, c, h, w]` from `gy[n, o, oh, ow]`
/// (packed) and `wt[o, c/g, kh, kw]` (packed): `col = wᵀ · gy` per tile, then col2im. This is
/// `conv_transpose2d`'s forward. Work units are (image, group) pairs, tiles in order within.
pub(crate) fn conv_input_grad<T: Float + StorageElem>(gy: &[T], wt: &[T], g: &ConvGeom) -> Vec<T> {
    if wide::applies(g) {
        if let Some(dx) = wide::input_grad(gy, wt, g) {
            return dx;
        }
    }
    let (p, kg, og) = (g.p(), g.kg(), g.og());
    let tp = g.tile(std::mem::size_of::<T>());
    input_grad_units(
        g,
        || take_buffer::<T>(kg * tp),
        |col, img, grp, acc| {
            let gyg = &gy[img * g.o * p + grp * og * p..][..og * p];
            let mut p0 = 0;
            while p0 < p {
                let len = tp.min(p - p0);
                // SAFETY: col holds kg * len elements; w's group block is [og, kg] packed,
                // read transposed; gy's block is [og, p] packed, columns p0..p0+len.
                unsafe {
                    gemm_seq(
                        (kg, len, og),
                        (col.as_mut_ptr(), len, 1),
                        false,
                        (wt[grp * og * kg..].as_ptr(), 1, kg),
                        (gyg[p0..].as_ptr(), p, 1),
                    );
                }
                col2im(&col[..kg * len], g, p0, len, acc);
                p0 += len;
            }
        },
    )
}

/// The frame of an input gradient `dx[n, c, h, w]` computed by (image, group) units on the
/// threads: each unit's planes are zeroed by the thread that fills them, and
/// `body(scratch, img, grp, acc)` adds the unit's gradient into `acc`. That is the group's
/// padded planes (zeroed first; their middle is then added to `dx`) when the geometry pads,
/// `dx`'s own planes otherwise. `scratch` makes one thread's buffers.
pub(super) fn input_grad_units<T: Float + StorageElem, S>(
    g: &ConvGeom,
    scratch: impl Fn() -> S + Sync,
    body: impl Fn(&mut S, usize, usize, &mut [T]) + Sync,
) -> Vec<T> {
    let plane = g.cg() * g.h * g.w;
    let mut dx = take_buffer::<T>(g.n * g.c * g.h * g.w);
    if dx.is_empty() {
        return dx;
    }
    let dst = Ptr(dx.as_mut_ptr());
    split(g.n * g.groups, g.macs(), |units| {
        let mut s = scratch();
        let (hp, wp) = g.padded();
        let pads = g.padding != (0, 0);
        let mut dxp = take_buffer::<T>(if pads { g.cg() * hp * wp } else { 0 });
        for u in units {
            let (img, grp) = (u / g.groups, u % g.groups);
            // SAFETY: unit (img, grp) alone touches this group's channels of image img.
            let dxg = unsafe { std::slice::from_raw_parts_mut(dst.get().add(u * plane), plane) };
            dxg.fill(T::ZERO);
            if pads {
                dxp.fill(T::ZERO);
                body(&mut s, img, grp, &mut dxp);
                unpad_add(&dxp, g, dxg);
            } else {
                body(&mut s, img, grp, dxg);
            }
        }
    });
    dx
}

/// The adjoint of [`conv_forward`] in its weight: `dw[o, c/g, kh, kw] = Σ_images gy · colᵀ`,
/// one product over the whole batch, cut into at most [`MAX_PARTIALS`] fixed chunks of
/// (image, tile) units whose partial sums are added in order. The sums are kept transposed
/// (`[kg, og]` per group) and turned round at the end: with that destination the `gemm`
/// crate packs the small `gy` block of each tile instead of the `kg x len` block of `col`.
pub(crate) fn conv_weight_grad<T: Float + StorageElem>(x: &[T], gy: &[T], g: &ConvGeom) -> Vec<T> {
    if wide::applies(g) {
        if let Some(dw) = wide::weight_grad(x, gy, g) {
            return dw;
        }
    }
    let (p, kg, og, cg) = (g.p(), g.kg(), g.og(), g.cg());
    let tp = g.tile(std::mem::size_of::<T>());
    let tiles = p.div_ceil(tp.max(1));
    let chw = g.c * g.h * g.w;
    weight_grad_chunks(
        g,
        g.n * tiles,
        || {
            let col = take_buffer::<T>(if g.pointwise() { 0 } else { kg * tp });
            (col, Padded::new())
        },
        |(col, pad), acc, units| {
            for (k, u) in units.enumerate() {
                let (img, t) = (u / tiles, u % tiles);
                let (p0, len) = (t * tp, tp.min(p - t * tp));
                let xi = &x[img * chw..][..chw];
                for grp in 0..g.groups {
                    let (bptr, bcs) = if g.pointwise() {
                        (xi[grp * cg * p + p0..].as_ptr(), p)
                    } else {
                        im2col(pad.group(xi, g, img, grp), g, p0, len, col);
                        (col.as_ptr(), len)
                    };
                    // SAFETY: acc's group block is [og, kg] stored transposed ([kg, og]
                    // packed); gy's block [og, p] columns p0..p0+len; col read
                    // transposed ([len, kg], row stride 1).
                    unsafe {
                        gemm_seq(
                            (og, kg, len),
                            (acc[grp * og * kg..].as_mut_ptr(), 1, og),
                            k > 0,
                            (gy[img * g.o * p + grp * og * p + p0..].as_ptr(), p, 1),
                            (bptr, 1, bcs),
                        );
                    }
                }
            }
        },
    )
}

/// The frame of a weight gradient summed over `units` (image, tile) units: they are cut
/// into at most [`MAX_PARTIALS`] fixed chunks of consecutive units (by the shapes alone), and
/// `body(scratch, acc, chunk)` sums a chunk's units into `acc` (`[kg, og]` per group,
/// transposed; the chunk's first product overwrites it, the others add). The chunks' sums
/// are then added in order and turned round. `scratch` makes one thread's buffers.
pub(super) fn weight_grad_chunks<T: Float + StorageElem, S>(
    g: &ConvGeom,
    units: usize,
    scratch: impl Fn() -> S + Sync,
    body: impl Fn(&mut S, &mut [T], Range<usize>) + Sync,
) -> Vec<T> {
    let wn = g.o * g.kg();
    let mut dw = take_buffer::<T>(wn);
    if wn == 0 {
        return dw;
    }
    if units == 0 {
        dw.fill(T::ZERO);
        return dw;
    }
    let chunks = units.min(MAX_PARTIALS).min((MAX_PARTIAL_ELEMS / wn).max(1));
    let per = units.div_ceil(chunks);
    let chunks = units.div_ceil(per);
    let mut partials = take_buffer::<T>((chunks - 1) * wn);
    let (p_dw, p_rest) = (Ptr(dw.as_mut_ptr()), Ptr(partials.as_mut_ptr()));
    split(chunks, g.macs(), |cs| {
        let mut s = scratch();
        for ch in cs {
            // SAFETY: chunk 0 writes dw, chunk ch > 0 its own block of partials (wn each).
            let acc = unsafe {
                let at = if ch == 0 {
                    p_dw.get()
                } else {
                    p_rest.get().add((ch - 1) * wn)
                };
                std::slice::from_raw_parts_mut(at, wn)
            };
            body(&mut s, acc, ch * per..((ch + 1) * per).min(units));
        }
    });
    finish_weight_grad(dw, &partials, g)
}

/// Adds the weight gradient's partial sums to the first, in order, and turns each group's
/// block from `[kg, og]` to `[og, kg]`.
fn finish_weight_grad<T: Float + StorageElem>(
    mut dw: Vec<T>,
    partials: &[T],
    g: &ConvGeom,
) -> Vec<T> {
    let (og, kg) = (g.og(), g.kg());
    for part in partials.chunks(dw.len().max(1)) {
        for (d, &v) in dw.iter_mut().zip(part) {
            *d += v;
        }
    }
    let mut out = take_buffer::<T>(dw.len());
    if og * kg == 0 {
        return out;
    }
    for (src, dst) in dw.chunks_exact(og * kg).zip(out.chunks_exact_mut(og * kg)) {
        for (r, row) in src.chunks_exact(og).enumerate() {
            for (o, &v) in row.iter().enumerate() {
                dst[o * kg + r] = v;
            }
        }
    }
    out
}
