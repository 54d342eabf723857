//! Recurrent scans: one direction of an Elman RNN, LSTM or GRU layer over a whole sequence as
//! one primitive op, with PyTorch's gate order and formulas.
//!
//! The input projections of all steps are computed beforehand by the caller as one product
//! (`gx = x · W_ihᵀ + b_ih`, `[T, N, G*H]`); a scan then runs per step only the recurrent
//! product `h_{t-1} · W_hhᵀ` and one fused pass of gate arithmetic. Its backward rule runs the
//! steps in reverse with one fused pass and one product `dG_t · W_hh` per step, and computes
//! the weight gradient `dW_hh = Σ_t dG_tᵀ h_{t-1}` as one product over the whole sequence (and
//! `db_hh` as one column sum), so the weight gradients of a layer are a few large products.
//! When gradients of gradients are recorded (`create_graph`), the rule is instead written in
//! ordinary differentiable tensor ops, step by step.

use super::Op;
use crate::backprop::is_grad_enabled;
use crate::dtype::DType;
use crate::layout::{fmt_shape, Layout};
use crate::storage::{Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::sync::Arc;

pub(crate) mod reference;

use crate::cpu::recurrent::{self, Dims, GateAct};

/// The nonlinearity of an Elman RNN (`torch.nn.RNN(nonlinearity=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RnnNonlinearity {
    /// `tanh` (PyTorch's default).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

/// Which cell a scan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    Tanh,
    Relu,
    Lstm,
    Gru,
}

impl Cell {
    /// Gates per unit: the rows of `W_hh` are `gates() * hidden`.
    pub(crate) fn gates(self) -> usize {
        match self {
            Cell::Tanh | Cell::Relu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
    fn op_name(self) -> &'static str {
        match self {
            Cell::Tanh | Cell::Relu => "rnn_scan",
            Cell::Lstm => "lstm_scan",
            Cell::Gru => "gru_scan",
        }
    }
}

impl Tensor {
    /// One direction of an Elman RNN over a sequence: with `self` = `gx` `[T, N, H]` (the input
    /// projections `x_t W_ihᵀ + b_ih` of all steps), `h_t = act(gx_t + h_{t-1} W_hhᵀ + b_hh)`
    /// for `t = 0..T` (with `reverse`, for `t = T-1` down to 0, as the backward direction of a
    /// bidirectional RNN). Returns every `h_t`, `[T, N, H]`, in time order.
    ///
    /// `w_hh` is `[H, H]`, `b_hh` `[H]` (`None`: no bias), `h0` `[N, H]`. Fails when the
    /// shapes do not fit (the message names every shape) or the dtypes differ or are not float.
    pub fn rnn_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        nonlinearity: RnnNonlinearity,
        reverse: bool,
    ) -> Result<Tensor> {
        let cell = match nonlinearity {
            RnnNonlinearity::Tanh => Cell::Tanh,
            RnnNonlinearity::Relu => Cell::Relu,
        };
        scan(cell, reverse, self, w_hh, b_hh, h0, None, Out::Full)
    }

