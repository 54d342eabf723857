//! The backward rule of the scan ops: the fused backward kernel of [`crate::cpu::recurrent`]
//! for a first-order gradient, the step-by-step rule of [`super::reference`] when gradients of
//! gradients are being recorded.

use super::reference;
use crate::backprop::is_grad_enabled;
use crate::cpu::recurrent::{self, Cell, Dims, GateAct};
use crate::dtype::DType;
use crate::ops::Op;
use crate::storage::StorageElem;
use crate::tensor::Tensor;
use crate::{Error, Result};

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
    fn backward_typed<T: StorageElem + GateAct + 'static>(
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
        DType::F32 => backward_typed::<f32>(cell, reverse, d, x, out, saved, g, need)?,
        _ => backward_typed::<f64>(cell, reverse, d, x, out, saved, g, need)?,
    };
    grads[0] = grads[0].take().map(to_table).transpose()?;
    Ok(grads)
}
