//! The recurrent scans written step by step in ordinary differentiable tensor ops: the
//! backward rule used when gradients of gradients are being recorded (`create_graph`), and
//! the reference the fused kernels are tested against.

use crate::cpu::recurrent::Cell;
use crate::tensor::Tensor;
use crate::Result;

/// The states of a scan, by time index.
pub(crate) struct States {
    /// `h_t`, each `[n, h]`.
    pub(crate) h: Vec<Tensor>,
    /// `c_t` (LSTM only).
    pub(crate) c: Vec<Tensor>,
    /// The state before step `t` (`h0` for the first step processed).
    pub(crate) hprev: Vec<Tensor>,
    /// The cell state before step `t` (LSTM only).
    pub(crate) cprev: Vec<Tensor>,
    /// Per step: LSTM `[i, f, g, o, tanh c]`, GRU `[r, z, n, W_hn h + b_hn]`.
    pub(crate) aux: Vec<Vec<Tensor>>,
}

/// The forward scan in tensor ops; `x` is `[gx, w_hh, b_hh, h0]` (and `c0` for LSTM).
pub(crate) fn forward(cell: Cell, reverse: bool, x: &[Tensor]) -> Result<States> {
    let (gx, w, b, h0) = (&x[0], &x[1], &x[2], &x[3]);
    let (t, n, gw) = (gx.shape()[0], gx.shape()[1], gx.shape()[2]);
    let h = w.shape()[1];
    let wt = w.t()?;
    let mut hp = h0.clone();
    let mut cp = x.get(4).cloned();
    let mut st = States {
        h: vec![h0.clone(); t],
        c: vec![h0.clone(); if cp.is_some() { t } else { 0 }],
        hprev: vec![h0.clone(); t],
        cprev: vec![h0.clone(); if cp.is_some() { t } else { 0 }],
        aux: vec![Vec::new(); t],
    };
    for s in 0..t {
        let ti = if reverse { t - 1 - s } else { s };
        let gxt = gx.narrow(0, ti, 1)?.reshape(&[n, gw])?;
        let ght = hp.matmul(&wt)?.add(b)?;
        let part = |a: &Tensor, k: usize| a.narrow(1, k * h, h);
        let (hn, aux) = match cell {
            Cell::Tanh => (gxt.add(&ght)?.tanh()?, vec![]),
            Cell::Relu => (gxt.add(&ght)?.relu()?, vec![]),
            Cell::Lstm => {
                let a = gxt.add(&ght)?;
                let i = part(&a, 0)?.sigmoid()?;
                let f = part(&a, 1)?.sigmoid()?;
                let g = part(&a, 2)?.tanh()?;
                let o = part(&a, 3)?.sigmoid()?;
                let c_prev = cp.clone().unwrap_or_else(|| h0.zeros_like());
                let c = f.mul(&c_prev)?.add(&i.mul(&g)?)?;
                let tc = c.tanh()?;
                let hn = o.mul(&tc)?;
                st.cprev[ti] = c_prev;
                st.c[ti] = c.clone();
                cp = Some(c);
                (hn, vec![i, f, g, o, tc])
            }
            Cell::Gru => {
                let r = part(&gxt, 0)?.add(&part(&ght, 0)?)?.sigmoid()?;
                let z = part(&gxt, 1)?.add(&part(&ght, 1)?)?.sigmoid()?;
                let hn_ = part(&ght, 2)?;
                let nn = part(&gxt, 2)?.add(&r.mul(&hn_)?)?.tanh()?;
                let hn = nn.add(&z.mul(&hp.sub(&nn)?)?)?;
                (hn, vec![r, z, nn, hn_])
            }
        };
        st.hprev[ti] = hp;
        st.h[ti] = hn.clone();
        st.aux[ti] = aux;
        hp = hn;
    }
    Ok(st)
}

/// The output tensor of a scan from its states: `[t, n, h]`, for LSTM `[2, t, n, h]`.
#[cfg(test)]
pub(crate) fn output(cell: Cell, st: &States) -> Result<Tensor> {
    let refs: Vec<&Tensor> = st.h.iter().collect();
    let hs = Tensor::stack(&refs, 0)?;
    if cell != Cell::Lstm {
        return Ok(hs);
    }
    let refs: Vec<&Tensor> = st.c.iter().collect();
    Tensor::stack(&[&hs, &Tensor::stack(&refs, 0)?], 0)
}