    /// One direction of an LSTM over a sequence, PyTorch's gates i, f, g, o: with `self` =
    /// `gx` `[T, N, 4H]` (the input projections of all steps) and `a_t = gx_t + h_{t-1} W_hhᵀ +
    /// b_hh` split into four blocks of `H`, `i = σ(a_i)`, `f = σ(a_f)`, `g = tanh(a_g)`,
    /// `o = σ(a_o)`, `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`; `reverse` runs from the last
    /// step to the first.
    ///
    /// Returns `[2, T, N, H]`: index 0 of dim 0 holds every `h_t`, index 1 every `c_t`, in time
    /// order (so `out.narrow(0, 0, 1)` is the output sequence, contiguous).
    ///
    /// `w_hh` is `[4H, H]`, `b_hh` `[4H]` (`None`: no bias), `h0` and `c0` `[N, H]`. Fails when
    /// the shapes do not fit (naming every shape) or the dtypes differ or are not float.
    pub fn lstm_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(
            Cell::Lstm,
            reverse,
            self,
            w_hh,
            b_hh,
            h0,
            Some(c0),
            Out::Full,
        )
    }

    /// [`Tensor::lstm_scan`] returning only the output sequence, every `h_t`, `[T, N, H]`.
    /// The cell states stay inside the op for its rule, so no gradient reaches them from
    /// outside: what an LSTM layer needs when its final state is not asked for. The full
    /// version's output would be narrowed to its h half, whose backward writes a zero
    /// gradient for every `c_t` (`[T, N, H]`) for the rule to read; this one does neither.
    /// Same values and gradients, same errors.
    pub fn lstm_scan_h(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(Cell::Lstm, reverse, self, w_hh, b_hh, h0, Some(c0), Out::H)
    }

    /// [`Tensor::lstm_scan_h`] over the rows of a table picked by index: with `self` a table
    /// of projections `[V, 4H]` and `idx` `[T, N]` (i64, each below `V`), the same as
    /// `self.index_select(0, idx.reshape([T*N]))` reshaped to `[T, N, 4H]` and then
    /// `lstm_scan_h`, without the picked `[T, N, 4H]` ever being written: each step reads its
    /// rows from the table. For a character model (an embedding lookup followed by the input
    /// projection, which is the projection of the embedding table looked up) the table is a
    /// few hundred KB where the picked rows are MB. The table's gradient sums the picked
    /// rows' gradients per row (as `index_select`'s rule does).
    ///
    /// Fails when the table is not 2-d, `idx` not 2-d i64 or out of range, or as
    /// [`Tensor::lstm_scan`] when the shapes do not fit.
    pub fn lstm_scan_rows(
        &self,
        idx: &Tensor,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(
            Cell::Lstm,
            reverse,
            self,
            w_hh,
            b_hh,
            h0,
            Some(c0),
            Out::Rows(idx),
        )
    }

    /// One direction of a GRU over a sequence, PyTorch's gates r, z, n with `b_hn` inside the
    /// reset product: with `self` = `gx` `[T, N, 3H]` (the input projections `x_t W_ihᵀ + b_ih`
    /// of all steps, blocks r, z, n) and `gh_t = h_{t-1} W_hhᵀ + b_hh`, `r = σ(gx_r + gh_r)`,
    /// `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r ⊙ gh_n)`, `h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}`;
    /// `reverse` runs from the last step to the first. Returns every `h_t`, `[T, N, H]`.
    ///
    /// `w_hh` is `[3H, H]`, `b_hh` `[3H]` (`None`: no bias), `h0` `[N, H]`. Fails when the
    /// shapes do not fit (naming every shape) or the dtypes differ or are not float.
    pub fn gru_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(Cell::Gru, reverse, self, w_hh, b_hh, h0, None, Out::Full)
    }
}

/// Checks the operands of a scan and returns its sizes.
fn check(
    cell: Cell,
    gx: &Tensor,
    gx_shape: &[usize],
    w: &Tensor,
    b: Option<&Tensor>,
    h0: &Tensor,
    c0: Option<&Tensor>,
) -> Result<Dims> {
    let name = cell.op_name();
    let g = cell.gates();
    let all = || {
        let mut s = format!(
            "gx {}, w_hh {}, b_hh {}, h0 {}",
            fmt_shape(gx_shape),
            fmt_shape(w.shape()),
            b.map_or("none".into(), |b| fmt_shape(b.shape())),
            fmt_shape(h0.shape())
        );
        if let Some(c) = c0 {
            s += &format!(", c0 {}", fmt_shape(c.shape()));
        }
        s
    };
    if w.rank() != 2 || w.shape()[0] != g * w.shape()[1] {
        return Err(Error::shape(
            name,
            format!("w_hh must be [{g}*H, H]; got {}", all()),
        ));
    }
    let h = w.shape()[1];
    if gx_shape.len() != 3 || gx_shape[2] != g * h {
        return Err(Error::shape(
            name,
            format!(
                "gx must be [T, N, {}] ({g}*H with H = {h}); got {}",
                g * h,
                all()
            ),
        ));
    }
    let (t, n) = (gx_shape[0], gx_shape[1]);
    if b.is_some_and(|b| b.shape() != [g * h]) {
        return Err(Error::shape(
            name,
            format!("b_hh must be [{}]; got {}", g * h, all()),
        ));
    }
    for (what, s) in [("h0", Some(h0)), ("c0", c0)] {
        if let Some(s) = s {
            if s.shape() != [n, h] {
                return Err(Error::shape(
                    name,
                    format!("{what} must be [N, H] = [{n}, {h}]; got {}", all()),
                ));
            }
        }
    }
    let mut ts = vec![gx, w, h0];
    ts.extend(b);
    ts.extend(c0);
    for o in &ts {
        gx.check_same_dtype(name, o)?;
    }
    gx.check_float(name)?;
    Ok(Dims { t, n, h, g })
}

