//! Layer normalization's passes over rows (the input seen as `[rows, n]`, `n` the product of
//! the normalized dims): forward, per row, the mean and the biased variance in f64 (two
//! passes over a row that stays in cache), then `y` (computed in f64, rounded once); backward,
//! per row, `dx` in two passes and the row's share of `Σ g x̂` and `Σ g` for the weight and
//! the bias.
//!
//! A row's sums are taken in [`LANES`] interleaved partial sums added pairwise at the end, so
//! they vectorize (one running sum is bound by the latency of each addition); the row
//! kernels are compiled for AVX-512 and AVX2 and chosen at run time. The order of every
//! addition is fixed by the code, not by the instruction set, and no multiply-add is fused,
//! so the results are the same on every CPU.
//!
//! Rows are split across threads in whole rows. The weight's and the bias's sums are taken
//! over fixed blocks of rows (their number depends on the shape alone), each block's partial
//! in f64, and the partials added in block order, so every result is bitwise the same for
//! any thread count.

use crate::dtype::Float;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::Result;
use multiversion::multiversion;
use std::ops::Range;

/// The partial sums a row's sums are split into (element `j` goes to partial `j % LANES`).
const LANES: usize = 8;

/// `Σ f(j)` for `j` in `0..n`, in [`LANES`] interleaved partial sums added pairwise.
#[inline(always)]
fn lane_sum(n: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let full = n - n % LANES;
    for j in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(j + l);
        }
    }
    for (l, j) in (full..n).enumerate() {
        acc[l] += f(j);
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// One row of the forward pass: `dst = (x - mean) · rstd · w + b` rounded once; returns the
/// row's mean and `rstd`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn forward_row<T: Float>(
    row: &[T],
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: f64,
    dst: &mut [T],
) -> (f64, f64) {
    let n = row.len();
    // two passes in f64: the mean, then the mean squared deviation
    let mu = lane_sum(n, |j| row[j].to_f64()) / n as f64;
    let sq = lane_sum(n, |j| {
        let e = row[j].to_f64() - mu;
        e * e
    });
    let rs = 1.0 / (sq / n as f64 + eps).sqrt();
    // x̂ in f64 (x - mean cancels: an f32 mean would lose the row's spread), the affine map
    // applied before the one rounding to T
    let xh = |xv: T| (xv.to_f64() - mu) * rs;
    match (w, b) {
        (Some(w), Some(b)) => {
            let wb = w.iter().zip(b);
            for ((yv, &xv), (&wv, &bv)) in dst.iter_mut().zip(row).zip(wb) {
                *yv = T::from_f64(xh(xv) * wv.to_f64() + bv.to_f64());
            }
        }
        (Some(w), None) => {
            for ((yv, &xv), &wv) in dst.iter_mut().zip(row).zip(w) {
                *yv = T::from_f64(xh(xv) * wv.to_f64());
            }
        }
        (None, Some(b)) => {
            for ((yv, &xv), &bv) in dst.iter_mut().zip(row).zip(b) {
                *yv = T::from_f64(xh(xv) + bv.to_f64());
            }
        }
        (None, None) => {
            for (yv, &xv) in dst.iter_mut().zip(row) {
                *yv = T::from_f64(xh(xv));
            }
        }
    }
    (mu, rs)
}

/// One row of the backward pass: adds the row's `g x̂` and `g` into the block's partials `pw`
/// and `pb` (when they are not empty) and writes `dx` into `dst` (when it is not empty).
/// `xh` and `gw` are scratch rows of `n`.
#[allow(clippy::too_many_arguments)]
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn backward_row<T: Float>(
    (xr, gr): (&[T], &[T]),
    w: Option<&[T]>,
    (mu, rs): (f64, f64),
    xh: &mut [f64],
    gw: &mut [f64],
    pw: &mut [f64],
    pb: &mut [f64],
    dst: &mut [T],
) {
    let n = xr.len();
    for (((h, g), &xv), &gv) in xh.iter_mut().zip(gw.iter_mut()).zip(xr).zip(gr) {
        *h = (xv.to_f64() - mu) * rs;
        *g = gv.to_f64();
    }
    if let Some(w) = w {
        gw.iter_mut().zip(w).for_each(|(g, w)| *g *= w.to_f64());
    }
    // the row's sums Σ g w and Σ g w x̂
    let a = lane_sum(n, |j| gw[j]);
    let c = lane_sum(n, |j| gw[j] * xh[j]);
    if !pw.is_empty() {
        let cols = pw.iter_mut().zip(pb.iter_mut());
        for (((sw, sb), &gv), &h) in cols.zip(gr).zip(&*xh) {
            let gv = gv.to_f64();
            *sw += gv * h;
            *sb += gv;
        }
    }
    if !dst.is_empty() {
        // dx = rstd (g w - mean(g w) - x̂ mean(g w x̂))
        let (a, c) = (a / n as f64, c / n as f64);
        for ((o, &g), &h) in dst.iter_mut().zip(&*gw).zip(&*xh) {
            *o = T::from_f64(rs * (g - a - h * c));
        }
    }
}

/// Elements below which a pass stays on the calling thread.
const PAR_ELEMS: usize = 1 << 15;
/// The most blocks of rows the weight's and bias's sums are split into.
const MAX_BLOCKS: usize = 64;
/// The fewest rows a block holds (fewer blocks for fewer rows).
const MIN_BLOCK_ROWS: usize = 8;

