//! Batch normalization's two passes per channel, forward and first-order backward, split
//! across threads by channels (each channel's sums are one thread's, in a fixed order).

use crate::dtype::Float;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::Result;

/// Elements below which a pass stays on the calling thread.
const PAR_ELEMS: usize = 1 << 15;

/// `[N, C, S]`: the input viewed with every dim after C flattened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    n: usize,
    pub(crate) c: usize,
    s: usize,
}

impl Dims {
    /// Elements per channel.
    pub(crate) fn m(&self) -> usize {
        self.n * self.s
    }
}

/// The [`Dims`] of an input `[N, C, ...]` (rank at least 2).
pub(crate) fn dims_of(x: &Tensor) -> Dims {
    let sh = x.shape();
    Dims {
        n: sh[0],
        c: sh[1],
        s: sh[2..].iter().product(),
    }
}

/// Runs `f` on ranges of channels, split across threads when the tensor is large.
fn by_channels(d: Dims, f: impl Fn(std::ops::Range<usize>) + Sync) {
    if d.n * d.c * d.s >= PAR_ELEMS && d.c > 1 {
        for_ranges(d.c, 1, f);
    } else {
        f(0..d.c);
    }
}

/// Batch normalization's forward for [`Tensor::batch_norm_train`] (operands checked): `y`, and
/// per channel the mean, the biased variance and `1 / sqrt(var + eps)`, each pass over a
/// channel in f64.
pub(crate) fn forward<T: Float + StorageElem>(
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    eps: f64,
    d: Dims,
) -> Result<[Storage; 4]> {
    let xs = x.data::<T>()?;
    let ws = w.map(|w| w.data::<T>()).transpose()?;
    let bs = b.map(|b| b.data::<T>()).transpose()?;
    let (mut y, mut mean, mut var, mut invstd) = (
        take_buffer::<T>(d.n * d.c * d.s),
        vec![T::ZERO; d.c],
        vec![T::ZERO; d.c],
        vec![T::ZERO; d.c],
    );
    {
        let (ys, ms, vs, is) = (
            SharedMut::new(&mut y),
            SharedMut::new(&mut mean),
            SharedMut::new(&mut var),
            SharedMut::new(&mut invstd),
        );
        by_channels(d, |cs| {
            for c in cs {
                let rows = (0..d.n).map(|n| &xs[(n * d.c + c) * d.s..][..d.s]);
                // two passes in f64: the mean, then the mean squared deviation
                let sum: f64 = rows.clone().flatten().map(|v| v.to_f64()).sum();
                let mu = sum / d.m() as f64;
                let sq: f64 = rows
                    .flatten()
                    .map(|v| {
                        let e = v.to_f64() - mu;
                        e * e
                    })
                    .sum();
                let v = sq / d.m() as f64;
                let inv = 1.0 / (v + eps).sqrt();
                let scale = inv * ws.as_ref().map_or(1.0, |w| w[c].to_f64());
                let shift = bs.as_ref().map_or(0.0, |b| b[c].to_f64()) - mu * scale;
                let (sc, sh) = (T::from_f64(scale), T::from_f64(shift));
                for n in 0..d.n {
                    let o = (n * d.c + c) * d.s;
                    // SAFETY: channel c's rows are this task's alone.
                    let dst = unsafe { ys.range(o..o + d.s) };
                    for (yv, &xv) in dst.iter_mut().zip(&xs[o..o + d.s]) {
                        *yv = xv * sc + sh;
                    }
                }
                // SAFETY: element c is this task's alone.
                unsafe {
                    ms.range(c..c + 1)[0] = T::from_f64(mu);
                    vs.range(c..c + 1)[0] = T::from_f64(v);
                    is.range(c..c + 1)[0] = T::from_f64(inv);
                }
            }
        });
    }
    Ok([y, mean, var, invstd].map(T::into_storage))
}

/// Batch normalization's first-order backward: `dx` (when `need_x`), and per channel `Σ dy x̂`
/// and `Σ dy` (the weight's and the bias's gradients), the sums in f64.
pub(crate) fn backward<T: Float + StorageElem>(
    x: &Tensor,
    w: Option<&Tensor>,
    mean: &Tensor,
    invstd: &Tensor,
    g: &Tensor,
    need_x: bool,
    d: Dims,
) -> Result<(Option<Storage>, Storage, Storage)> {
    let (xs, gs) = (x.data::<T>()?, g.data::<T>()?);
    let (mu, inv) = (mean.data::<T>()?, invstd.data::<T>()?);
    let ws = w.map(|w| w.data::<T>()).transpose()?;
    let mut dx = take_buffer::<T>(if need_x { d.n * d.c * d.s } else { 0 });
    let (mut dw, mut db) = (vec![T::ZERO; d.c], vec![T::ZERO; d.c]);
    {
        let (dxs, dws, dbs) = (
            SharedMut::new(&mut dx),
            SharedMut::new(&mut dw),
            SharedMut::new(&mut db),
        );
        by_channels(d, |cs| {
            for c in cs {
                let (m, iv) = (mu[c].to_f64(), inv[c].to_f64());
                // Σ dy and Σ dy x̂ in f64
                let (mut sg, mut sgx) = (0.0f64, 0.0f64);
                for n in 0..d.n {
                    let o = (n * d.c + c) * d.s;
                    for (&gv, &xv) in gs[o..o + d.s].iter().zip(&xs[o..o + d.s]) {
                        let gv = gv.to_f64();
                        sg += gv;
                        sgx += gv * (xv.to_f64() - m);
                    }
                }
                let sgxh = sgx * iv;
                // SAFETY: element c is this task's alone.
                unsafe {
                    dbs.range(c..c + 1)[0] = T::from_f64(sg);
                    dws.range(c..c + 1)[0] = T::from_f64(sgxh);
                }
                if !need_x {
                    continue;
                }
                // dx = w invstd (dy - Σdy / M - x̂ Σ(dy x̂) / M)
                let mf = d.m() as f64;
                let k = ws.as_ref().map_or(1.0, |w| w[c].to_f64()) * iv;
                let (a, bm, cm) = (k, k * sg / mf, k * sgxh * iv / mf);
                let (a, bm, cm, mt) = (
                    T::from_f64(a),
                    T::from_f64(bm),
                    T::from_f64(cm),
                    T::from_f64(m),
                );
                for n in 0..d.n {
                    let o = (n * d.c + c) * d.s;
                    // SAFETY: channel c's rows are this task's alone.
                    let dst = unsafe { dxs.range(o..o + d.s) };
                    for ((r, &gv), &xv) in dst.iter_mut().zip(&gs[o..o + d.s]).zip(&xs[o..]) {
                        *r = a * gv - bm - cm * (xv - mt);
                    }
                }
            }
        });
    }
    Ok((
        need_x.then(|| T::into_storage(dx)),
        T::into_storage(dw),
        T::into_storage(db),
    ))
}
