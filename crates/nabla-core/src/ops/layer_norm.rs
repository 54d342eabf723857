//! Layer normalization as one primitive: per row of the trailing `normalized_shape` dims,
//! the mean and the biased variance (in f64), the normalization and the affine map in one
//! forward pass, and a backward rule of one pass per row (`dx`, with the row's share of the
//! weight's and the bias's sums). Composed of separate ops (mean, subtract, square, mean, add,
//! sqrt, divide, multiply, add, each with its own backward) a LayerNorm made about ten passes
//! and as many tensors each way. The passes are in [`crate::cpu::layer_norm`].

use super::Op;
use crate::backprop::is_grad_enabled;
use crate::cpu;
use crate::cpu::layer_norm::{Need, Rows};
use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Layer normalization, as `torch.nn.functional.layer_norm`: over the trailing dims
    /// `normalized_shape` of `self` (each group of those dims a "row"),
    /// `y = (x - mean) / sqrt(var + eps) * weight + bias` with the row's mean and biased
    /// variance. `weight` and `bias` have the shape `normalized_shape`; either may be `None`
    /// (1 and 0; a weight without a bias is PyTorch's `LayerNorm(bias=False)`).
    ///
    /// The statistics are taken in f64 for both float dtypes. Differentiable in `self`,
    /// `weight` and `bias`, also to second order. Fails when `normalized_shape` is empty or is
    /// not the trailing dims of `self`, when `weight` or `bias` does not have that shape, or
    /// when the dtypes differ or are not float.
    /// ```
    /// use nabla_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64, 3.0, 4.0, 0.0], &[2, 2]).unwrap();
    /// let y = x.layer_norm(&[2], None, None, 0.0).unwrap();
    /// assert_eq!(y.to_vec::<f64>().unwrap(), [-1.0, 1.0, 1.0, -1.0]);
    /// ```
    pub fn layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        const NAME: &str = "layer_norm";
        let k = normalized_shape.len();
        if k == 0 {
            return Err(Error::arg(
                NAME,
                "normalized_shape must name at least one trailing dim",
            ));
        }
        if self.rank() < k || self.shape()[self.rank() - k..] != *normalized_shape {
            return Err(Error::shape(
                NAME,
                format!(
                    "input {} does not end in normalized_shape {}",
                    fmt_shape(self.shape()),
                    fmt_shape(normalized_shape)
                ),
            ));
        }
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                if t.shape() != normalized_shape {
                    return Err(Error::shape(
                        NAME,
                        format!(
                            "{what} must have normalized_shape {}; got {}",
                            fmt_shape(normalized_shape),
                            fmt_shape(t.shape())
                        ),
                    ));
                }
                self.check_same_dtype(NAME, t)?;
            }
        }
        self.check_float(NAME)?;
        let n: usize = normalized_shape.iter().product();
        let d = Rows {
            rows: self.numel().checked_div(n).unwrap_or(0),
            n,
        };
        let (y, mean, rstd) = match self.dtype() {
            DType::F32 => cpu::layer_norm::forward::<f32>(self, weight, bias, eps, d)?,
            _ => cpu::layer_norm::forward::<f64>(self, weight, bias, eps, d)?,
        };
        let op = Op::LayerNorm {
            eps,
            k,
            mean: Tensor::from_storage(mean, &[d.rows]),
            rstd: Tensor::from_storage(rstd, &[d.rows]),
            affine: (weight.is_some(), bias.is_some()),
        };
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        Ok(Tensor::from_op(y, self.shape(), op, &inputs))
    }
}

/// The backward rule of [`Tensor::layer_norm`]: `x` is `[input, weight?, bias?]`.
pub(crate) fn backward(op: &Op, x: &[Tensor], g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let Op::LayerNorm {
        eps,
        k,
        mean,
        rstd,
        affine: (has_w, has_b),
    } = op
    else {
        return Err(Error::arg("layer_norm", "not a layer_norm op"));
    };
    let w = has_w.then(|| &x[1]);
    if is_grad_enabled() {
        // gradients of gradients: the rule in differentiable ops of the input
        return reference_backward(&x[0], w, *has_b, *k, *eps, g);
    }
    let need = Need {
        x: x[0].requires_grad(),
        w: w.is_some_and(|w| w.requires_grad()),
        b: *has_b && x[1 + *has_w as usize].requires_grad(),
    };
    let nshape = &x[0].shape()[x[0].rank() - k..];
    let n: usize = nshape.iter().product();
    let d = Rows {
        rows: mean.numel(),
        n,
    };
    let (mu, rs) = (mean.data::<f64>()?, rstd.data::<f64>()?);
    let (dx, dw, db) = match x[0].dtype() {
        DType::F32 => cpu::layer_norm::backward::<f32>(&x[0], w, &mu, &rs, g, need, d)?,
        _ => cpu::layer_norm::backward::<f64>(&x[0], w, &mu, &rs, g, need, d)?,
    };
    let mut out = vec![dx.map(|s| Tensor::from_storage(s, x[0].shape()))];
    if *has_w {
        out.push(dw.map(|s| Tensor::from_storage(s, nshape)));
    }
    if *has_b {
        out.push(db.map(|s| Tensor::from_storage(s, nshape)));
    }
    Ok(out)
}

/// The same rule in differentiable tensor ops, the statistics recomputed from `x` (so the
/// second derivative includes their dependence on `x`).
fn reference_backward(
    x: &Tensor,
    w: Option<&Tensor>,
    has_b: bool,
    k: usize,
    eps: f64,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let r = x.rank();
    let norm: Vec<isize> = (r - k..r).map(|d| d as isize).collect();
    let lead: Vec<isize> = (0..r - k).map(|d| d as isize).collect();
    // the sum over the leading dims (none when the input is one row)
    let sum_lead = |t: Tensor| {
        if lead.is_empty() {
            Ok(t)
        } else {
            t.sum_dims(&lead, false)
        }
    };
    let mean = x.mean_dims(&norm, true)?;
    let xc = x.sub(&mean)?;
    let var = xc.sqr()?.mean_dims(&norm, true)?;
    let rstd = var.add_scalar(eps)?.sqrt()?.recip()?;
    let xhat = xc.mul(&rstd)?;
    let gw = match w {
        Some(w) => g.mul(w)?,
        None => g.clone(),
    };
    let a = gw.mean_dims(&norm, true)?;
    let c = gw.mul(&xhat)?.mean_dims(&norm, true)?;
    let dx = gw.sub(&a)?.sub(&xhat.mul(&c)?)?.mul(&rstd)?;
    let mut out = vec![Some(dx)];
    if w.is_some() {
        out.push(Some(sum_lead(g.mul(&xhat)?)?));
    }
    if has_b {
        out.push(Some(sum_lead(g.clone())?));
    }
    Ok(out)
}
