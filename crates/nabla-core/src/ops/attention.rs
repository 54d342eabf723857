//! Scaled dot-product attention as one primitive. Composed from matmul, mask, softmax and
//! matmul, it would hold the whole `[..., L, S]` score matrix (and its softmax, saved for the
//! backward) per batch item and head; the fused kernel of [`crate::cpu::attention`] keeps
//! only the output and one log-sum-exp per query row, and the backward recomputes the
//! scores block by block. The composed form is the rule for gradients of gradients.

use super::Op;
use crate::backprop::is_grad_enabled;
use crate::cpu;
use crate::cpu::attention::{Mask, Mat, Need, Problem};
use crate::dtype::{DType, Float};
use crate::layout::{broadcast_shapes, fmt_shape};
use crate::storage::StorageElem;
use crate::tensor::Tensor;
use crate::{Error, Result};

const NAME: &str = "scaled_dot_product_attention";

impl Tensor {
    /// Scaled dot-product attention, PyTorch's `F.scaled_dot_product_attention` without
    /// dropout: for `self` = q `[..., L, E]`, k `[..., S, E]`, v `[..., S, Ev]`, the output
    /// `[..., L, Ev]` is `softmax(q kᵀ · scale + mask) v`.
    ///
    /// - The leading (batch) dims of q, k and v broadcast against each other as in
    ///   `torch.matmul` (e.g. k and v `[N, 1, S, E]` shared by the heads of q `[N, H, L, E]`);
    ///   the output has the broadcast batch dims.
    /// - `scale` defaults to `1 / sqrt(E)`.
    /// - `attn_mask` broadcasts to `[..., L, S]` (it may not add batch dims of its own): of
    ///   q's float dtype, it is added to the scores (`-inf` blocks a key); of dtype i64, it is
    ///   a keep-mask standing for PyTorch's bool mask (nonzero attends, as `True`; 0 blocks).
    /// - `is_causal`: query `i` attends keys `j <= i` (top-left aligned, PyTorch's
    ///   `torch.ones(L, S).tril()`, also when L != S).
    /// - A query row whose keys are all blocked gives zeros (and zero gradients), as PyTorch
    ///   2.15 does.
    ///
    /// Differentiable in q, k, v (and a float mask that tracks gradients). It is computed as
    /// PyTorch's CPU flash kernel: blocks of queries against blocks of keys with an online
    /// softmax, keeping only the output and the log-sum-exp of each query row, so memory
    /// grows with L and S, not with L × S; the backward recomputes the scores block by block
    /// and skips the blocks above a causal diagonal. (A mask that tracks gradients, and
    /// gradients of gradients, take the composed path: matmul, softmax, matmul.)
    ///
    /// Fails when a tensor has fewer than 2 dims, q is not float, k or v has another dtype,
    /// k's last dim is not E, v's second-to-last is not S, the batch dims do not broadcast,
    /// the mask is neither q's dtype nor i64 or does not broadcast to `[..., L, S]`, or a mask
    /// is given with `is_causal` (as in PyTorch).
    /// ```
    /// use nabla_core::Tensor;
    /// // one query, two keys: the query matches the first key far better
    /// let q = Tensor::from_vec(vec![10.0f64, 0.0], &[1, 1, 2]).unwrap();
    /// let k = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0], &[1, 2, 2]).unwrap();
    /// let v = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2, 1]).unwrap();
    /// let y = q.scaled_dot_product_attention(&k, &v, None, false, None).unwrap();
    /// assert!((y.to_vec::<f64>().unwrap()[0] - 1.0).abs() < 1e-3);
    /// // a keep-mask that blocks the first key
    /// let keep = Tensor::from_vec(vec![0i64, 1], &[1, 2]).unwrap();
    /// let y = q.scaled_dot_product_attention(&k, &v, Some(&keep), false, None).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), [2.0]);
    /// ```
    pub fn scaled_dot_product_attention(
        &self,
        k: &Tensor,
        v: &Tensor,
        attn_mask: Option<&Tensor>,
        is_causal: bool,
        scale: Option<f64>,
    ) -> Result<Tensor> {
        let q = self;
        for (what, t) in [("q (self)", q), ("k", k), ("v", v)] {
            if t.rank() < 2 {
                return Err(Error::shape(
                    NAME,
                    format!("{what} needs at least 2 dims, got {}", fmt_shape(t.shape())),
                ));
            }
        }
        q.check_float(NAME)?;
        for (what, t) in [("k", k), ("v", v)] {
            if t.dtype() != q.dtype() {
                return Err(Error::dtype(
                    NAME,
                    format!("{what} is {}, q is {}", t.dtype(), q.dtype()),
                ));
            }
        }
        let (rq, rk, rv) = (q.rank(), k.rank(), v.rank());
        let (l, e) = (q.shape()[rq - 2], q.shape()[rq - 1]);
        let (s, ev) = (k.shape()[rk - 2], v.shape()[rv - 1]);
        if k.shape()[rk - 1] != e {
            return Err(Error::shape(
                NAME,
                format!(
                    "k {} must end in E = {e}, the last dim of q {}",
                    fmt_shape(k.shape()),
                    fmt_shape(q.shape())
                ),
            ));
        }
        if v.shape()[rv - 2] != s {
            return Err(Error::shape(
                NAME,
                format!(
                    "v {} must have S = {s} rows, as k {}",
                    fmt_shape(v.shape()),
                    fmt_shape(k.shape())
                ),
            ));
        }
        let batch = broadcast_shapes(NAME, &q.shape()[..rq - 2], &k.shape()[..rk - 2])
            .and_then(|b| broadcast_shapes(NAME, &b, &v.shape()[..rv - 2]))
            .map_err(|_| {
                Error::shape(
                    NAME,
                    format!(
                        "the batch dims of q {}, k {} and v {} do not broadcast",
                        fmt_shape(q.shape()),
                        fmt_shape(k.shape()),
                        fmt_shape(v.shape())
                    ),
                )
            })?;
        let with = |a: usize, b: usize| {
            let mut sh = batch.clone();
            sh.extend([a, b]);
            sh
        };
        let mask = match attn_mask {
            None => None,
            Some(_) if is_causal => {
                return Err(Error::arg(
                    NAME,
                    "attn_mask and is_causal cannot both be set (as in PyTorch)",
                ))
            }
            Some(m) => {
                if m.dtype() != q.dtype() && m.dtype() != DType::I64 {
                    return Err(Error::dtype(
                        NAME,
                        format!(
                            "attn_mask must be q's dtype {} (additive) or i64 (keep-mask), got {}",
                            q.dtype(),
                            m.dtype()
                        ),
                    ));
                }
                let target = with(l, s);
                let fits = m.rank() <= target.len()
                    && broadcast_shapes(NAME, m.shape(), &target).is_ok_and(|b| b == target);
                if !fits {
                    return Err(Error::shape(
                        NAME,
                        format!(
                            "attn_mask {} does not broadcast to [..., L, S] = {}",
                            fmt_shape(m.shape()),
                            fmt_shape(&target)
                        ),
                    ));
                }
                Some(m.broadcast_to(&target)?)
            }
        };
        let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
        let (qb, kb, vb) = (
            q.broadcast_to(&with(l, e))?,
            k.broadcast_to(&with(s, e))?,
            v.broadcast_to(&with(s, ev))?,
        );
        let (out, lse) = match q.dtype() {
            DType::F32 => forward::<f32>(&qb, &kb, &vb, mask.as_ref(), is_causal, scale, &batch)?,
            _ => forward::<f64>(&qb, &kb, &vb, mask.as_ref(), is_causal, scale, &batch)?,
        };
        let mut lse_shape = batch.clone();
        lse_shape.push(l);
        let op = Op::ScaledDotProductAttention {
            scale,
            causal: is_causal,
            // (not through `from_storage`: -inf, a fully masked row, is no anomaly here)
            lse: Tensor::view_of(
                std::sync::Arc::new(lse),
                crate::layout::Layout::contiguous(&lse_shape),
            ),
        };
        let mut inputs = vec![&qb, &kb, &vb];
        inputs.extend(mask.as_ref());
        Ok(Tensor::from_op(out, &with(l, ev), op, &inputs))
    }
}

