//! Layer normalization's passes over rows (the input seen as `[rows, n]`, `n` the product of
//! the normalized dims): forward, per row, the mean and the biased variance in f64 (two
//! passes over a row that stays in cache), then `y` (computed in f64, rounded once); backward, per row, `dx` in two passes and
//! the row's share of `Σ g x̂` and `Σ g` for the weight and the bias.
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
use std::ops::Range;

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
                let row = &xs[r * n..(r + 1) * n];
                // two passes in f64: the mean, then the mean squared deviation
                let sum: f64 = row.iter().map(|v| v.to_f64()).sum();
                let mu = sum / n as f64;
                let sq: f64 = row
                    .iter()
                    .map(|v| {
                        let e = v.to_f64() - mu;
                        e * e
                    })
                    .sum();
                let rs_ = 1.0 / (sq / n as f64 + eps).sqrt();
                // SAFETY: row r (and element r) is this task's alone.
                let dst = unsafe { ys.range(r * n..(r + 1) * n) };
                unsafe {
                    ms.range(r..r + 1)[0] = mu;
                    rs.range(r..r + 1)[0] = rs_;
                }
                // x̂ in f64 (x - mean cancels: an f32 mean would lose the row's spread), the
                // affine map applied before the one rounding to T
                let xh = |xv: T| (xv.to_f64() - mu) * rs_;
                match (&ws, &bs) {
                    (Some(w), Some(b)) => {
                        let wb = w.iter().zip(b.iter());
                        for ((yv, &xv), (&wv, &bv)) in dst.iter_mut().zip(row).zip(wb) {
                            *yv = T::from_f64(xh(xv) * wv.to_f64() + bv.to_f64());
                        }
                    }
                    (Some(w), None) => {
                        for ((yv, &xv), &wv) in dst.iter_mut().zip(row).zip(w.iter()) {
                            *yv = T::from_f64(xh(xv) * wv.to_f64());
                        }
                    }
                    (None, Some(b)) => {
                        for ((yv, &xv), &bv) in dst.iter_mut().zip(row).zip(b.iter()) {
                            *yv = T::from_f64(xh(xv) + bv.to_f64());
                        }
                    }
                    (None, None) => {
                        for (yv, &xv) in dst.iter_mut().zip(row) {
                            *yv = T::from_f64(xh(xv));
                        }
                    }
                }
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
                    let (xr, gr) = (&xs[r * n..(r + 1) * n], &gs[r * n..(r + 1) * n]);
                    let (mu, rs) = (mean[r], rstd[r]);
                    // x̂ in f64, and the row's sums Σ g w and Σ g w x̂
                    let (mut a, mut c) = (0.0f64, 0.0f64);
                    for (j, (&xv, &gv)) in xr.iter().zip(gr).enumerate() {
                        xh[j] = (xv.to_f64() - mu) * rs;
                        gwb[j] = gv.to_f64();
                    }
                    if let Some(w) = &ws {
                        gwb.iter_mut()
                            .zip(w.iter())
                            .for_each(|(g, w)| *g *= w.to_f64());
                    }
                    for (&gw, &h) in gwb.iter().zip(&xh) {
                        a += gw;
                        c += gw * h;
                    }
                    if sums {
                        let cols = pw.iter_mut().zip(pb.iter_mut());
                        for (((sw, sb), &gv), &h) in cols.zip(gr).zip(&xh) {
                            let gv = gv.to_f64();
                            *sw += gv * h;
                            *sb += gv;
                        }
                    }
                    if need.x {
                        // dx = rstd (g w - mean(g w) - x̂ mean(g w x̂))
                        let (a, c) = (a / n as f64, c / n as f64);
                        // SAFETY: row r is this task's alone.
                        let dst = unsafe { dxs.range(r * n..(r + 1) * n) };
                        for ((o, &gw), &h) in dst.iter_mut().zip(&gwb).zip(&xh) {
                            *o = T::from_f64(rs * (gw - a - h * c));
                        }
                    }
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