/// The backward rule in differentiable tensor ops: gradients for `[gx, w_hh, b_hh, h0, c0]`
/// given the output's gradient `g`.
pub(crate) fn backward(
    cell: Cell,
    reverse: bool,
    x: &[Tensor],
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let (gx, w) = (&x[0], &x[1]);
    let (t, n) = (gx.shape()[0], gx.shape()[1]);
    let h = w.shape()[1];
    let lstm = cell == Cell::Lstm;
    if t == 0 {
        return Ok(x.iter().map(|xi| Some(xi.zeros_like())).collect());
    }
    let st = forward(cell, reverse, x)?;
    let (g_h, g_c) = if lstm {
        (
            g.narrow(0, 0, 1)?.reshape(&[t, n, h])?,
            Some(g.narrow(0, 1, 1)?.reshape(&[t, n, h])?),
        )
    } else {
        (g.clone(), None)
    };
    let at = |a: &Tensor, ti: usize| a.narrow(0, ti, 1)?.reshape(&[n, h]);
    let one_minus = |a: &Tensor| a.affine(-1.0, 1.0);
    let mut dh = x[3].zeros_like();
    let mut dc = x[3].zeros_like();
    let mut dgx: Vec<Option<Tensor>> = vec![None; t];
    let mut dgh: Vec<Option<Tensor>> = vec![None; t];
    for s in (0..t).rev() {
        let ti = if reverse { t - 1 - s } else { s };
        dh = dh.add(&at(&g_h, ti)?)?;
        let (gxt, ght, direct) = match cell {
            Cell::Tanh => {
                let hv = &st.h[ti];
                let d = dh.mul(&one_minus(&hv.sqr()?)?)?;
                (d.clone(), d, None)
            }
            Cell::Relu => {
                // 1 where relu(a) != 0, as the relu rule
                let d = dh.mul(&st.h[ti].ne_scalar(0.0)?)?;
                (d.clone(), d, None)
            }
            Cell::Lstm => {
                let a = &st.aux[ti];
                let (i, f, gg, o, tc) = (&a[0], &a[1], &a[2], &a[3], &a[4]);
                if let Some(gc) = &g_c {
                    dc = dc.add(&at(gc, ti)?)?;
                }
                let dc2 = dc.add(&dh.mul(o)?.mul(&one_minus(&tc.sqr()?)?)?)?;
                let di = dc2.mul(gg)?.mul(&i.mul(&one_minus(i)?)?)?;
                let df = dc2.mul(&st.cprev[ti])?.mul(&f.mul(&one_minus(f)?)?)?;
                let dg = dc2.mul(i)?.mul(&one_minus(&gg.sqr()?)?)?;
                let dout = dh.mul(tc)?.mul(&o.mul(&one_minus(o)?)?)?;
                dc = dc2.mul(f)?;
                let d = Tensor::cat(&[&di, &df, &dg, &dout], 1)?;
                (d.clone(), d, None)
            }
            Cell::Gru => {
                let a = &st.aux[ti];
                let (r, z, nn, hn_) = (&a[0], &a[1], &a[2], &a[3]);
                let dn = dh.mul(&one_minus(z)?)?.mul(&one_minus(&nn.sqr()?)?)?;
                let dz = dh
                    .mul(&st.hprev[ti].sub(nn)?)?
                    .mul(&z.mul(&one_minus(z)?)?)?;
                let dr = dn.mul(hn_)?.mul(&r.mul(&one_minus(r)?)?)?;
                let gxt = Tensor::cat(&[&dr, &dz, &dn], 1)?;
                let ght = Tensor::cat(&[&dr, &dz, &dn.mul(r)?], 1)?;
                (gxt, ght, Some(dh.mul(z)?))
            }
        };
        let rec = ght.matmul(w)?;
        dh = match direct {
            Some(d) => d.add(&rec)?,
            None => rec,
        };
        dgx[ti] = Some(gxt);
        dgh[ti] = Some(ght);
    }
    let dgx: Vec<Tensor> = dgx.into_iter().flatten().collect();
    let dgh: Vec<Tensor> = dgh.into_iter().flatten().collect();
    let gw = dgh[0].shape()[1];
    let dgx_all = Tensor::stack(&dgx.iter().collect::<Vec<_>>(), 0)?;
    let dgh_flat = Tensor::cat(&dgh.iter().collect::<Vec<_>>(), 0)?;
    let hprev = Tensor::cat(&st.hprev.iter().collect::<Vec<_>>(), 0)?;
    debug_assert_eq!(dgh_flat.shape(), &[t * n, gw]);
    let dw = dgh_flat.t()?.matmul(&hprev)?;
    let db = dgh_flat.sum_dims(&[0], false)?;
    let mut v = vec![Some(dgx_all), Some(dw), Some(db), Some(dh)];
    if lstm {
        v.push(Some(dc));
    }
    Ok(v)
}
