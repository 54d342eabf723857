//! The forward scan over plain slices. Per step, each fixed block of hidden units runs its
//! part of the recurrent product and its gate arithmetic; the threads share a step's blocks
//! ([`super::scan_team::run`], unit mode, a barrier every step) or, when the batch is large
//! enough and the products run on the packed panels, each thread runs whole steps of its own
//! batch rows ([`super::scan_team::lanes`], row mode, no barrier: see
//! [`super::scan_blocks::row_groups`]).

use super::cell_activations::GateAct;
use super::lstm_gates_avx512::LstmRows;
use super::scan_blocks::{row_groups, unit_blocks, PAR_FLOPS, UNITS};
use super::scan_dims::{saved_width, Cell, Dims};
use super::step_products::{pack_blocks, pack_panels, Mm};
use super::{gates, scan_team};
use crate::dtype::as_f32;
use crate::parallel::SharedMut;
use crate::storage::{take_buffer, StorageElem};
use std::ops::Range;

/// Asks the CPU to bring the cache lines of `s` closer (a hint; no effect on results).
#[inline]
fn prefetch<T>(s: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(s);
        let p = s.as_ptr().cast::<i8>();
        for off in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults and the address lies inside `s`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    p.wrapping_add(off),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

/// The forward scan. `gx` `[t, n, g*h]`, `w` `[g*h, h]`, `b` `[g*h]`, `h0`, `c0` `[n, h]`
/// (`c0` empty unless LSTM). Returns the output (`[t, n, h]`, for LSTM `[2, t, n, h]`: the h
/// block, then the c block) and the saved activations `[t, n, saved_width]`. With `gx_rows`
/// (`[t * n]`), row `r` of step `ti` of the projections starts at `gx[gx_rows[ti * n + r]]`
/// (the rows of a table, picked by token) instead of `(ti * n + r) * g*h`.
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
    gx_rows: Option<&[usize]>,
) -> (Vec<T>, Vec<T>) {
    let (nh, ngh, gw, h, g) = (d.n * d.h, d.n * d.gh(), d.gh(), d.h, d.g);
    let gx_at = |ti: usize, r: usize| match gx_rows {
        Some(o) => o[ti * d.n + r],
        None => ti * ngh + r * gw,
    };
    let sw = saved_width(cell, h);
    let lstm = cell == Cell::Lstm;
    let mut out = take_buffer::<T>(if lstm { 2 } else { 1 } * d.t * nh);
    let mut saved = take_buffer::<T>(d.t * d.n * sw);
    let blocks = unit_blocks(h);
    // block j0.. is (W_hhᵀ)_b, [h, g*u]: column k*u + jj is gate k of unit j0 + jj
    let packed = pack_panels(
        w,
        &blocks,
        h,
        |b| g * b.len(),
        |b, col| ((col / b.len()) * h + b.start + col % b.len()) * h,
        1,
    );
    // the same blocks in one plain buffer, for the `gemm` crate when nothing was packed
    let wt = if packed.is_none() {
        pack_blocks(w, d, &blocks)
    } else {
        Vec::new()
    };
    let (hs, cs) = out.split_at_mut(d.t * nh);
    let (hs, cs) = (SharedMut::new(hs), SharedMut::new(cs));
    let svs = SharedMut::new(&mut saved);
    let parallel = d.n * gw * h >= PAR_FLOPS;
    let simd_lstm = lstm && as_f32(gx).is_some() && crate::cpu::simd::avx512f();
    // step s of block bi for the batch rows `rows`; `ghb` [rows, g*u] receives the rows'
    // recurrent pre-activations of the block
    let step = |s: usize, bi: usize, rows: Range<usize>, ghb: &mut [T]| {
        let units = &blocks[bi];
        let (j0, u) = (units.start, units.len());
        let (r0, m) = (rows.start, rows.len());
        let ti = d.time(s, reverse);
        let prev = if reverse {
            (ti + 1 < d.t).then_some(ti + 1)
        } else {
            ti.checked_sub(1)
        };
        // SAFETY (every `get` and `range` below): the previous step of these rows is
        // complete and nothing writes it any more (team phases are ordered; in row mode the
        // same task wrote it); only this call writes these rows' units of step ti.
        let (hp, cp) = match prev {
            Some(p) => unsafe {
                let c = if lstm { p * nh..(p + 1) * nh } else { 0..0 };
                (hs.get(p * nh..(p + 1) * nh), cs.get(c))
            },
            None => (h0, c0),
        };
        // this step's input projections are far in memory (the whole [t, n, g*h] is tens of
        // MB): ask for the block's lines now, to arrive while the product runs
        for r in rows.clone() {
            for k in 0..g {
                prefetch(&gx[gx_at(ti, r) + k * h + j0..][..u]);
            }
        }
        if let (Some(p), true) = (&packed, m > 0 && h > 0) {
            // SAFETY: as below; T is f32 whenever `packed` is set.
            unsafe {
                p[bi].product(
                    m,
                    hp[r0 * h..].as_ptr().cast(),
                    h,
                    ghb.as_mut_ptr().cast(),
                    g * u,
                    false,
                )
            };
        } else if m > 0 && h > 0 {
            // gh_b = h_prev · (W_hhᵀ)_b
            let mm = Mm {
                a: hp[r0 * h..].as_ptr(),
                a_rs: h as isize,
                a_cs: 1,
                b: wt[h * g * j0..].as_ptr(),
                b_rs: (g * u) as isize,
                b_cs: 1,
                dst: ghb.as_mut_ptr(),
                dst_rs: (g * u) as isize,
                acc: false,
            };
            // SAFETY: hp's rows are [m, h]; the block of wt is [h, g*u]; ghb is [m, g*u].
            unsafe { mm.block(0..m, 0..g * u, h) };
        } else {
            ghb.fill(T::ZERO);
        }
        if simd_lstm {
            let rows = LstmRows {
                n: m,
                u,
                h,
                gx: match gx_rows {
                    Some(_) => gx[j0..].as_ptr().cast(),
                    None => gx[ti * ngh + r0 * gw + j0..].as_ptr().cast(),
                },
                gx_rs: gw,
                gx_rows: gx_rows.map_or(std::ptr::null(), |o| o[ti * d.n + r0..].as_ptr()),
                gh: ghb.as_ptr().cast(),
                gh_rs: g * u,
                b: b[j0..].as_ptr().cast(),
                cp: cp[r0 * h + j0..].as_ptr().cast(),
                cp_rs: h,
                co: cs.as_mut_ptr().wrapping_add(ti * nh + r0 * h + j0).cast(),
                ho: hs.as_mut_ptr().wrapping_add(ti * nh + r0 * h + j0).cast(),
                out_rs: h,
                sv: svs
                    .as_mut_ptr()
                    .wrapping_add((ti * d.n + r0) * sw + j0)
                    .cast(),
                sv_rs: sw,
            };
            // SAFETY: T is f32 and the CPU has AVX-512 (`simd_lstm`); the pointers address
            // these rows' units of the block at step ti in gx (rows with the stride given, or
            // at the offsets of gx_rows), gh, b, c_{t-1} (all [m, ..] with the row strides
            // given) and of the outputs, which only this call writes.
            unsafe { rows.run() };
            return;
        }
        for r in rows {
            let (hrow, srow) = (ti * nh + r * h, (ti * d.n + r) * sw);
            let gxr = &gx[gx_at(ti, r)..][..gw];
            let ghr = &ghb[(r - r0) * g * u..][..g * u];
            let gate = |k: usize| &gxr[k * h + j0..][..u];
            let ghk = |k: usize| &ghr[k * u..][..u];
            let bk = |k: usize| &b[k * h + j0..][..u];
            let ho = unsafe { hs.range(hrow + j0..hrow + j0 + u) };
            let sv = |k: usize| unsafe { svs.range(srow + k * h + j0..srow + k * h + j0 + u) };
            match cell {
                Cell::Tanh | Cell::Relu => {
                    gates::rnn_fwd(gate(0), ghk(0), bk(0), ho, cell == Cell::Relu)
                }
                Cell::Lstm => gates::lstm_fwd(
                    [gate(0), gate(1), gate(2), gate(3)],
                    [ghk(0), ghk(1), ghk(2), ghk(3)],
                    [bk(0), bk(1), bk(2), bk(3)],
                    &cp[r * h + j0..][..u],
                    unsafe { cs.range(hrow + j0..hrow + j0 + u) },
                    ho,
                    [sv(0), sv(1), sv(2), sv(3), sv(4)],
                ),
                Cell::Gru => gates::gru_fwd(
                    [gate(0), gate(1), gate(2)],
                    [ghk(0), ghk(1), ghk(2)],
                    [bk(0), bk(1), bk(2)],
                    &hp[r * h + j0..][..u],
                    ho,
                    [sv(0), sv(1), sv(2), sv(3)],
                ),
            }
        }
    };
    match row_groups(d.n, parallel && packed.is_some()) {
        Some(groups) => {
            // one scratch per lane, [rows, g*UNITS]
            let mut ghb = take_buffer::<T>(d.n * g * UNITS);
            let ghbs = SharedMut::new(&mut ghb);
            scan_team::lanes(groups.len(), d.t, |gi, s| {
                let rows = groups[gi].clone();
                // SAFETY: a lane's steps never run at once, and lanes own disjoint rows
                let ghb = unsafe { ghbs.range(rows.start * g * UNITS..rows.end * g * UNITS) };
                for (bi, units) in blocks.iter().enumerate() {
                    step(
                        s,
                        bi,
                        rows.clone(),
                        &mut ghb[..rows.len() * g * units.len()],
                    );
                }
            });
        }
        None => {
            // block j0.. of one step's recurrent pre-activations is [n, g*u] at n * g * j0
            let mut gh = take_buffer::<T>(ngh);
            let ghs = SharedMut::new(&mut gh);
            scan_team::run(d.t, 1, blocks.len(), parallel, |s, _, bi| {
                let units = &blocks[bi];
                // SAFETY: only this block writes its region of `gh`.
                let ghb = unsafe { ghs.range(d.n * g * units.start..d.n * g * units.end) };
                step(s, bi, 0..d.n, ghb);
            });
        }
    }
    (out, saved)
}
