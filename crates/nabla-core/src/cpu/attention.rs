//! The flash-attention kernels of [`crate::Tensor::scaled_dot_product_attention`], as PyTorch's
//! CPU flash kernel computes them: blocks of [`BQ`] queries against blocks of [`BK`] keys, the
//! block products `Q Kᵀ`, `P V` (and in the backward `Pᵀ dO`, `dO Vᵀ`, `dS K`, `dSᵀ Q`) as
//! single-threaded `gemm` calls on strided operands, the softmax online (a running max and
//! sum per query row). Only the output and the log-sum-exp per row are kept; the backward
//! recomputes each block's probabilities from them. No buffer holds more than one block of
//! scores, so memory grows with the sequence length, not its square. Key blocks wholly above
//! a causal diagonal are skipped.
//!
//! Threads: the forward splits (batch item, query block) units, the backward batch items;
//! every output row is computed by one task in a fixed order, so results are bitwise the
//! same for any thread count.

use crate::cpu::conv::gemm_seq;
use crate::dtype::Float;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};
use multiversion::multiversion;
use std::ops::Range;

/// Query rows per block.
pub(crate) const BQ: usize = 64;
/// Key rows per block.
pub(crate) const BK: usize = 64;
/// Multiply-adds below which a kernel stays on the calling thread.
const PAR_MACS: usize = 1 << 18;

/// A strided `[rows, cols]` matrix per batch item inside a storage slice.
pub(crate) struct Mat<'a, T> {
    data: &'a [T],
    /// The offset of each batch item's `[0, 0]` element.
    offs: Vec<usize>,
    rs: usize,
    cs: usize,
}

impl<'a, T: StorageElem> Mat<'a, T> {
    /// The view `t` (shape `batch ++ [rows, cols]`, any strides) of dtype `T`. Checks that
    /// every element lies inside the storage, which the kernels' raw products rely on.
    pub(crate) fn of(t: &'a Tensor, batch: &[usize]) -> Result<Self> {
        let l = t.layout();
        let r = l.shape().len();
        let (rows, cols) = (l.shape()[r - 2], l.shape()[r - 1]);
        let (rs, cs) = (l.strides()[r - 2], l.strides()[r - 1]);
        let bl =
            crate::layout::Layout::new(batch.to_vec(), l.strides()[..r - 2].to_vec(), l.offset());
        let mut offs = Vec::with_capacity(batch.iter().product());
        bl.for_each_offset(|o| offs.push(o));
        let data = t.typed_storage::<T>();
        let last = (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
        if rows > 0 && cols > 0 && offs.iter().any(|&o| o + last >= data.len()) {
            return Err(Error::invalid(
                "scaled_dot_product_attention",
                "a view reaches past its storage",
            ));
        }
        Ok(Mat { data, offs, rs, cs })
    }

    /// The element `[i, j]` of batch item `b`.
    #[inline(always)]
    fn at(&self, b: usize, i: usize, j: usize) -> T {
        self.data[self.offs[b] + i * self.rs + j * self.cs]
    }

    /// A pointer to row `i` of batch item `b` (valid for the rows and columns of the matrix,
    /// as [`Mat::of`] checked).
    #[inline(always)]
    fn row(&self, b: usize, i: usize) -> *const T {
        self.data.as_ptr().wrapping_add(self.offs[b] + i * self.rs)
    }
}

/// The mask added to (or selecting) the scores.
pub(crate) enum Mask<'a, T> {
    /// No mask.
    None,
    /// An additive float mask (`-inf` blocks).
    Add(Mat<'a, T>),
    /// A keep-mask: 0 blocks, anything else attends.
    Keep(Mat<'a, i64>),
}

/// One attention problem: `q [nb, l, e]`, `k [nb, s, e]`, `v [nb, s, ev]` over the flattened
/// batch dims, with its mask, scale and causality.
pub(crate) struct Problem<'a, T> {
    pub(crate) q: Mat<'a, T>,
    pub(crate) k: Mat<'a, T>,
    pub(crate) v: Mat<'a, T>,
    pub(crate) mask: Mask<'a, T>,
    pub(crate) nb: usize,
    pub(crate) l: usize,
    pub(crate) s: usize,
    pub(crate) e: usize,
    pub(crate) ev: usize,
    pub(crate) scale: T,
    pub(crate) causal: bool,
}

/// `x = x · scale` over a row of scores.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn scale_row<T: Float>(row: &mut [T], scale: T) {
    for x in row.iter_mut() {
        *x *= scale;
    }
}

/// Partial maxima a row's max is split into (element `j` to partial `j % LANES`), so it
/// vectorizes.
const LANES: usize = 8;

