//! Average pooling and its adjoint, plain loops over whole planes.

use super::{per_planes, AvgWindows};
use crate::dtype::Float;
use crate::parallel::SharedMut;
use crate::storage::{take_buffer, StorageElem};

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
    let d = SharedMut::new(&mut dx);
    per_planes(planes, planes * (hw + ohw), |r| {
        // SAFETY: per_planes hands out disjoint plane ranges.
        let d = unsafe { d.range(r.start * hw..r.end * hw) };
        // zeroed here, by the thread that fills these planes
        d.fill(T::ZERO);
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
