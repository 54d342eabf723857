//! Max pooling, saving the argmax of each window, and its backward: plain loops over whole
//! planes, with the 2x2, stride-2 pooling of CNNs in AVX-512 ([`max_2x2_avx512`]) where the
//! CPU has it.

use super::max_2x2_avx512;
use super::{per_planes, MaxWindows};
use crate::dtype::{as_f32, as_f32_mut, Float};
use crate::parallel::SharedMut;
use crate::storage::{take_buffer, StorageElem};
use multiversion::multiversion;
use std::ops::Range;

/// The range of outputs `o` for which `o * stride + off` lies in `0..len`, within `0..n`.
fn valid_outputs(off: isize, stride: usize, len: usize, n: usize) -> Range<usize> {
    let s = stride as isize;
    let lo = if off < 0 { (-off + s - 1) / s } else { 0 } as usize;
    let hi = if off >= len as isize {
        0
    } else {
        ((len as isize - off + s - 1) / s) as usize
    };
    lo.min(n)..hi.min(n).max(lo.min(n))
}

/// `best, arg = v, first + k step` where `v[k] > best[k]` or `v[k]` is NaN (which wins, as
/// in PyTorch): one kernel tap over a row of outputs, branch-free so that it vectorizes.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn select_max<T: Float>(v: &[T], best: &mut [T], arg: &mut [i64], first: i64, step: i64) {
    for (k, ((b, a), &x)) in best.iter_mut().zip(arg.iter_mut()).zip(v).enumerate() {
        #[allow(clippy::eq_op)]
        let take = (x > *b) | (x != x);
        *b = if take { x } else { *b };
        *a = if take { first + k as i64 * step } else { *a };
    }
}

/// One output row of a 2x2, stride-2 max pooling whose windows all lie inside the input:
/// `r0`, `r1` are the two input rows (`2 * best.len()` elements each, `r0` at flat index
/// `at0`, `r1` at `at0 + w`); taps in scan order, first maximum kept, NaN wins.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn max_2x2_row<T: Float>(r0: &[T], r1: &[T], best: &mut [T], arg: &mut [i64], at0: i64, w: i64) {
    let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (k, ((b, a), (p, q))) in best.iter_mut().zip(arg.iter_mut()).zip(pairs).enumerate() {
        let i0 = at0 + 2 * k as i64;
        let (mut m, mut i) = (p[0], i0);
        #[allow(clippy::eq_op)]
        for (v, vi) in [(p[1], i0 + 1), (q[0], i0 + w), (q[1], i0 + w + 1)] {
            let take = (v > m) | (v != v);
            m = if take { v } else { m };
            i = if take { vi } else { i };
        }
        *b = m;
        *a = i;
    }
}

/// Max pooling: the values and, per output, the flat index (`y * w + x`) of the first
/// maximum in window scan order (rows, then columns); NaN wins as in PyTorch.
///
/// One output row at a time, the kernel taps in scan order in the outer loops and the output
/// columns in the inner loop (a branch-free compare-and-select over a row, instead of a
/// short, mispredicted loop per window); each output still sees its taps in scan order.
pub(crate) fn max_pool<T: Float + StorageElem>(x: &[T], win: &MaxWindows) -> (Vec<T>, Vec<i64>) {
    let (hw, oh, ow) = (win.h * win.w, win.rows.len(), win.cols.len());
    let ohw = oh * ow;
    let planes = win.n * win.c;
    let mut out = take_buffer::<T>(planes * ohw);
    let mut idx = take_buffer::<i64>(planes * ohw);
    if ohw == 0 {
        return (out, idx);
    }
    let (o, ix) = (SharedMut::new(&mut out), SharedMut::new(&mut idx));
    let ((kh, kw), (sh, sw), (ph, pw), (dh, dw)) = (win.kernel, win.stride, win.padding, win.dil);
    // per kernel column: the input column offset and the outputs it is valid for
    let cols: Vec<(isize, Range<usize>)> = (0..kw)
        .map(|tb| {
            let off = (tb * dw) as isize - pw as isize;
            (off, valid_outputs(off, sw, win.w, ow))
        })
        .collect();
    let fast_2x2 = win.fast_2x2();
    let simd = fast_2x2 && simd_2x2::<T>(win);
    per_planes(planes, planes * hw, |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let (o, ix) = unsafe {
            (
                o.range(r.start * ohw..r.end * ohw),
                ix.range(r.start * ohw..r.end * ohw),
            )
        };
        let mut tmp = vec![T::ZERO; ow];
        for (k, pl) in r.enumerate() {
            let src = &x[pl * hw..(pl + 1) * hw];
            let (best, arg) = (&mut o[k * ohw..][..ohw], &mut ix[k * ohw..][..ohw]);
            if simd {
                max_2x2_plane_simd(src, best, arg, win);
                continue;
            }
            for oy in 0..oh {
                let at = k * ohw + oy * ow;
                let (best, arg) = (&mut o[at..at + ow], &mut ix[at..at + ow]);
                if fast_2x2 {
                    let r0 = 2 * oy * win.w;
                    let (a, b) = (&src[r0..r0 + 2 * ow], &src[r0 + win.w..r0 + win.w + 2 * ow]);
                    max_2x2_row(a, b, best, arg, r0 as i64, win.w as i64);
                    continue;
                }
                let y0 = win.rows[oy].0;
                best.fill(T::NEG_INFINITY);
                for (a, &(x0, _)) in arg.iter_mut().zip(&win.cols) {
                    *a = (y0 * win.w + x0) as i64;
                }
                for ta in 0..kh {
                    let y = (oy * sh + ta * dh) as isize - ph as isize;
                    if y < 0 || y >= win.h as isize {
                        continue;
                    }
                    let base = y as usize * win.w;
                    let row = &src[base..base + win.w];
                    for (off, valid) in &cols {
                        if valid.is_empty() {
                            continue;
                        }
                        let x0 = ((valid.start * sw) as isize + off) as usize;
                        let taps = &mut tmp[..valid.len()];
                        if sw == 1 {
                            taps.copy_from_slice(&row[x0..x0 + valid.len()]);
                        } else {
                            for (t, v) in taps.iter_mut().zip(row[x0..].iter().step_by(sw)) {
                                *t = *v;
                            }
                        }
                        select_max(
                            taps,
                            &mut best[valid.clone()],
                            &mut arg[valid.clone()],
                            (base + x0) as i64,
                            sw as i64,
                        );
                    }
                }
            }
        }
    });
    (out, idx)
}

