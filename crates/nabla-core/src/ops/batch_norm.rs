//! Batch normalization in training mode as one primitive: the statistics per channel, the
//! normalization and the affine map in two passes over the input, and a backward rule of two
//! passes (the sums `Σ dy`, `Σ dy x̂` per channel, then `dx`). As separate ops (mean over
//! three dims, subtract, square, mean, divide, multiply, add, each with its own backward) a
//! BatchNorm2d layer cost several times its convolution. The passes are in
//! [`crate::cpu::batch_norm`].

use super::Op;
use crate::backprop::is_grad_enabled;
use crate::cpu;
use crate::cpu::batch_norm::dims_of;
use crate::dtype::DType;
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// Batch normalization with the batch's statistics, as `torch.nn.functional.batch_norm`
    /// with `training=True`: for `self` `[N, C, ...]` (rank at least 2), per channel `c`
    /// over every other dim, `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c`
    /// with the biased variance. `weight` and `bias` are `[C]` (`None`: 1 and 0).
    ///
    /// Returns `(y, mean, var)`: `mean` and `var` (biased) are `[C]` and not part of the
    /// graph (they are what running statistics are updated from); `y` is differentiable in
    /// `self`, `weight` and `bias`. Fails when the rank is below 2, N times the trailing
    /// dims is 0, `weight` or `bias` is not `[C]`, or the dtypes differ or are not float.
    /// ```
    /// use nabla_core::{DType, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 3.0, 5.0, 7.0], &[2, 2]).unwrap();
    /// let (y, mean, var) = x.batch_norm_train(None, None, 0.0).unwrap();
    /// assert_eq!(mean.to_vec::<f32>().unwrap(), [3.0, 5.0]);
    /// assert_eq!(var.to_vec::<f32>().unwrap(), [4.0, 4.0]);
    /// assert_eq!(y.to_vec::<f32>().unwrap(), [-1.0, -1.0, 1.0, 1.0]);
    /// ```
    pub fn batch_norm_train(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const NAME: &str = "batch_norm";
        if self.rank() < 2 {
            return Err(Error::shape(
                NAME,
                format!("the input must be [N, C, ...]; got {:?}", self.shape()),
            ));
        }
        let d = dims_of(self);
        if d.m() == 0 && d.c > 0 {
            return Err(Error::shape(
                NAME,
                format!(
                    "no values per channel to take statistics of in {:?}",
                    self.shape()
                ),
            ));
        }
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t {
                if t.shape() != [d.c] {
                    return Err(Error::shape(
                        NAME,
                        format!(
                            "{what} must be [{}] for input {:?}; got {:?}",
                            d.c,
                            self.shape(),
                            t.shape()
                        ),
                    ));
                }
                self.check_same_dtype(NAME, t)?;
            }
        }
        self.check_float(NAME)?;
        let [y, mean, var, invstd] = match self.dtype() {
            DType::F32 => cpu::batch_norm::forward::<f32>(self, weight, bias, eps, d)?,
            _ => cpu::batch_norm::forward::<f64>(self, weight, bias, eps, d)?,
        };
        let (mean, var) = (
            Tensor::from_storage(mean, &[d.c]),
            Tensor::from_storage(var, &[d.c]),
        );
        let op = Op::BatchNorm {
            eps,
            mean: mean.clone(),
            invstd: Tensor::from_storage(invstd, &[d.c]),
            affine: (weight.is_some(), bias.is_some()),
        };
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let y = Tensor::from_op(y, self.shape(), op, &inputs);
        Ok((y, mean, var))
    }
}

/// The backward rule of [`Tensor::batch_norm_train`]: `x` is `[input, weight?, bias?]`.
pub(crate) fn backward(op: &Op, x: &[Tensor], g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let Op::BatchNorm {
        eps,
        mean,
        invstd,
        affine: (has_w, has_b),
    } = op
    else {
        return Err(Error::arg("batch_norm", "not a batch_norm op"));
    };
    let w = has_w.then(|| &x[1]);
    if is_grad_enabled() {
        // gradients of gradients: the rule in differentiable ops of the input
        return reference_backward(&x[0], w, *has_b, *eps, g);
    }
    let need_x = x[0].requires_grad();
    let need_w = w.is_some_and(|w| w.requires_grad());
    let need_b = *has_b && x[1 + *has_w as usize].requires_grad();
    let d = dims_of(&x[0]);
    let (dx, dw, db) = match x[0].dtype() {
        DType::F32 => cpu::batch_norm::backward::<f32>(&x[0], w, mean, invstd, g, need_x, d)?,
        _ => cpu::batch_norm::backward::<f64>(&x[0], w, mean, invstd, g, need_x, d)?,
    };
    let mut out = vec![dx.map(|s| Tensor::from_storage(s, x[0].shape()))];
    if *has_w {
        out.push(need_w.then(|| Tensor::from_storage(dw, &[d.c])));
    }
    if *has_b {
        out.push(need_b.then(|| Tensor::from_storage(db, &[d.c])));
    }
    Ok(out)
}

/// The same rule in differentiable tensor ops, the statistics recomputed from `x` (so the
/// second derivative includes their dependence on `x`).
fn reference_backward(
    x: &Tensor,
    w: Option<&Tensor>,
    has_b: bool,
    eps: f64,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let dims: Vec<isize> = (0..x.rank() as isize).filter(|&d| d != 1).collect();
    let mut bshape = vec![1; x.rank()];
    bshape[1] = x.shape()[1];
    let m = (x.numel() / x.shape()[1].max(1)) as f64;
    let mean = x.mean_dims(&dims, true)?;
    let xc = x.sub(&mean)?;
    let var = xc.sqr()?.mean_dims(&dims, true)?;
    let invstd = var.add_scalar(eps)?.sqrt()?.recip()?;
    let xhat = xc.mul(&invstd)?;
    let sg = g.sum_dims(&dims, true)?;
    let sgx = g.mul(&xhat)?.sum_dims(&dims, true)?;
    let k = match w {
        Some(w) => invstd.mul(&w.reshape(&bshape)?)?,
        None => invstd,
    };
    let inner = g
        .sub(&sg.mul_scalar(1.0 / m)?)?
        .sub(&xhat.mul(&sgx)?.mul_scalar(1.0 / m)?)?;
    let mut out = vec![Some(inner.mul(&k)?)];
    if w.is_some() {
        out.push(Some(sgx.reshape(&[x.shape()[1]])?));
    }
    if has_b {
        out.push(Some(sg.reshape(&[x.shape()[1]])?));
    }
    Ok(out)
}