/// What an LSTM scan returns (the other cells: always `Full`).
#[derive(Clone, Copy)]
enum Out<'a> {
    /// `[2, T, N, H]`: h and c.
    Full,
    /// `[T, N, H]`: h alone ([`Tensor::lstm_scan_h`]).
    H,
    /// h alone, `gx` being a table whose rows `idx` `[T, N]` picks
    /// ([`Tensor::lstm_scan_rows`]).
    Rows(&'a Tensor),
}

/// The scans' forward.
#[allow(clippy::too_many_arguments)]
fn scan(
    cell: Cell,
    reverse: bool,
    gx: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    what: Out<'_>,
) -> Result<Tensor> {
    // with `Rows`, `gx` is a table and row r of step t its row idx[t, r]
    let (d, offsets, rows) = match what {
        Out::Full | Out::H => (check(cell, gx, gx.shape(), w, b, h0, c0)?, None, None),
        Out::Rows(idx) => {
            let name = "lstm_scan_rows";
            if gx.rank() != 2 || idx.rank() != 2 {
                return Err(Error::shape(
                    name,
                    format!(
                        "the table must be [V, 4H] and idx [T, N]; got table {}, idx {}",
                        fmt_shape(gx.shape()),
                        fmt_shape(idx.shape())
                    ),
                ));
            }
            let flat = idx.reshape(&[idx.numel()])?;
            let ix = super::index::indices(name, &flat, gx.shape()[0])?;
            let shape = [idx.shape()[0], idx.shape()[1], gx.shape()[1]];
            let d = check(cell, gx, &shape, w, b, h0, c0)?;
            let offsets: Vec<usize> = ix.iter().map(|i| i * d.gh()).collect();
            (d, Some(offsets), Some(flat))
        }
    };
    let b = b
        .cloned()
        .unwrap_or_else(|| Tensor::zeros(&[d.gh()], gx.dtype()));
    fn go<T: StorageElem + GateAct + 'static>(
        cell: Cell,
        reverse: bool,
        d: Dims,
        ts: [&Tensor; 4],
        c0: Option<&Tensor>,
        offsets: Option<&[usize]>,
    ) -> Result<(Storage, Storage)> {
        let [gx, w, b, h0] = ts;
        let c0 = match c0 {
            Some(c) => c.data::<T>()?,
            None => std::borrow::Cow::Borrowed(&[][..]),
        };
        let (out, saved) = recurrent::forward(
            cell,
            reverse,
            d,
            &gx.data::<T>()?,
            &w.data::<T>()?,
            &b.data::<T>()?,
            &h0.data::<T>()?,
            &c0,
            offsets,
        );
        Ok((T::into_storage(out), T::into_storage(saved)))
    }
    let ts = [gx, w, &b, h0];
    let (out, saved) = match gx.dtype() {
        DType::F32 => go::<f32>(cell, reverse, d, ts, c0, offsets.as_deref())?,
        _ => go::<f64>(cell, reverse, d, ts, c0, offsets.as_deref())?,
    };
    let saved_shape = [d.t, d.n, recurrent::saved_width(cell, d.h)];
    let out = Arc::new(out);
    let hc = (cell == Cell::Lstm && !matches!(what, Out::Full))
        .then(|| Tensor::view_of(Arc::clone(&out), Layout::contiguous(&[2, d.t, d.n, d.h])));
    let op = match cell {
        Cell::Tanh | Cell::Relu => Op::RnnScan {
            relu: cell == Cell::Relu,
            reverse,
        },
        Cell::Lstm => Op::LstmScan {
            reverse,
            saved: Tensor::from_storage(saved, &saved_shape),
            hc: hc.clone(),
            rows,
        },
        Cell::Gru => Op::GruScan {
            reverse,
            saved: Tensor::from_storage(saved, &saved_shape),
        },
    };
    let mut inputs = vec![gx, w, &b, h0];
    inputs.extend(c0);
    let shape: Vec<usize> = if cell == Cell::Lstm && hc.is_none() {
        vec![2, d.t, d.n, d.h]
    } else {
        vec![d.t, d.n, d.h]
    };
    // with h only, the first half of the storage
    Ok(Tensor::view_op(
        out,
        Layout::contiguous(&shape),
        op,
        &inputs,
    ))
}