/// The largest score of a row (NaN if any is NaN), `-inf` for an empty row.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn row_max<T: Float>(row: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = a.max_(x);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = a.max_(x);
    }
    acc.iter().fold(T::NEG_INFINITY, |m, &a| m.max_(a))
}

/// `x = e^(x - m)` over a row of scores (`0` where `x` is `-inf`).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn exp_shifted<T: Float>(row: &mut [T], m: T) {
    for x in row.iter_mut() {
        *x = (*x - m).exp_kernel();
    }
}

/// The scores' gradient from the probabilities `p` and `dp = dO Vᵀ` (in `ds`), row term `d`:
/// `ds = p (dp - d) · scale`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn softmax_grad_row<T: Float>(ds: &mut [T], p: &[T], d: T, scale: T) {
    for (dx, &pv) in ds.iter_mut().zip(p) {
        *dx = pv * (*dx - d) * scale;
    }
}

/// Runs `f` over `0..units`, split across threads when the work is large enough.
fn split(units: usize, macs: usize, f: impl Fn(Range<usize>) + Sync) {
    if macs >= PAR_MACS && threads() > 1 && units > 1 {
        for_ranges(units, 1, f);
    } else if units > 0 {
        f(0..units);
    }
}

impl<T: Float + StorageElem> Problem<'_, T> {
    /// The keys a query block `rows` can attend: all, or with `causal` those up to its last
    /// row (the key blocks past it are skipped).
    fn key_end(&self, rows: &Range<usize>) -> usize {
        if self.causal {
            self.s.min(rows.end)
        } else {
            self.s
        }
    }

    /// The scores of queries `rows` against keys `cols` of batch item `b` into `s` (row-major,
    /// `cols.len()` per row): `q kᵀ · scale`, plus the additive mask, `-inf` where the
    /// keep-mask is 0 or the key is after the query under `causal`.
    fn scores(&self, b: usize, rows: &Range<usize>, cols: &Range<usize>, s: &mut [T]) {
        let (m, n) = (rows.len(), cols.len());
        assert!(s.len() >= m * n && rows.end <= self.l && cols.end <= self.s);
        // SAFETY: `s` holds m * n writable elements with row stride n; the q rows `rows` and
        // the k rows `cols` (each `e` columns) lie in their storages ([`Mat::of`] checked
        // every element of the matrices, and the ranges are inside them, asserted above).
        unsafe {
            gemm_seq(
                (m, n, self.e),
                (s.as_mut_ptr(), n, 1),
                false,
                (self.q.row(b, rows.start), self.q.rs, self.q.cs),
                // kᵀ: element (e, j) is k[j, e]
                (self.k.row(b, cols.start), self.k.cs, self.k.rs),
            );
        }
        for (r, i) in rows.clone().enumerate() {
            let row = &mut s[r * n..(r + 1) * n];
            scale_row(row, self.scale);
            match &self.mask {
                Mask::None => {}
                Mask::Add(mk) => {
                    for (x, j) in row.iter_mut().zip(cols.clone()) {
                        *x += mk.at(b, i, j);
                    }
                }
                Mask::Keep(mk) => {
                    for (x, j) in row.iter_mut().zip(cols.clone()) {
                        if mk.at(b, i, j) == 0 {
                            *x = T::NEG_INFINITY;
                        }
                    }
                }
            }
            if self.causal && cols.end > i + 1 {
                let first = (i + 1).max(cols.start) - cols.start;
                row[first..].fill(T::NEG_INFINITY);
            }
        }
    }
}

/// Per-task buffers of the forward.
struct ForwardBufs<T> {
    scores: Vec<T>,
    acc: Vec<T>,
    max: Vec<T>,
    sum: Vec<T>,
}