/// Whether the AVX-512 kernels of [`max_2x2_avx512`] run for `T` here (f32 on such a CPU, planes
/// narrower than 2^31).
fn simd_2x2<T: 'static>(win: &MaxWindows) -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && win.w < 1 << 31
        && crate::cpu::simd::avx512f()
}

/// [`max_2x2_avx512::max_2x2_plane`] on one plane of a [`MaxWindows::fast_2x2`] pooling, for a
/// caller that has checked [`simd_2x2`].
fn max_2x2_plane_simd<T: 'static>(x: &[T], best: &mut [T], arg: &mut [i64], win: &MaxWindows) {
    let (Some(x), Some(best)) = (as_f32(x), as_f32_mut(best)) else {
        unreachable!("simd_2x2 checked that T is f32")
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: simd_2x2 checked the CPU and the width; fast_2x2 (the caller's) that the
    // windows lie inside the [h, w] plane; best and arg hold the plane's oh * ow outputs.
    unsafe {
        max_2x2_avx512::max_2x2_plane(x, best, arg, win.w, (win.rows.len(), win.cols.len()));
    }
    let _ = (x, best, arg, win);
}

/// [`max_2x2_avx512::max_2x2_backward_plane`]: `dst` (one `[h, w]` plane) written whole from the
/// plane's `g` and `idx`, for a caller that has checked [`simd_2x2`].
fn max_2x2_backward_simd<T: 'static>(g: &[T], idx: &[i64], dst: &mut [T], win: &MaxWindows) {
    let (Some(g), Some(dst)) = (as_f32(g), as_f32_mut(dst)) else {
        unreachable!("simd_2x2 checked that T is f32")
    };
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in max_2x2_plane_simd; the indices come from the forward of these windows,
    // so each lies inside its own window.
    unsafe {
        max_2x2_avx512::max_2x2_backward_plane(
            g,
            idx,
            dst,
            win.w,
            (win.rows.len(), win.cols.len()),
        );
    }
    let _ = (g, idx, dst, win);
}

/// Max pooling's backward: `dx[plane][idx[o]] += g[o]`, outputs in order.
pub(crate) fn max_pool_backward<T: Float + StorageElem>(
    g: &[T],
    idx: &[i64],
    win: &MaxWindows,
) -> Vec<T> {
    let (hw, ohw) = (win.h * win.w, win.rows.len() * win.cols.len());
    let planes = win.n * win.c;
    let mut dx = take_buffer::<T>(planes * hw);
    let d = SharedMut::new(&mut dx);
    let simd = win.fast_2x2() && simd_2x2::<T>(win);
    per_planes(planes, planes * (hw + ohw), |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let d = unsafe { d.range(r.start * hw..r.end * hw) };
        if simd {
            for (k, pl) in r.enumerate() {
                let (gs, is) = (&g[pl * ohw..(pl + 1) * ohw], &idx[pl * ohw..(pl + 1) * ohw]);
                max_2x2_backward_simd(gs, is, &mut d[k * hw..(k + 1) * hw], win);
            }
            return;
        }
        // zeroed here, by the thread that fills these planes
        d.fill(T::ZERO);
        for (k, pl) in r.enumerate() {
            let dst = &mut d[k * hw..(k + 1) * hw];
            let (gs, is) = (&g[pl * ohw..(pl + 1) * ohw], &idx[pl * ohw..(pl + 1) * ohw]);
            for (&v, &i) in gs.iter().zip(is) {
                dst[i as usize] += v;
            }
        }
    });
    dx
}