/// The backward rule of the scan ops: `x` is `[gx, w_hh, b_hh, h0]` (and `c0` for LSTM).
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    out: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let (cell, reverse, saved) = match op {
        Op::RnnScan { relu, reverse } => {
            let cell = if *relu { Cell::Relu } else { Cell::Tanh };
            (cell, *reverse, None)
        }
        Op::LstmScan { reverse, saved, .. } => (Cell::Lstm, *reverse, Some(saved)),
        Op::GruScan { reverse, saved } => (Cell::Gru, *reverse, Some(saved)),
        _ => return Err(Error::arg("rnn_scan", "not a scan op")),
    };
    // with h only: the whole output, and no gradient for the c half
    let (out, h_only) = match op {
        Op::LstmScan { hc: Some(hc), .. } => (hc, true),
        _ => (out, false),
    };
    let w = &x[1];
    // [T, N, H], or [2, T, N, H] for an LSTM
    let os = &out.shape()[out.rank() - 3..];
    let d = Dims {
        t: os[0],
        n: os[1],
        h: w.shape()[1],
        g: cell.gates(),
    };
    // a table's rows (lstm_scan_rows): the rule of `table.index_select(0, rows)` after the
    // scan's, for the table's gradient
    let rows = match op {
        Op::LstmScan { rows: Some(r), .. } => Some(r),
        _ => None,
    };
    let to_table = |dgx: Tensor| -> Result<Tensor> {
        match rows {
            Some(r) => x[0]
                .zeros_like()
                .index_add(0, r, &dgx.reshape(&[d.t * d.n, d.gh()])?),
            None => Ok(dgx),
        }
    };
    if is_grad_enabled() {
        // gradients of gradients: the rule in differentiable ops
        let g = if h_only {
            Tensor::cat(&[&g.unsqueeze(0)?, &g.zeros_like().unsqueeze(0)?], 0)?
        } else {
            g.clone()
        };
        let Some(r) = rows else {
            return reference::backward(cell, reverse, x, &g);
        };
        let mut xs = x.to_vec();
        xs[0] = x[0].index_select(0, r)?.reshape(&[d.t, d.n, d.gh()])?;
        let mut grads = reference::backward(cell, reverse, &xs, &g)?;
        grads[0] = grads[0].take().map(to_table).transpose()?;
        return Ok(grads);
    }
    let need: Vec<bool> = (0..5)
        .map(|i| x.get(i).is_some_and(|t| t.requires_grad()))
        .collect();
    let need = [need[0], need[1], need[2], need[3], need[4]];
    #[allow(clippy::too_many_arguments)]
    fn go<T: StorageElem + GateAct + 'static>(
        cell: Cell,
        reverse: bool,
        d: Dims,
        x: &[Tensor],
        out: &Tensor,
        saved: Option<&Tensor>,
        g: &Tensor,
        need: [bool; 5],
    ) -> Result<Vec<Option<Tensor>>> {
        let c0 = match x.get(4) {
            Some(c) => c.data::<T>()?,
            None => std::borrow::Cow::Borrowed(&[][..]),
        };
        let saved = match saved {
            Some(s) => s.data::<T>()?,
            None => std::borrow::Cow::Borrowed(&[][..]),
        };
        let r = recurrent::backward(
            cell,
            reverse,
            d,
            &x[1].data::<T>()?,
            &x[3].data::<T>()?,
            &c0,
            &out.data::<T>()?,
            &saved,
            &g.data::<T>()?,
            need,
        );
        let wrap = |v: Option<Vec<T>>, like: &Tensor| {
            v.map(|v| Tensor::from_storage(T::into_storage(v), like.shape()))
        };
        let gx_shape = [d.t, d.n, d.gh()];
        let mut grads = vec![
            r.gx.map(|v| Tensor::from_storage(T::into_storage(v), &gx_shape)),
            wrap(r.w, &x[1]),
            wrap(r.b, &x[2]),
            wrap(r.h0, &x[3]),
        ];
        if let Some(c) = x.get(4) {
            grads.push(wrap(r.c0, c));
        }
        Ok(grads)
    }
    let mut grads = match w.dtype() {
        DType::F32 => go::<f32>(cell, reverse, d, x, out, saved, g, need)?,
        _ => go::<f64>(cell, reverse, d, x, out, saved, g, need)?,
    };
    grads[0] = grads[0].take().map(to_table).transpose()?;
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backprop::no_grad;
    use crate::rng::Mt19937;
    use crate::var::Var;

    fn inputs(cell: Cell, t: usize, n: usize, h: usize, seed: u32) -> Vec<Tensor> {
        let r = &mut Mt19937::new(seed);
        let g = cell.gates();
        let mut v = vec![
            Tensor::randn(&[t, n, g * h], DType::F64, r).unwrap(),
            Tensor::randn(&[g * h, h], DType::F64, r)
                .unwrap()
                .mul_scalar(0.5)
                .unwrap(),
            Tensor::randn(&[g * h], DType::F64, r).unwrap(),
            Tensor::randn(&[n, h], DType::F64, r).unwrap(),
        ];
        if cell == Cell::Lstm {
            v.push(Tensor::randn(&[n, h], DType::F64, r).unwrap());
        }
        v
    }

    fn run(cell: Cell, reverse: bool, x: &[Tensor]) -> Result<Tensor> {
        match cell {
            Cell::Tanh | Cell::Relu => {
                let nl = if cell == Cell::Relu {
                    RnnNonlinearity::Relu
                } else {
                    RnnNonlinearity::Tanh
                };
                x[0].rnn_scan(&x[1], Some(&x[2]), &x[3], nl, reverse)
            }
            Cell::Lstm => x[0].lstm_scan(&x[1], Some(&x[2]), &x[3], &x[4], reverse),
            Cell::Gru => x[0].gru_scan(&x[1], Some(&x[2]), &x[3], reverse),
        }
    }

    /// Equal to 1e-12 of the larger of 1 and the tensor's largest magnitude: the relu RNN's
    /// states grow several-fold per step here, and a weight gradient sums their products in
    /// the products' own order (a few ulp of the largest terms, not of a small result).
    fn close(a: &Tensor, b: &Tensor, what: &str) {
        assert_eq!(a.shape(), b.shape(), "{what}");
        let want = b.to_vec_f64();
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.to_vec_f64().iter().zip(want) {
            assert!((x - y).abs() <= 1e-12 * scale, "{what}: {x} vs {y}");
        }
    }

    /// The fused scan's output and input gradients at `x` and the step-by-step reference's at
    /// `x_ref` (f64), both under `w · y` summed as the loss: `(y, grads, want_y, want)`.
    fn fast_and_reference(
        cell: Cell,
        reverse: bool,
        x: &[Tensor],
        x_ref: &[Tensor],
        w: &Tensor,
    ) -> (Tensor, Vec<Tensor>, Tensor, Vec<Tensor>) {
        let vars: Vec<Var> = x.iter().map(Var::new).collect();
        let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
        let y = run(cell, reverse, &xs).unwrap();
        let wy = w.to_dtype(y.dtype()).unwrap();
        let grads = y.mul(&wy).unwrap().sum().unwrap().backward().unwrap();
        let got = vars
            .iter()
            .map(|v| v.grad(&grads).unwrap().clone())
            .collect();
        let st = reference::forward(cell, reverse, x_ref).unwrap();
        let want_y = reference::output(cell, &st).unwrap();
        let want = {
            let _g = no_grad();
            reference::backward(cell, reverse, x_ref, w).unwrap()
        };
        assert_eq!(want.len(), x.len(), "a reference gradient for every input");
        let want = want.into_iter().map(|g| g.unwrap()).collect();
        (y, got, want_y, want)
    }

    /// The fused kernels (forward and backward, large enough to split across threads) agree
    /// with the step-by-step tensor-op reference.
    #[test]
    fn fused_kernels_match_the_reference() {
        for cell in [Cell::Tanh, Cell::Relu, Cell::Lstm, Cell::Gru] {
            for reverse in [false, true] {
                // large enough that the products and the gate passes split across threads
                let x = inputs(cell, 4, 33, 250, 3);
                let shape = run(cell, reverse, &x).unwrap().shape().to_vec();
                let w = Tensor::randn(&shape, DType::F64, &mut Mt19937::new(9)).unwrap();
                let (y, got, want_y, want) = fast_and_reference(cell, reverse, &x, &x, &w);
                close(&y, &want_y, "forward");
                for (i, (g, wg)) in got.iter().zip(&want).enumerate() {
                    close(g, wg, &format!("{cell:?} grad {i}"));
                }
            }
        }
    }

    /// The f32 kernels (on an AVX-512 CPU the packed per-step products of `packed_panel`)
    /// agree with the f64 reference to f32 precision, for ragged sizes: a batch of 33 rows
    /// (tiles of 12, 12 and 9) and 250 units (a last block of 58, so panels with 8 or 24
    /// columns).
    #[test]
    fn f32_kernels_match_the_f64_reference() {
        for cell in [Cell::Tanh, Cell::Lstm, Cell::Gru] {
            for reverse in [false, true] {
                let mut x = inputs(cell, 3, 33, 250, 4);
                // weights small enough that the gates do not saturate (where 1 - tanh² loses
                // every f32 digit whatever the kernel)
                x[1] = x[1].mul_scalar(0.1).unwrap();
                let x32: Vec<Tensor> = x.iter().map(|t| t.to_dtype(DType::F32).unwrap()).collect();
                let x64: Vec<Tensor> = x32
                    .iter()
                    .map(|t| t.to_dtype(DType::F64).unwrap())
                    .collect();
                let shape = run(cell, reverse, &x64).unwrap().shape().to_vec();
                let w = Tensor::randn(&shape, DType::F64, &mut Mt19937::new(2)).unwrap();
                let (y, got, want_y, want) = fast_and_reference(cell, reverse, &x32, &x64, &w);
                let near = |a: &Tensor, b: &Tensor, what: &str| {
                    assert_eq!(a.shape(), b.shape(), "{what}");
                    for (p, q) in a.to_vec_f64().iter().zip(b.to_vec_f64()) {
                        assert!(
                            (p - q).abs() <= 2e-4 * (1.0 + q.abs()),
                            "{what}: {p} vs {q}"
                        );
                    }
                };
                near(&y, &want_y, &format!("{cell:?} forward"));
                for (i, (g, wg)) in got.iter().zip(&want).enumerate() {
                    near(g, wg, &format!("{cell:?} grad {i}"));
                }
            }
        }
    }

    #[test]
    fn zero_steps_and_no_bias() {
        let x = inputs(Cell::Lstm, 0, 2, 3, 1);
        let y = x[0].lstm_scan(&x[1], None, &x[3], &x[4], false).unwrap();
        assert_eq!(y.shape(), &[2, 0, 2, 3]);
        let x = inputs(Cell::Gru, 2, 2, 3, 1);
        let with_zero = x[0]
            .gru_scan(&x[1], Some(&x[2].zeros_like()), &x[3], true)
            .unwrap();
        let none = x[0].gru_scan(&x[1], None, &x[3], true).unwrap();
        close(&none, &with_zero, "no bias");
    }
}
