//! The fused loops of the recurrent scans over plain slices: per step one recurrent product
//! through `gemm` (split across the pool's threads) and one pass of gate arithmetic; in the
//! backward pass the weight gradient as one product over the whole sequence.

use super::act::GateAct;
use super::Cell;
use crate::ops::kernels::sum_rows_into;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use multiversion::multiversion;
use std::ops::Range;

/// Sizes of one scan: `t` steps of a batch of `n`, hidden size `h`, `g` gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub(crate) t: usize,
    pub(crate) n: usize,
    pub(crate) h: usize,
    pub(crate) g: usize,
}

impl Dims {
    /// Width of the gate pre-activations, `g * h`.
    pub(crate) fn gh(&self) -> usize {
        self.g * self.h
    }
    /// The time index of processing step `s`.
    pub(crate) fn time(&self, s: usize, reverse: bool) -> usize {
        if reverse {
            self.t - 1 - s
        } else {
            s
        }
    }
}

/// Products of at least this many multiply-adds are split across threads.
const PAR_FLOPS: usize = 1 << 17;
/// Gate passes over at least this many elements are split across threads (by rows).
const PAR_ELEMS: usize = 1 << 13;

/// One strided product `dst[m, n] (+)= a[m, k] · b[k, n]`, `dst` row-major with row stride `n`.
struct Mm<T> {
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    b_cs: isize,
    dst: *mut T,
    dst_rs: isize,
    acc: bool,
}

// SAFETY: an `Mm` is shared only by the tasks of one `gemm_into` call, which write disjoint
// blocks of `dst` and only read `a` and `b`.
unsafe impl<T> Sync for Mm<T> {}

impl<T: StorageElem + 'static> Mm<T> {
    /// # Safety
    /// The pointers and strides address `[m, k]`, `[k, n]` and `[m, n]` elements, `dst` is
    /// writable and does not alias `a` or `b`; `rows`, `cols` lie inside `0..m`, `0..n`.
    unsafe fn block(&self, rows: Range<usize>, cols: Range<usize>, k: usize) {
        let (r0, c0) = (rows.start as isize, cols.start as isize);
        // SAFETY: guaranteed by the caller; with `acc` false the old `dst` is never read.
        unsafe {
            gemm::gemm(
                rows.len(),
                cols.len(),
                k,
                self.dst.offset(r0 * self.dst_rs + c0),
                1,
                self.dst_rs,
                self.acc,
                self.a.offset(r0 * self.a_rs),
                self.a_cs,
                self.a_rs,
                self.b.offset(c0 * self.b_cs),
                self.b_cs,
                self.b_rs,
                T::ONE,
                T::ONE,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// The largest offset a strided `[rows, cols]` operand reads, plus one.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    (rows - 1) * rs + (cols - 1) * cs + 1
}

/// `dst[m, n] = a[m, k] · b[k, n]` (or `+=` with `acc`), `dst` row-major; `a` and `b` are read
/// with the given row and column strides. Large products are split over the longer of `m`
/// and `n` across [`crate::parallel`]'s threads; each element is computed the same way for any
/// split, so results do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into<T: StorageElem + GateAct + 'static>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    acc: bool,
    a: &[T],
    (a_rs, a_cs): (usize, usize),
    b: &[T],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    // the bounds that make the raw-pointer product below sound
    assert!(
        dst.len() >= m * n
            && a.len() >= extent(m, k, a_rs, a_cs)
            && b.len() >= extent(k, n, b_rs, b_cs),
        "gemm_into: operands too short"
    );
    let p = Mm {
        a: a.as_ptr(),
        a_rs: a_rs as isize,
        a_cs: a_cs as isize,
        b: b.as_ptr(),
        b_rs: b_rs as isize,
        b_cs: b_cs as isize,
        dst: dst.as_mut_ptr(),
        dst_rs: n as isize,
        acc,
    };
    if m * n * k >= PAR_FLOPS && threads() > 1 {
        if m >= n {
            // SAFETY: the extents were checked above and `dst` is a distinct `&mut` slice;
            // for_ranges hands out disjoint row ranges, so the tasks write disjoint blocks.
            for_ranges(m, 16, |r| unsafe { p.block(r, 0..n, k) });
        } else {
            // SAFETY: as above, with disjoint column ranges.
            for_ranges(n, 16, |c| unsafe { p.block(0..m, c, k) });
        }
    } else {
        // SAFETY: the extents were checked above and `dst` is a distinct `&mut` slice.
        unsafe { p.block(0..m, 0..n, k) };
    }
}

/// Runs `f` on row ranges of `0..rows`, split across threads when `elems` is large.
fn by_rows(rows: usize, elems: usize, f: impl Fn(Range<usize>) + Sync) {
    if elems >= PAR_ELEMS && rows > 1 && threads() > 1 {
        for_ranges(rows, 1, f);
    } else {
        f(0..rows);
    }
}

/// The slices one forward step reads and writes (rows of the batch).
struct FwdStep<'a, T> {
    gx: &'a [T],
    gh: &'a [T],
    b: &'a [T],
    hp: &'a [T],
    cp: &'a [T],
    h: &'a mut [T],
    c: &'a mut [T],
    saved: &'a mut [T],
}