impl<T: Float + StorageElem> Problem<'_, T> {
    /// The output rows `rows` of batch item `b` into `o` (`rows.len() * ev`) and their
    /// log-sum-exp into `lse`, the softmax online over the key blocks.
    fn forward_block(
        &self,
        b: usize,
        rows: Range<usize>,
        w: &mut ForwardBufs<T>,
        o: &mut [T],
        lse: &mut [T],
    ) {
        let (nr, ev) = (rows.len(), self.ev);
        let (acc, mx, sm) = (&mut w.acc[..nr * ev], &mut w.max[..nr], &mut w.sum[..nr]);
        acc.fill(T::ZERO);
        mx.fill(T::NEG_INFINITY);
        sm.fill(T::ZERO);
        let kend = self.key_end(&rows);
        for j0 in (0..kend).step_by(BK) {
            let cols = j0..(j0 + BK).min(kend);
            let n = cols.len();
            let p = &mut w.scores[..nr * n];
            self.scores(b, &rows, &cols, p);
            for r in 0..nr {
                let row = &mut p[r * n..(r + 1) * n];
                let bmax = row_max(row);
                let m = mx[r].max_(bmax);
                if m == T::NEG_INFINITY {
                    // every key so far is masked for this row
                    row.fill(T::ZERO);
                    continue;
                }
                let alpha = (mx[r] - m).exp_kernel();
                exp_shifted(row, m);
                let s = crate::cpu::sums::sum(row);
                sm[r] = sm[r] * alpha + s;
                mx[r] = m;
                if alpha != T::ONE {
                    for a in &mut acc[r * ev..(r + 1) * ev] {
                        *a *= alpha;
                    }
                }
            }
            // SAFETY: `acc` holds nr * ev elements with row stride ev, `p` nr * n with row
            // stride n, and the v rows `cols` (ev columns) lie in v's storage (Mat::of).
            unsafe {
                gemm_seq(
                    (nr, ev, n),
                    (acc.as_mut_ptr(), ev, 1),
                    true,
                    (p.as_ptr(), n, 1),
                    (self.v.row(b, j0), self.v.rs, self.v.cs),
                );
            }
        }
        for r in 0..nr {
            let (dst, src) = (&mut o[r * ev..(r + 1) * ev], &acc[r * ev..(r + 1) * ev]);
            if sm[r] == T::ZERO {
                // a fully masked row: zeros, as PyTorch 2.15
                dst.fill(T::ZERO);
                lse[r] = T::NEG_INFINITY;
            } else {
                let inv = T::ONE / sm[r];
                for (d, &a) in dst.iter_mut().zip(src) {
                    *d = a * inv;
                }
                lse[r] = mx[r] + sm[r].ln();
            }
        }
    }
}

/// The forward: the output `[nb, l, ev]` and the log-sum-exp per query row `[nb, l]`
/// (`-inf` for a fully masked row, whose output is 0).
pub(crate) fn forward<T: Float + StorageElem>(p: &Problem<'_, T>) -> (Vec<T>, Vec<T>) {
    let (nb, l, ev) = (p.nb, p.l, p.ev);
    let mut out = take_buffer::<T>(nb * l * ev);
    let mut lse = take_buffer::<T>(nb * l);
    let nqb = l.div_ceil(BQ);
    {
        let (os, ls) = (SharedMut::new(&mut out), SharedMut::new(&mut lse));
        let macs = nb * l * p.s * (p.e + ev);
        split(nb * nqb, macs, |units| {
            let mut w = ForwardBufs {
                scores: vec![T::ZERO; BQ * BK],
                acc: vec![T::ZERO; BQ * ev],
                max: vec![T::ZERO; BQ],
                sum: vec![T::ZERO; BQ],
            };
            for u in units {
                let (b, qb) = (u / nqb, u % nqb);
                let rows = qb * BQ..((qb + 1) * BQ).min(l);
                let (r0, r1) = (b * l + rows.start, b * l + rows.end);
                // SAFETY: unit (b, qb) alone writes these rows of the output and the lse.
                let (o, lr) = unsafe { (os.range(r0 * ev..r1 * ev), ls.range(r0..r1)) };
                p.forward_block(b, rows, &mut w, o, lr);
            }
        });
    }
    (out, lse)
}

/// Which input gradients the backward computes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    pub(crate) q: bool,
    pub(crate) k: bool,
    pub(crate) v: bool,
}

