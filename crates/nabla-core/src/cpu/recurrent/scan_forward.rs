//! The fused loops of the recurrent scans over plain slices. The hidden units are cut into fixed
//! blocks; per step, each block runs its part of the recurrent product and its gate arithmetic. The
//! threads share a step's blocks ([`super::scan_team::run`], unit mode, a barrier every step) or,
//! when the batch is large enough and the products run on the packed panels, each thread runs whole
//! steps of its own batch rows ([`super::scan_team::lanes`], row mode, no barrier: see
//! [`row_groups`]). The backward pass has two phases per step (gate arithmetic, then the product
//! `dG_t · W_hh` by blocks of `dh`'s columns), a block's second phase and its next first phase run
//! back to back, and the weight gradient is one product over the whole sequence.

use super::cell_activations::GateAct;
use super::lstm_gates_avx512::LstmRows;
use super::packed_panel::Packed;
use super::{gates, scan_team};
use crate::cpu::elementwise::sum_rows_into;
use crate::dtype::as_f32;
use crate::ops::rnn::Cell;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
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
/// Hidden units per block of a scan step (fixed, so results do not depend on the threads).
const UNITS: usize = 64;

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

/// Fewest batch rows per lane of a scan in row mode.
const MIN_ROWS: usize = 8;
/// Lanes per thread in row mode: two, so that a thread that runs ahead can take the steps
/// of a lane whose owner is busy with its other one.
const LANES_PER_THREAD: usize = 2;

/// The batch rows of each lane of a scan in row mode, or `None` for unit mode. A row's
/// recurrence never reads another row, so in row mode the rows are cut into lanes, each a
/// sequence of whole steps for its rows, run by the threads with no barrier per step
/// ([`scan_team::lanes`]) and no `h_{t-1}` from another core (the reasons; the step times below
/// are what was measured). Unit mode (all rows, the blocks of units shared by a [`scan_team`]
/// that waits at every step) is left for a batch too small to split and one thread, and for
/// the `gemm` crate's products (`allowed` false): the packed panels compute each row the
/// same way in a call of any number of rows, so on them the two modes give the same bits and
/// the split may follow the thread count. Interleaved W5 runs (2 threads, 5 rounds): median
/// step 32.2 ms in unit mode, 29.7-30.0 ms in row mode (one task per thread, or one or two
/// lanes per thread).
fn row_groups(n: usize, allowed: bool) -> Option<Vec<Range<usize>>> {
    let lanes = (LANES_PER_THREAD * threads()).min(n / MIN_ROWS);
    (allowed && threads() >= 2 && lanes >= 2).then(|| {
        (0..lanes)
            .map(|k| k * n / lanes..(k + 1) * n / lanes)
            .collect()
    })
}

/// The fixed blocks of hidden units: `UNITS` each, the last one shorter.
fn unit_blocks(h: usize) -> Vec<Range<usize>> {
    (0..h.div_ceil(UNITS))
        .map(|b| b * UNITS..((b + 1) * UNITS).min(h))
        .collect()
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

/// `W_hhᵀ` for the forward products, by unit block: block `j0..j1` (`u` units) is `[h, g*u]`
/// row-major at offset `h * g * j0`, its column `k * u + jj` being gate `k` of unit `j0 + jj`.
fn pack_blocks<T: StorageElem>(w: &[T], d: Dims, blocks: &[Range<usize>]) -> Vec<T> {
    let mut wt = take_buffer::<T>(d.gh() * d.h);
    for units in blocks {
        let u = units.len();
        let dst = &mut wt[d.h * d.g * units.start..][..d.h * d.g * u];
        for k in 0..d.g {
            for (jj, j) in units.clone().enumerate() {
                let row = &w[(k * d.h + j) * d.h..][..d.h];
                let col = k * u + jj;
                for (kk, &v) in row.iter().enumerate() {
                    dst[kk * d.g * u + col] = v;
                }
            }
        }
    }
    wt
}

/// The blocks' right-hand sides packed for [`super::packed_panel`] (f32 on an AVX-512 CPU), or
/// `None` (the `gemm` crate then runs the per-step products): block `b` is `[k, cols(b)]`, element
/// `(kk, j)` being `w[col(b, j) + kk * kk_stride]`. The blocks are packed in parallel.
fn pack_panels<T: 'static>(
    w: &[T],
    blocks: &[Range<usize>],
    k: usize,
    cols: impl Fn(&Range<usize>) -> usize,
    col: impl Fn(&Range<usize>, usize) -> usize + Sync,
    kk_stride: usize,
) -> Option<Vec<Packed>> {
    let w = as_f32(w).filter(|_| crate::cpu::simd::avx512f())?;
    let mut packs: Vec<Packed> = blocks.iter().map(|b| Packed::alloc(k, cols(b))).collect();
    let n = packs.len();
    let shared = SharedMut::new(&mut packs);
    let fill = |bi: usize| {
        // SAFETY: each task fills its own block.
        let p = unsafe { &mut shared.range(bi..bi + 1)[0] };
        p.fill(w, |j| col(&blocks[bi], j), kk_stride);
    };
    if k * blocks.iter().map(&cols).sum::<usize>() >= PAR_FLOPS / 8 {
        crate::parallel::for_each(n, &fill);
    } else {
        (0..n).for_each(fill);
    }
    Some(packs)
}

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

/// `range` shifted by `off`.
fn at(off: usize, r: &Range<usize>) -> Range<usize> {
    off + r.start..off + r.end
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