/// The gate arithmetic of one step for the rows held by `s` (`h` units per row).
fn fwd_rows<T: GateAct>(cell: Cell, h: usize, s: FwdStep<'_, T>) {
    let rows = s.hp.len() / h.max(1);
    let gw = cell.gates() * h;
    let sw = saved_width(cell, h);
    for r in 0..rows {
        let (gx, gh) = (&s.gx[r * gw..(r + 1) * gw], &s.gh[r * gw..(r + 1) * gw]);
        let ho = &mut s.h[r * h..(r + 1) * h];
        match cell {
            Cell::Tanh => rnn_row(gx, gh, s.b, ho, false),
            Cell::Relu => rnn_row(gx, gh, s.b, ho, true),
            Cell::Lstm => lstm_row(
                gx,
                gh,
                s.b,
                &s.cp[r * h..(r + 1) * h],
                &mut s.c[r * h..(r + 1) * h],
                ho,
                &mut s.saved[r * sw..(r + 1) * sw],
            ),
            Cell::Gru => gru_row(
                gx,
                gh,
                s.b,
                &s.hp[r * h..(r + 1) * h],
                ho,
                &mut s.saved[r * sw..(r + 1) * sw],
            ),
        }
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn rnn_row<T: GateAct>(gx: &[T], gh: &[T], b: &[T], ho: &mut [T], relu: bool) {
    for (((o, &x), &y), &bb) in ho.iter_mut().zip(gx).zip(gh).zip(b) {
        let a = x + y + bb;
        *o = if !relu {
            a.th()
        } else if a < T::ZERO {
            // NaN stays NaN, as relu
            T::ZERO
        } else {
            a
        };
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn lstm_row<T: GateAct>(
    gx: &[T],
    gh: &[T],
    b: &[T],
    cp: &[T],
    co: &mut [T],
    ho: &mut [T],
    sv: &mut [T],
) {
    let h = ho.len();
    let (gx, gh, b) = (&gx[..4 * h], &gh[..4 * h], &b[..4 * h]);
    let (cp, co) = (&cp[..h], &mut co[..h]);
    let (si, rest) = sv[..5 * h].split_at_mut(h);
    let (sf, rest) = rest.split_at_mut(h);
    let (sg, rest) = rest.split_at_mut(h);
    let (so, st) = rest.split_at_mut(h);
    for j in 0..h {
        let i = (gx[j] + gh[j] + b[j]).sigm();
        let f = (gx[h + j] + gh[h + j] + b[h + j]).sigm();
        let g = (gx[2 * h + j] + gh[2 * h + j] + b[2 * h + j]).th();
        let o = (gx[3 * h + j] + gh[3 * h + j] + b[3 * h + j]).sigm();
        let c = f * cp[j] + i * g;
        let tc = c.th();
        co[j] = c;
        ho[j] = o * tc;
        si[j] = i;
        sf[j] = f;
        sg[j] = g;
        so[j] = o;
        st[j] = tc;
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn gru_row<T: GateAct>(gx: &[T], gh: &[T], b: &[T], hp: &[T], ho: &mut [T], sv: &mut [T]) {
    let h = ho.len();
    let (gx, gh, b, hp) = (&gx[..3 * h], &gh[..3 * h], &b[..3 * h], &hp[..h]);
    let (sr, rest) = sv[..4 * h].split_at_mut(h);
    let (sz, rest) = rest.split_at_mut(h);
    let (sn, shn) = rest.split_at_mut(h);
    for j in 0..h {
        let r = (gx[j] + gh[j] + b[j]).sigm();
        let z = (gx[h + j] + gh[h + j] + b[h + j]).sigm();
        let hn = gh[2 * h + j] + b[2 * h + j];
        let n = (gx[2 * h + j] + r * hn).th();
        ho[j] = n + z * (hp[j] - n);
        sr[j] = r;
        sz[j] = z;
        sn[j] = n;
        shn[j] = hn;
    }
}

/// Width per row of the activations saved for the backward pass.
pub(crate) fn saved_width(cell: Cell, h: usize) -> usize {
    match cell {
        Cell::Tanh | Cell::Relu => 0,
        // i, f, g, o and tanh(c)
        Cell::Lstm => 5 * h,
        // r, z, n and W_hn h + b_hn
        Cell::Gru => 4 * h,
    }
}

/// The forward scan. `gx` `[t, n, g*h]`, `w` `[g*h, h]`, `b` `[g*h]`, `h0`, `c0` `[n, h]`
/// (`c0` empty unless LSTM). Returns the output (`[t, n, h]`, for LSTM `[2, t, n, h]`: the h
/// block, then the c block) and the saved activations `[t, n, saved_width]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<T: StorageElem + GateAct + 'static>(
    cell: Cell,
    reverse: bool,
    d: Dims,
    gx: &[T],
    w: &[T],
    b: &[T],
    h0: &[T],
    c0: &[T],
) -> (Vec<T>, Vec<T>) {
    let (nh, ngh, gh_w) = (d.n * d.h, d.n * d.gh(), d.gh());
    let sw = saved_width(cell, d.h);
    let lstm = cell == Cell::Lstm;
    let mut out = take_buffer::<T>(if lstm { 2 } else { 1 } * d.t * nh);
    let mut saved = take_buffer::<T>(d.t * d.n * sw);
    let mut hp = take_buffer::<T>(nh);
    hp.copy_from_slice(h0);
    let mut cp = take_buffer::<T>(if lstm { nh } else { 0 });
    cp.copy_from_slice(c0);
    let mut gh = take_buffer::<T>(ngh);
    let (hs, cs) = out.split_at_mut(d.t * nh);
    // W_hhᵀ packed row-major [h, g*h] once, so the per-step products read it row by row
    let mut wt = take_buffer::<T>(gh_w * d.h);
    for (r, row) in w.chunks(d.h.max(1)).enumerate().take(gh_w) {
        for (k, &v) in row.iter().enumerate() {
            wt[k * gh_w + r] = v;
        }
    }
    for s in 0..d.t {
        let ti = d.time(s, reverse);
        // gh = h_prev · W_hhᵀ
        gemm_into(
            (d.n, gh_w, d.h),
            &mut gh,
            false,
            &hp,
            (d.h, 1),
            &wt,
            (gh_w, 1),
        );
        let hsl = SharedMut::new(&mut hs[ti * nh..(ti + 1) * nh]);
        let csl = SharedMut::new(if lstm {
            &mut cs[ti * nh..(ti + 1) * nh]
        } else {
            &mut []
        });
        let svl = SharedMut::new(&mut saved[ti * d.n * sw..(ti + 1) * d.n * sw]);
        let (gxt, ghr, hpr, cpr) = (&gx[ti * ngh..(ti + 1) * ngh], &gh[..], &hp[..], &cp[..]);
        by_rows(d.n, ngh, |r| {
            let (hr, gr, sr) = (
                r.start * d.h..r.end * d.h,
                r.start * gh_w..r.end * gh_w,
                r.start * sw..r.end * sw,
            );
            // SAFETY: by_rows hands out disjoint row ranges, so the output ranges are disjoint.
            let step = unsafe {
                FwdStep {
                    gx: &gxt[gr.clone()],
                    gh: &ghr[gr],
                    b,
                    hp: &hpr[hr.clone()],
                    cp: if lstm { &cpr[hr.clone()] } else { &[] },
                    h: hsl.range(hr.clone()),
                    c: if lstm { csl.range(hr) } else { &mut [] },
                    saved: svl.range(sr),
                }
            };
            fwd_rows(cell, d.h, step);
        });
        hp.copy_from_slice(&hs[ti * nh..(ti + 1) * nh]);
        if lstm {
            cp.copy_from_slice(&cs[ti * nh..(ti + 1) * nh]);
        }
    }
    (out, saved)
}

/// The slices one backward step reads and writes (rows of the batch).
struct BwdStep<'a, T> {
    /// Gradient w.r.t. this step's h (in), then w.r.t. the previous h except through the
    /// recurrent product (out).
    dh: &'a mut [T],
    /// Gradient w.r.t. this step's c (in), then w.r.t. the previous c (out); LSTM only.
    dc: &'a mut [T],
    saved: &'a [T],
    h: &'a [T],
    hp: &'a [T],
    cp: &'a [T],
    /// Gradient w.r.t. this step's input pre-activations.
    dgx: &'a mut [T],
    /// Gradient w.r.t. the recurrent pre-activations (GRU only; the others share `dgx`).
    dgh: &'a mut [T],
}

fn bwd_rows<T: GateAct>(cell: Cell, h: usize, s: BwdStep<'_, T>) {
    let rows = s.hp.len() / h.max(1);
    let gw = cell.gates() * h;
    let sw = saved_width(cell, h);
    for r in 0..rows {
        let dh = &mut s.dh[r * h..(r + 1) * h];
        let dgx = &mut s.dgx[r * gw..(r + 1) * gw];
        match cell {
            Cell::Tanh | Cell::Relu => {
                let hv = &s.h[r * h..(r + 1) * h];
                for j in 0..h {
                    dgx[j] = match cell {
                        Cell::Tanh => dh[j] * (T::ONE - hv[j] * hv[j]),
                        // NaN passes its gradient, as relu's rule
                        _ if hv[j] <= T::ZERO => T::ZERO,
                        _ => dh[j],
                    };
                    dh[j] = T::ZERO;
                }
            }
            Cell::Lstm => {
                let dc = &mut s.dc[r * h..(r + 1) * h];
                let sv = &s.saved[r * sw..(r + 1) * sw];
                let cp = &s.cp[r * h..(r + 1) * h];
                for j in 0..h {
                    let (i, f, g, o, tc) = (
                        sv[j],
                        sv[h + j],
                        sv[2 * h + j],
                        sv[3 * h + j],
                        sv[4 * h + j],
                    );
                    let dc2 = dc[j] + dh[j] * o * (T::ONE - tc * tc);
                    dgx[j] = dc2 * g * i * (T::ONE - i);
                    dgx[h + j] = dc2 * cp[j] * f * (T::ONE - f);
                    dgx[2 * h + j] = dc2 * i * (T::ONE - g * g);
                    dgx[3 * h + j] = dh[j] * tc * o * (T::ONE - o);
                    dc[j] = dc2 * f;
                    dh[j] = T::ZERO;
                }
            }
            Cell::Gru => {
                let sv = &s.saved[r * sw..(r + 1) * sw];
                let hp = &s.hp[r * h..(r + 1) * h];
                let dgh = &mut s.dgh[r * gw..(r + 1) * gw];
                for j in 0..h {
                    let (rr, z, n, hn) = (sv[j], sv[h + j], sv[2 * h + j], sv[3 * h + j]);
                    let dn = dh[j] * (T::ONE - z) * (T::ONE - n * n);
                    let dz = dh[j] * (hp[j] - n) * z * (T::ONE - z);
                    let dr = dn * hn * rr * (T::ONE - rr);
                    dgx[j] = dr;
                    dgx[h + j] = dz;
                    dgx[2 * h + j] = dn;
                    dgh[j] = dr;
                    dgh[h + j] = dz;
                    dgh[2 * h + j] = dn * rr;
                    dh[j] *= z;
                }
            }
        }
    }
}

/// The gradients of a scan (each `None` unless asked for).
pub(crate) struct Grads<T> {
    pub(crate) gx: Option<Vec<T>>,
    pub(crate) w: Option<Vec<T>>,
    pub(crate) b: Option<Vec<T>>,
    pub(crate) h0: Option<Vec<T>>,
    pub(crate) c0: Option<Vec<T>>,
}

/// The backward scan: `g` is the gradient of the output (its layout), `need` says which of
/// gx, w, b, h0, c0 want a gradient. Per step: one pass of gate arithmetic and one product
/// `dh_prev += dG_t · W_hh`; after the loop `dW_hh = dGᵀ · H_prev` over all steps as one
/// product and `db_hh` as one column sum.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<T: StorageElem + GateAct + 'static>(
    cell: Cell,
    reverse: bool,
    d: Dims,
    w: &[T],
    h0: &[T],
    c0: &[T],
    out: &[T],
    saved: &[T],
    g: &[T],
    need: [bool; 5],
) -> Grads<T> {
    let (nh, ngh, gh_w) = (d.n * d.h, d.n * d.gh(), d.gh());
    let sw = saved_width(cell, d.h);
    let lstm = cell == Cell::Lstm;
    let gru = cell == Cell::Gru;
    let (hs, cs) = out.split_at(d.t * nh);
    let (gh_in, gc_in) = g.split_at(d.t * nh);
    let mut dh = take_buffer::<T>(nh);
    dh.fill(T::ZERO);
    let mut dc = take_buffer::<T>(if lstm { nh } else { 0 });
    dc.fill(T::ZERO);
    let mut dgx = take_buffer::<T>(d.t * ngh);
    let mut dgh_own = take_buffer::<T>(if gru { d.t * ngh } else { 0 });
    let prev = |ti: usize| -> Option<usize> {
        if reverse {
            (ti + 1 < d.t).then_some(ti + 1)
        } else {
            ti.checked_sub(1)
        }
    };
    for s in (0..d.t).rev() {
        let ti = d.time(s, reverse);
        for (a, &b) in dh.iter_mut().zip(&gh_in[ti * nh..(ti + 1) * nh]) {
            *a += b;
        }
        if lstm {
            for (a, &b) in dc.iter_mut().zip(&gc_in[ti * nh..(ti + 1) * nh]) {
                *a += b;
            }
        }
        let hp = match prev(ti) {
            Some(p) => &hs[p * nh..(p + 1) * nh],
            None => h0,
        };
        let cp = match (lstm, prev(ti)) {
            (false, _) => &[][..],
            (true, Some(p)) => &cs[p * nh..(p + 1) * nh],
            (true, None) => c0,
        };
        {
            let dhs = SharedMut::new(&mut dh);
            let dcs = SharedMut::new(&mut dc);
            let dgxs = SharedMut::new(&mut dgx[ti * ngh..(ti + 1) * ngh]);
            let dghs = SharedMut::new(if gru {
                &mut dgh_own[ti * ngh..(ti + 1) * ngh]
            } else {
                &mut []
            });
            let (svt, ht) = (
                &saved[ti * d.n * sw..(ti + 1) * d.n * sw],
                &hs[ti * nh..(ti + 1) * nh],
            );
            by_rows(d.n, ngh, |r| {
                let (hr, gr, sr) = (
                    r.start * d.h..r.end * d.h,
                    r.start * gh_w..r.end * gh_w,
                    r.start * sw..r.end * sw,
                );
                // SAFETY: by_rows hands out disjoint row ranges, so the ranges are disjoint.
                let step = unsafe {
                    BwdStep {
                        dh: dhs.range(hr.clone()),
                        dc: if lstm { dcs.range(hr.clone()) } else { &mut [] },
                        saved: &svt[sr],
                        h: &ht[hr.clone()],
                        hp: &hp[hr.clone()],
                        cp: if lstm { &cp[hr] } else { &[] },
                        dgx: dgxs.range(gr.clone()),
                        dgh: if gru { dghs.range(gr) } else { &mut [] },
                    }
                };
                bwd_rows(cell, d.h, step);
            });
        }
        // dh_prev += dG_t · W_hh
        let dgt = if gru {
            &dgh_own[ti * ngh..(ti + 1) * ngh]
        } else {
            &dgx[ti * ngh..(ti + 1) * ngh]
        };
        gemm_into((d.n, d.h, gh_w), &mut dh, true, dgt, (gh_w, 1), w, (d.h, 1));
    }
    let dgh_all: &[T] = if gru { &dgh_own } else { &dgx };
    let gw = need[1].then(|| {
        // H_prev for every step, in time order
        let mut hprev = take_buffer::<T>(d.t * nh);
        for ti in 0..d.t {
            let src = match prev(ti) {
                Some(p) => &hs[p * nh..(p + 1) * nh],
                None => h0,
            };
            hprev[ti * nh..(ti + 1) * nh].copy_from_slice(src);
        }
        let mut dw = take_buffer::<T>(gh_w * d.h);
        // dW = dGᵀ [g*h, t*n] · H_prev [t*n, h]
        gemm_into(
            (gh_w, d.h, d.t * d.n),
            &mut dw,
            false,
            dgh_all,
            (1, gh_w),
            &hprev,
            (d.h, 1),
        );
        dw
    });
    let gb = need[2].then(|| {
        let mut db = take_buffer::<T>(gh_w);
        sum_rows_into(dgh_all, gh_w, &mut db);
        db
    });
    drop(dgh_own);
    Grads {
        gx: need[0].then_some(dgx),
        w: gw,
        b: gb,
        h0: need[3].then_some(dh),
        c0: (need[4] && lstm).then_some(dc),
    }
}