/// The kernel's problem for the broadcast operands (shapes `batch ++ [.., ..]`).
fn problem<'a, T: Float + StorageElem>(
    q: &'a Tensor,
    k: &'a Tensor,
    v: &'a Tensor,
    mask: Option<&'a Tensor>,
    causal: bool,
    scale: f64,
    batch: &[usize],
) -> Result<Problem<'a, T>> {
    let (r, rv) = (q.rank(), v.rank());
    Ok(Problem {
        q: Mat::of(q, batch)?,
        k: Mat::of(k, batch)?,
        v: Mat::of(v, batch)?,
        mask: match mask {
            None => Mask::None,
            Some(m) if m.dtype() == DType::I64 => Mask::Keep(Mat::of(m, batch)?),
            Some(m) => Mask::Add(Mat::of(m, batch)?),
        },
        nb: batch.iter().product(),
        l: q.shape()[r - 2],
        s: k.shape()[r - 2],
        e: q.shape()[r - 1],
        ev: v.shape()[rv - 1],
        scale: T::from_f64(scale),
        causal,
    })
}

fn forward<T: Float + StorageElem>(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
    batch: &[usize],
) -> Result<(crate::storage::Storage, crate::storage::Storage)> {
    let p = problem::<T>(q, k, v, mask, causal, scale, batch)?;
    let (out, lse) = cpu::attention::forward(&p);
    Ok((T::into_storage(out), T::into_storage(lse)))
}