/// The first-order backward from the output `o`, the log-sum-exp `lse` (both from
/// [`forward`]) and the output's gradient `g` (packed `[nb, l, ev]`): `dq [nb, l, e]`,
/// `dk [nb, s, e]`, `dv [nb, s, ev]` (empty where not needed). Per batch item: `D = rowsum(dO ∘ O)`,
/// then for each key block (outer, so its `dk`, `dv` rows are summed in a fixed order) and each
/// query block that can see it: `P = exp(scores − lse)`, `dV += Pᵀ dO`, `dP = dO Vᵀ`,
/// `dS = P ∘ (dP − D) · scale`, `dQ += dS K`, `dK += dSᵀ Q`.
pub(crate) fn backward<T: Float + StorageElem>(
    p: &Problem<'_, T>,
    o: &[T],
    lse: &[T],
    g: &[T],
    need: Need,
) -> [Vec<T>; 3] {
    let (nb, l, s, e, ev) = (p.nb, p.l, p.s, p.e, p.ev);
    // (each batch item's task zeroes its own rows: the fill runs on every thread)
    let mut dq = take_buffer::<T>(if need.q { nb * l * e } else { 0 });
    let mut dk = take_buffer::<T>(if need.k { nb * s * e } else { 0 });
    let mut dv = take_buffer::<T>(if need.v { nb * s * ev } else { 0 });
    {
        let (dqs, dks, dvs) = (
            SharedMut::new(&mut dq),
            SharedMut::new(&mut dk),
            SharedMut::new(&mut dv),
        );
        let macs = nb * l * s * (2 * e + 2 * ev);
        split(nb, macs, |items| {
            let mut pb = [T::ZERO; BQ * BK];
            let mut ds = [T::ZERO; BQ * BK];
            let mut d = vec![T::ZERO; l];
            for b in items {
                let (ob, gb, lb) = (
                    &o[b * l * ev..(b + 1) * l * ev],
                    &g[b * l * ev..(b + 1) * l * ev],
                    &lse[b * l..(b + 1) * l],
                );
                for (i, di) in d.iter_mut().enumerate() {
                    let r = i * ev..(i + 1) * ev;
                    *di = ob[r.clone()].iter().zip(&gb[r]).map(|(&x, &y)| x * y).sum();
                }
                // SAFETY: batch item b alone writes its rows of dq, dk and dv (empty when not
                // needed).
                let (dqb, dkb, dvb) = unsafe {
                    (
                        dqs.range(if need.q {
                            b * l * e..(b + 1) * l * e
                        } else {
                            0..0
                        }),
                        dks.range(if need.k {
                            b * s * e..(b + 1) * s * e
                        } else {
                            0..0
                        }),
                        dvs.range(if need.v {
                            b * s * ev..(b + 1) * s * ev
                        } else {
                            0..0
                        }),
                    )
                };
                dqb.fill(T::ZERO);
                dkb.fill(T::ZERO);
                dvb.fill(T::ZERO);
                for j0 in (0..s).step_by(BK) {
                    let cols = j0..(j0 + BK).min(s);
                    let n = cols.len();
                    // under `causal`, the query rows before j0 see none of these keys
                    let first = if p.causal { (j0 / BQ) * BQ } else { 0 };
                    for i0 in (first..l).step_by(BQ) {
                        let rows = i0..(i0 + BQ).min(l);
                        let nr = rows.len();
                        let pr = &mut pb[..nr * n];
                        p.scores(b, &rows, &cols, pr);
                        for (r, i) in rows.clone().enumerate() {
                            let row = &mut pr[r * n..(r + 1) * n];
                            if lb[i] == T::NEG_INFINITY {
                                row.fill(T::ZERO);
                            } else {
                                exp_shifted(row, lb[i]);
                            }
                        }
                        let go = gb[i0 * ev..].as_ptr();
                        if need.v {
                            // SAFETY: dvb holds s * ev elements (need.v), rows cols of it are
                            // n * ev; pr is nr * n read transposed; go addresses nr rows of ev.
                            unsafe {
                                gemm_seq(
                                    (n, ev, nr),
                                    (dvb[j0 * ev..].as_mut_ptr(), ev, 1),
                                    true,
                                    (pr.as_ptr(), 1, n),
                                    (go, ev, 1),
                                );
                            }
                        }
                        if !(need.q || need.k) {
                            continue;
                        }
                        let dsr = &mut ds[..nr * n];
                        // SAFETY: dsr holds nr * n elements; go nr rows of ev; the v rows
                        // cols lie in v's storage (Mat::of), read transposed.
                        unsafe {
                            gemm_seq(
                                (nr, n, ev),
                                (dsr.as_mut_ptr(), n, 1),
                                false,
                                (go, ev, 1),
                                (p.v.row(b, j0), p.v.cs, p.v.rs),
                            );
                        }
                        for (r, i) in rows.clone().enumerate() {
                            let (x, pp) = (&mut dsr[r * n..(r + 1) * n], &pr[r * n..(r + 1) * n]);
                            softmax_grad_row(x, pp, d[i], p.scale);
                        }
                        if need.q {
                            // SAFETY: dqb holds l * e elements (need.q), rows `rows` of it
                            // nr * e; dsr nr * n; the k rows cols lie in k's storage.
                            unsafe {
                                gemm_seq(
                                    (nr, e, n),
                                    (dqb[i0 * e..].as_mut_ptr(), e, 1),
                                    true,
                                    (dsr.as_ptr(), n, 1),
                                    (p.k.row(b, j0), p.k.rs, p.k.cs),
                                );
                            }
                        }
                        if need.k {
                            // SAFETY: dkb holds s * e elements (need.k), rows cols of it
                            // n * e; dsr read transposed; the q rows `rows` lie in q's storage.
                            unsafe {
                                gemm_seq(
                                    (n, e, nr),
                                    (dkb[j0 * e..].as_mut_ptr(), e, 1),
                                    true,
                                    (dsr.as_ptr(), 1, n),
                                    (p.q.row(b, i0), p.q.rs, p.q.cs),
                                );
                            }
                        }
                    }
                }
            }
        });
    }
    [dq, dk, dv]
}
