//! Pooling kernels: plain loops over `[h, w]` planes, split across threads by whole planes
//! (so every element is computed by one thread in one fixed order, for any thread count).
//!
//! A pooling window is separable: per output row a set of input rows, per output column a
//! set of input columns. [`MaxWindows`] holds, per output index, the first valid input index
//! and how many valid taps follow it (at the dilation); [`AvgWindows`] holds contiguous
//! ranges and the divisor factor of each axis (the divisor of a window is the product).

use super::kernels::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use std::ops::Range;

/// Windows of a max pooling over `[n, c, h, w]`: output row `i` reads input rows
/// `rows[i].0 + a * dil.0` for `a < rows[i].1`, likewise columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaxWindows {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
    pub dil: (usize, usize),
}

/// Windows of an average pooling over `[n, c, h, w]`: output row `i` averages input rows
/// `rows[i].0..rows[i].1`, and its divisor factor is `rows[i].2`; likewise columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvgWindows {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub rows: Vec<(usize, usize, usize)>,
    pub cols: Vec<(usize, usize, usize)>,
}

/// Runs `f` on ranges of the `planes` planes covering them once, in parallel (whole planes
/// per task) when `work` elements are many.
fn per_planes(planes: usize, work: usize, f: impl Fn(Range<usize>) + Sync) {
    if work >= PAR_THRESHOLD && threads() > 1 && planes > 1 {
        for_ranges(planes, 1, f);
    } else if planes > 0 {
        f(0..planes);
    }
}

/// Max pooling: the values and, per output, the flat index (`y * w + x`) of the first
/// maximum in window scan order (rows, then columns); NaN wins as in PyTorch.
pub(crate) fn max_pool<T: Float + StorageElem>(x: &[T], win: &MaxWindows) -> (Vec<T>, Vec<i64>) {
    let (hw, ohw) = (win.h * win.w, win.rows.len() * win.cols.len());
    let planes = win.n * win.c;
    let mut out = take_buffer::<T>(planes * ohw);
    let mut idx = take_buffer::<i64>(planes * ohw);
    if ohw == 0 {
        return (out, idx);
    }
    let (o, ix) = (SharedMut::new(&mut out), SharedMut::new(&mut idx));
    let (dh, dw) = win.dil;
    per_planes(planes, planes * hw, |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let (o, ix) = unsafe {
            (
                o.range(r.start * ohw..r.end * ohw),
                ix.range(r.start * ohw..r.end * ohw),
            )
        };
        for (k, pl) in r.enumerate() {
            let src = &x[pl * hw..(pl + 1) * hw];
            let (o, ix) = (
                &mut o[k * ohw..(k + 1) * ohw],
                &mut ix[k * ohw..(k + 1) * ohw],
            );
            let mut q = 0;
            for &(y0, ny) in &win.rows {
                for &(x0, nx) in &win.cols {
                    let mut best = T::NEG_INFINITY;
                    let mut at = y0 * win.w + x0;
                    for a in 0..ny {
                        let row = (y0 + a * dh) * win.w;
                        for b in 0..nx {
                            let i = row + x0 + b * dw;
                            let v = src[i];
                            if v > best || v.is_nan_() {
                                best = v;
                                at = i;
                            }
                        }
                    }
                    o[q] = best;
                    ix[q] = at as i64;
                    q += 1;
                }
            }
        }
    });
    (out, idx)
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
    dx.fill(T::ZERO);
    let d = SharedMut::new(&mut dx);
    per_planes(planes, planes * (hw + ohw), |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let d = unsafe { d.range(r.start * hw..r.end * hw) };
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

/// Average pooling: each output is its window's sum divided by the product of the two
/// axes' divisor factors (an empty window gives 0, as in PyTorch).
pub(crate) fn avg_pool<T: Float + StorageElem>(x: &[T], win: &AvgWindows) -> Vec<T> {
    let (hw, ohw) = (win.h * win.w, win.rows.len() * win.cols.len());
    let planes = win.n * win.c;
    let mut out = take_buffer::<T>(planes * ohw);
    if ohw == 0 {
        return out;
    }
    let o = SharedMut::new(&mut out);
    per_planes(planes, planes * hw, |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let o = unsafe { o.range(r.start * ohw..r.end * ohw) };
        for (k, pl) in r.enumerate() {
            let src = &x[pl * hw..(pl + 1) * hw];
            let mut q = 0;
            for &(y0, y1, fy) in &win.rows {
                for &(x0, x1, fx) in &win.cols {
                    let mut s = T::ZERO;
                    for y in y0..y1 {
                        for &v in &src[y * win.w + x0..y * win.w + x1] {
                            s += v;
                        }
                    }
                    o[k * ohw + q] = if y0 < y1 && x0 < x1 {
                        s / T::from_f64((fy * fx) as f64)
                    } else {
                        T::ZERO
                    };
                    q += 1;
                }
            }
        }
    });
    out
}

/// Average pooling's backward (its adjoint): each window's input elements receive the
/// output's gradient divided by the window's divisor, outputs in order.
pub(crate) fn avg_pool_backward<T: Float + StorageElem>(g: &[T], win: &AvgWindows) -> Vec<T> {
    let (hw, ohw) = (win.h * win.w, win.rows.len() * win.cols.len());
    let planes = win.n * win.c;
    let mut dx = take_buffer::<T>(planes * hw);
    dx.fill(T::ZERO);
    let d = SharedMut::new(&mut dx);
    per_planes(planes, planes * (hw + ohw), |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let d = unsafe { d.range(r.start * hw..r.end * hw) };
        for (k, pl) in r.enumerate() {
            let dst = &mut d[k * hw..(k + 1) * hw];
            let gs = &g[pl * ohw..(pl + 1) * ohw];
            let mut q = 0;
            for &(y0, y1, fy) in &win.rows {
                for &(x0, x1, fx) in &win.cols {
                    let v = gs[q] / T::from_f64((fy * fx).max(1) as f64);
                    q += 1;
                    for y in y0..y1 {
                        for e in &mut dst[y * win.w + x0..y * win.w + x1] {
                            *e += v;
                        }
                    }
                }
            }
        }
    });
    dx
}