/// The backward rule of [`Tensor::scaled_dot_product_attention`]: `x` is `[q, k, v, mask?]`
/// (broadcast to the output's batch dims), `out` the output.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    out: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let Op::ScaledDotProductAttention { scale, causal, lse } = op else {
        return Err(Error::arg(NAME, "not a scaled_dot_product_attention op"));
    };
    let mask = x.get(3);
    if is_grad_enabled() || mask.is_some_and(|m| m.requires_grad()) {
        // gradients of gradients (or of the mask): the rule in differentiable ops
        return reference_backward(&x[0], &x[1], &x[2], mask, *causal, *scale, g);
    }
    let need = Need {
        q: x[0].requires_grad(),
        k: x[1].requires_grad(),
        v: x[2].requires_grad(),
    };
    let batch = &out.shape()[..out.rank() - 2];
    let [dq, dk, dv] = match x[0].dtype() {
        DType::F32 => kernel_backward::<f32>(x, out, lse, g, *causal, *scale, batch, need)?,
        _ => kernel_backward::<f64>(x, out, lse, g, *causal, *scale, batch, need)?,
    };
    let mut grads = vec![
        need.q.then(|| Tensor::from_storage(dq, x[0].shape())),
        need.k.then(|| Tensor::from_storage(dk, x[1].shape())),
        need.v.then(|| Tensor::from_storage(dv, x[2].shape())),
    ];
    if mask.is_some() {
        grads.push(None);
    }
    Ok(grads)
}

#[allow(clippy::too_many_arguments)]
fn kernel_backward<T: Float + StorageElem>(
    x: &[Tensor],
    out: &Tensor,
    lse: &Tensor,
    g: &Tensor,
    causal: bool,
    scale: f64,
    batch: &[usize],
    need: Need,
) -> Result<[crate::storage::Storage; 3]> {
    let p = problem::<T>(&x[0], &x[1], &x[2], x.get(3), causal, scale, batch)?;
    let (o, l, gd) = (out.data::<T>()?, lse.data::<T>()?, g.data::<T>()?);
    let grads = cpu::attention::backward(&p, &o, &l, &gd, need);
    Ok(grads.map(T::into_storage))
}

/// The attention probabilities in differentiable ops: `softmax(q kᵀ · scale + mask)` with
/// rows whose keys are all blocked giving zeros (not NaN).
fn reference_probs(
    q: &Tensor,
    k: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
) -> Result<Tensor> {
    let mut sc = q.matmul(&k.transpose(-1, -2)?)?.mul_scalar(scale)?;
    let ninf = Tensor::full(f64::NEG_INFINITY, &[], q.dtype());
    if let Some(m) = mask {
        sc = if m.dtype() == DType::I64 {
            Tensor::where_cond(m, &sc, &ninf)?
        } else {
            sc.add(m)?
        };
    }
    if causal {
        let (l, s) = (q.shape()[q.rank() - 2], k.shape()[k.rank() - 2]);
        let keep: Vec<i64> = (0..l * s).map(|x| (x % s <= x / s) as i64).collect();
        sc = Tensor::where_cond(&Tensor::from_vec(keep, &[l, s])?, &sc, &ninf)?;
    }
    let m = sc.max_dims(&[-1], true)?.detach();
    let zero = Tensor::zeros(&[], q.dtype());
    let m = Tensor::where_cond(&m.isfinite()?, &m, &zero)?;
    let ex = sc.sub(&m)?.exp()?;
    let sum = ex.sum_dims(&[-1], true)?;
    let denom = Tensor::where_cond(&sum.eq_scalar(0.0)?, &Tensor::ones(&[], q.dtype()), &sum)?;
    ex.div(&denom)
}

/// The rule in differentiable tensor ops (the scores materialized): with `P` the
/// probabilities, `dV = Pᵀ g`, `dS = P ∘ (g vᵀ − rowsum(P ∘ g vᵀ))`, `dQ = dS k · scale`,
/// `dK = dSᵀ q · scale`, and the mask's gradient `dS`.
fn reference_backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    scale: f64,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let p = reference_probs(q, k, mask, causal, scale)?;
    let dv = p.transpose(-1, -2)?.matmul(g)?;
    let dp = g.matmul(&v.transpose(-1, -2)?)?;
    let d = dp.mul(&p)?.sum_dims(&[-1], true)?;
    let ds = p.mul(&dp.sub(&d)?)?;
    let dq = ds.matmul(k)?.mul_scalar(scale)?;
    let dk = ds.transpose(-1, -2)?.matmul(q)?.mul_scalar(scale)?;
    let mut grads = vec![Some(dq), Some(dk), Some(dv)];
    if let Some(m) = mask {
        grads.push((m.dtype() != DType::I64).then_some(ds));
    }
    Ok(grads)
}