/// The input seen as `[rows, n]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows {
    pub(crate) rows: usize,
    pub(crate) n: usize,
}

impl Rows {
    /// Runs `f` on ranges of `0..units`, split across threads when the tensor is large.
    fn split(&self, units: usize, f: impl Fn(Range<usize>) + Sync) {
        if self.rows * self.n >= PAR_ELEMS && units > 1 {
            for_ranges(units, 1, f);
        } else {
            f(0..units);
        }
    }
}

/// The forward pass: `y`, and per row the mean and `1 / sqrt(var + eps)` (both f64).
pub(crate) fn forward<T: Float + StorageElem>(
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    eps: f64,
    d: Rows,
) -> Result<(Storage, Storage, Storage)> {
    let xs = x.data::<T>()?;
    let ws = w.map(|w| w.data::<T>()).transpose()?;
    let bs = b.map(|b| b.data::<T>()).transpose()?;
    let n = d.n;
    let mut y = take_buffer::<T>(d.rows * n);
    let (mut mean, mut rstd) = (vec![0.0f64; d.rows], vec![0.0f64; d.rows]);
    {
        let (ys, ms, rs) = (
            SharedMut::new(&mut y),
            SharedMut::new(&mut mean),
            SharedMut::new(&mut rstd),
        );
        d.split(d.rows, |range| {
            for r in range {
                // SAFETY: row r (and element r) is this task's alone.
                let (dst, m, rsd) = unsafe {
                    (
                        ys.range(r * n..(r + 1) * n),
                        ms.range(r..r + 1),
                        rs.range(r..r + 1),
                    )
                };
                let row = &xs[r * n..(r + 1) * n];
                (m[0], rsd[0]) = forward_row(row, ws.as_deref(), bs.as_deref(), eps, dst);
            }
        });
    }
    Ok((T::into_storage(y), Storage::F64(mean), Storage::F64(rstd)))
}

/// Which gradients the backward pass computes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    pub(crate) x: bool,
    pub(crate) w: bool,
    pub(crate) b: bool,
}

/// The first-order backward pass: `dx` (when needed), `Σ g x̂` and `Σ g` over rows (when the
/// weight's or the bias's gradient is needed; `n` elements each), from the saved per-row
/// mean and `rstd`.
pub(crate) fn backward<T: Float + StorageElem>(
    x: &Tensor,
    w: Option<&Tensor>,
    mean: &[f64],
    rstd: &[f64],
    g: &Tensor,
    need: Need,
    d: Rows,
) -> Result<(Option<Storage>, Option<Storage>, Option<Storage>)> {
    let (xs, gs) = (x.data::<T>()?, g.data::<T>()?);
    let ws = w.map(|w| w.data::<T>()).transpose()?;
    let n = d.n;
    let sums = need.w || need.b;
    // fixed blocks of rows for the parameter sums: their number depends on the shape alone
    let blocks = if sums {
        d.rows.div_ceil(MIN_BLOCK_ROWS).clamp(1, MAX_BLOCKS)
    } else {
        d.rows.max(1)
    };
    let per = d.rows.div_ceil(blocks).max(1);
    let mut dx = take_buffer::<T>(if need.x { d.rows * n } else { 0 });
    // per block: Σ g x̂ (first n) and Σ g (next n), in f64
    let mut part = vec![0.0f64; if sums { blocks * 2 * n } else { 0 }];
    {
        let (dxs, ps) = (SharedMut::new(&mut dx), SharedMut::new(&mut part));
        d.split(blocks, |bl| {
            let (mut xh, mut gwb) = (vec![0.0f64; n], vec![0.0f64; n]);
            for blk in bl {
                // SAFETY: block blk's partials are this task's alone.
                let (pw, pb) = if sums {
                    unsafe { ps.range(blk * 2 * n..(blk + 1) * 2 * n) }.split_at_mut(n)
                } else {
                    (&mut [][..], &mut [][..])
                };
                for r in (blk * per).min(d.rows)..((blk + 1) * per).min(d.rows) {
                    let rows = (&xs[r * n..(r + 1) * n], &gs[r * n..(r + 1) * n]);
                    let dst = if need.x {
                        // SAFETY: row r is this task's alone.
                        unsafe { dxs.range(r * n..(r + 1) * n) }
                    } else {
                        &mut [][..]
                    };
                    let stats = (mean[r], rstd[r]);
                    backward_row(rows, ws.as_deref(), stats, &mut xh, &mut gwb, pw, pb, dst);
                }
            }
        });
    }
    let (mut dw, mut db) = (None, None);
    if sums {
        let (mut sw, mut sb) = (vec![0.0f64; n], vec![0.0f64; n]);
        for blk in part.chunks_exact(2 * n.max(1)).take(blocks) {
            let (pw, pb) = blk.split_at(n);
            sw.iter_mut().zip(pw).for_each(|(s, p)| *s += p);
            sb.iter_mut().zip(pb).for_each(|(s, p)| *s += p);
        }
        let cast = |v: Vec<f64>| {
            let mut o = take_buffer::<T>(n);
            o.iter_mut().zip(v).for_each(|(o, v)| *o = T::from_f64(v));
            T::into_storage(o)
        };
        dw = need.w.then(|| cast(sw));
        db = need.b.then(|| cast(sb));
    }
    Ok((need.x.then(|| T::into_storage(dx)), dw, db))
}
