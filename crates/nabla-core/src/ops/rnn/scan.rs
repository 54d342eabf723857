//! The scans' forward: the operands checked, the fused kernel of [`crate::cpu::recurrent`] run,
//! and the op recorded with what its rule needs.

use crate::cpu::recurrent::{self, Cell, Dims, GateAct};
use crate::dtype::DType;
use crate::layout::{fmt_shape, Layout};
use crate::ops::Op;
use crate::storage::{Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};
use std::sync::Arc;

impl Cell {
    fn op_name(self) -> &'static str {
        match self {
            Cell::Tanh | Cell::Relu => "rnn_scan",
            Cell::Lstm => "lstm_scan",
            Cell::Gru => "gru_scan",
        }
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
pub(super) enum Out<'a> {
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
pub(super) fn scan(
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
            let ix = crate::ops::index::indices(name, &flat, gx.shape()[0])?;
            let shape = [idx.shape()[0], idx.shape()[1], gx.shape()[1]];
            let d = check(cell, gx, &shape, w, b, h0, c0)?;
            let offsets: Vec<usize> = ix.iter().map(|i| i * d.gh()).collect();
            (d, Some(offsets), Some(flat))
        }
    };
    let b = b
        .cloned()
        .unwrap_or_else(|| Tensor::zeros(&[d.gh()], gx.dtype()));
    fn scan_typed<T: StorageElem + GateAct + 'static>(
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
        DType::F32 => scan_typed::<f32>(cell, reverse, d, ts, c0, offsets.as_deref())?,
        _ => scan_typed::<f64>(cell, reverse, d, ts, c0, offsets.as_deref())?,
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
