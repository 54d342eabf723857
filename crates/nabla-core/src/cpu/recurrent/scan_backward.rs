//! The backward scan over plain slices: two phases per step (gate arithmetic by unit blocks,
//! then the product `dG_t · W_hh` by blocks of `dh`'s columns), a block's second phase and its
//! next first phase run back to back, and the weight gradient is one product over the whole
//! sequence.

use super::cell_activations::GateAct;
use super::scan_blocks::{row_groups, unit_blocks, PAR_FLOPS};
use super::scan_dims::{saved_width, Cell, Dims};
use super::step_products::{gemm_into, pack_panels, Mm};
use super::{gates, scan_team};
use crate::cpu::sums::sum_rows_into;
use crate::parallel::SharedMut;
use crate::storage::{take_buffer, StorageElem};
use std::ops::Range;

/// `range` shifted by `off`.
fn at(off: usize, r: &Range<usize>) -> Range<usize> {
    off + r.start..off + r.end
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
/// gx, w, b, h0, c0 want a gradient. Per step: the gate arithmetic by unit blocks, then
/// `dh_prev (+)= dG_t · W_hh` by blocks of `dh`'s columns; after the loop `dW_hh = dGᵀ ·
/// H_prev` over all steps as one product and `db_hh` as one column sum.
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
    let (nh, ngh, gw, h) = (d.n * d.h, d.n * d.gh(), d.gh(), d.h);
    let sw = saved_width(cell, h);
    let lstm = cell == Cell::Lstm;
    let gru = cell == Cell::Gru;
    let (hs, cs) = out.split_at(d.t * nh);
    let (gh_in, gc_in) = g.split_at(d.t * nh);
    // `g` without its c half (`lstm_scan_h`): every step's c gradient is this zero row block
    let zero_c = if lstm && gc_in.is_empty() {
        let mut z = take_buffer::<T>(nh);
        z.fill(T::ZERO);
        z
    } else {
        Vec::new()
    };
    let gc_at = |ti: usize, hrow: usize, u: usize| -> &[T] {
        if zero_c.is_empty() {
            &gc_in[ti * nh + hrow..][..u]
        } else {
            &zero_c[hrow..][..u]
        }
    };
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
    let blocks = unit_blocks(h);
    // block j0.. is W_hh[:, j0..j0 + u], [g*h, u]
    let packed = pack_panels(w, &blocks, gw, |b| b.len(), |b, j| b.start + j, h);
    {
        let (dhs, dcs) = (SharedMut::new(&mut dh), SharedMut::new(&mut dc));
        let (dgxs, dghs) = (SharedMut::new(&mut dgx), SharedMut::new(&mut dgh_own));
        let parallel = d.n * gw * h >= PAR_FLOPS;
        // phase 0 of step s (gate arithmetic), phase 1 (dh (+)= dG_s · W_hh) for one block and
        // the batch rows `rows`
        let work = |s: usize, phase: usize, bi: usize, rows: Range<usize>| {
            let units = &blocks[bi];
            let (j0, u) = (units.start, units.len());
            let (r0, m) = (rows.start, rows.len());
            let ti = d.time(d.t - 1 - s, reverse);
            if phase == 1 {
                // dh_b (+)= dG_t · W_hh[:, b]: needs every block's dG_t of these rows
                // SAFETY: phase 0 of this step is complete for these rows (the team's
                // barrier, or in row mode the lane's previous step); this call alone
                // writes these rows' columns of dh.
                let dgt = unsafe {
                    if gru {
                        dghs.get(ti * ngh..(ti + 1) * ngh)
                    } else {
                        dgxs.get(ti * ngh..(ti + 1) * ngh)
                    }
                };
                if m == 0 {
                    return;
                }
                if let Some(p) = &packed {
                    // SAFETY: as below; T is f32 whenever `packed` is set.
                    unsafe {
                        p[bi].product(
                            m,
                            dgt[r0 * gw..].as_ptr().cast(),
                            gw,
                            dhs.as_mut_ptr().wrapping_add(r0 * h + j0).cast(),
                            h,
                            gru,
                        )
                    };
                    return;
                }
                let mm = Mm {
                    a: dgt.as_ptr(),
                    a_rs: gw as isize,
                    a_cs: 1,
                    b: w[j0..].as_ptr(),
                    b_rs: h as isize,
                    b_cs: 1,
                    dst: dhs.as_mut_ptr().wrapping_add(j0),
                    dst_rs: h as isize,
                    acc: gru,
                };
                // SAFETY: dG_t is [n, g*h], W_hh's columns j0..j0+u are [g*h, u] with row
                // stride h, dst addresses [n, u] with row stride h inside dh (columns that no
                // other block touches now).
                unsafe { mm.block(rows, 0..u, gw) };
                return;
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
            for r in rows {
                let (hrow, row, srow) = (r * h + j0, ti * ngh + r * gw, (ti * d.n + r) * sw);
                let ur = hrow..hrow + u;
                let gin = &gh_in[ti * nh + hrow..][..u];
                let sv = |k: usize| &saved[srow + k * h + j0..][..u];
                // SAFETY: this block alone touches its units of dh, dc, dG_t in phase 0.
                let dgk = |k: usize| unsafe { dgxs.range(row + k * h + j0..row + k * h + j0 + u) };
                match cell {
                    Cell::Tanh | Cell::Relu => gates::rnn_bwd(
                        unsafe { dhs.get(ur.clone()) },
                        gin,
                        &hs[ti * nh + hrow..][..u],
                        dgk(0),
                        cell == Cell::Relu,
                    ),
                    Cell::Lstm => gates::lstm_bwd(
                        unsafe { dhs.get(ur.clone()) },
                        [gin, gc_at(ti, hrow, u)],
                        unsafe { dcs.range(ur.clone()) },
                        [sv(0), sv(1), sv(2), sv(3), sv(4)],
                        &cp[ur.clone()],
                        [dgk(0), dgk(1), dgk(2), dgk(3)],
                    ),
                    Cell::Gru => {
                        let dhk = |k: usize| unsafe { dghs.range(at(row + k * h, units)) };
                        gates::gru_bwd(
                            unsafe { dhs.range(ur.clone()) },
                            gin,
                            [sv(0), sv(1), sv(2), sv(3)],
                            &hp[ur.clone()],
                            [dgk(0), dgk(1), dgk(2)],
                            [dhk(0), dhk(1), dhk(2)],
                        )
                    }
                }
            }
        };
        // Phase 0 of a block needs only that block's columns of dh (from its own phase 1 of
        // the step before) and of dc, so a block runs phase 1 of step s - 1 and phase 0 of
        // step s back to back: one barrier per step in unit mode (phase 1 needs every
        // block's dG), none in row mode (a task computes every block of its rows' dG).
        let fused = |k: usize, bi: usize, rows: Range<usize>| {
            if k > 0 {
                work(k - 1, 1, bi, rows.clone());
            }
            if k < d.t {
                work(k, 0, bi, rows);
            }
        };
        match row_groups(d.n, parallel && packed.is_some()) {
            Some(groups) => scan_team::lanes(groups.len(), d.t + 1, |gi, k| {
                for bi in 0..blocks.len() {
                    fused(k, bi, groups[gi].clone());
                }
            }),
            None => scan_team::run(d.t + 1, 1, blocks.len(), parallel, |k, _, bi| {
                fused(k, bi, 0..d.n)
            }),
        }
    }
    let dgh_all: &[T] = if gru { &dgh_own } else { &dgx };
    let gwt = need[1].then(|| {
        // dW = dGᵀ [g*h, t*n] · H_prev [t*n, h], H_prev being h0 at the first step in scan
        // order and the outputs shifted by one step elsewhere: two products, the step with h0
        // and the others straight on the outputs (no copy of H_prev)
        let mut dw = take_buffer::<T>(gw * h);
        if d.t == 0 {
            dw.fill(T::ZERO);
            return dw;
        }
        let (first, rest) = if reverse {
            (d.t - 1, 0..d.t - 1)
        } else {
            (0, 1..d.t)
        };
        gemm_into(
            (gw, h, d.n),
            &mut dw,
            false,
            &dgh_all[first * ngh..],
            (1, gw),
            h0,
            (h, 1),
        );
        // steps `rest` have H_prev = outputs of steps rest ± 1, contiguous
        let shift = if reverse {
            rest.start + 1
        } else {
            rest.start - 1
        };
        gemm_into(
            (gw, h, rest.len() * d.n),
            &mut dw,
            true,
            &dgh_all[rest.start * ngh..],
            (1, gw),
            &hs[shift * nh..],
            (h, 1),
        );
        dw
    });
    let gb = need[2].then(|| {
        let mut db = take_buffer::<T>(gw);
        sum_rows_into(dgh_all, gw, &mut db);
        db
    });
    drop(dgh_own);
    Grads {
        gx: need[0].then_some(dgx),
        w: gwt,
        b: gb,
        h0: need[3].then_some(dh),
        c0: (need[4] && lstm).then_some(dc),
    }
}
