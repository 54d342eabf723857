//! Batch normalization over channels: `BatchNorm1d`, `BatchNorm2d`.

use crate::module::{misfit, ForwardCtx, Module};
use crate::norm::affine_params;
use nabla_core::{no_grad, DType, Result, Tensor, Var};

/// [`BatchNorm`] over `[N, C]` or `[N, C, L]`, as `nn.BatchNorm1d`.
pub type BatchNorm1d = BatchNorm<1>;
/// [`BatchNorm`] over `[N, C, H, W]`, as `nn.BatchNorm2d`.
pub type BatchNorm2d = BatchNorm<2>;

/// Batch normalization per channel C (dim 1): [`BatchNorm1d`] over `[N, C]` or `[N, C, L]`
/// inputs, [`BatchNorm2d`] over `[N, C, H, W]`. Training uses the batch's statistics (over
/// every dim but C) and updates the running ones (`momentum` 0.1, unbiased running
/// variance); evaluation uses the running statistics. Buffers as PyTorch names them:
/// `running_mean`, `running_var`, `num_batches_tracked` (not trainable).
pub struct BatchNorm<const SPATIAL: usize> {
    /// γ `[C]`
    pub weight: Option<Var>,
    /// β `[C]`
    pub bias: Option<Var>,
    /// Running mean `[C]`
    pub running_mean: Var,
    /// Running variance `[C]`
    pub running_var: Var,
    /// Batches seen in training (i64 scalar).
    pub num_batches_tracked: Var,
    c: usize,
    eps: f64,
    momentum: f64,
}

impl<const SPATIAL: usize> BatchNorm<SPATIAL> {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running statistics.
    pub fn new(num_features: usize) -> Self {
        Self::with_options(num_features, 1e-5, 0.1, true)
    }
    /// With explicit options.
    pub fn with_options(num_features: usize, eps: f64, momentum: f64, affine: bool) -> Self {
        let c = num_features;
        let (weight, bias) = if affine {
            (
                Some(Var::new(&Tensor::ones(&[c], DType::F32))),
                Some(Var::new(&Tensor::zeros(&[c], DType::F32))),
            )
        } else {
            (None, None)
        };
        BatchNorm {
            weight,
            bias,
            running_mean: Var::new(&Tensor::zeros(&[c], DType::F32)),
            running_var: Var::new(&Tensor::ones(&[c], DType::F32)),
            num_batches_tracked: Var::new(&Tensor::zeros(&[], DType::I64)),
            c,
            eps,
            momentum,
        }
    }
}

impl<const SPATIAL: usize> Module for BatchNorm<SPATIAL> {
    fn kind(&self) -> &'static str {
        if SPATIAL == 2 {
            "BatchNorm2d"
        } else {
            "BatchNorm1d"
        }
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        // evaluation: the running statistics, broadcast as [1, C, 1, ...]
        let mut bshape = vec![1; x.rank()];
        bshape[1] = self.c;
        if ctx.training {
            // one fused op: statistics, normalization and affine map (and a fused backward)
            let w = self.weight.as_ref().map(|w| w.as_tensor());
            let b = self.bias.as_ref().map(|b| b.as_tensor());
            let (y, mean, var) = x.batch_norm_train(w.as_ref(), b.as_ref(), self.eps)?;
            let n = x.numel() / self.c.max(1);
            let _g = no_grad();
            let m = self.momentum;
            let unbiased = if n > 1 {
                var.mul_scalar(n as f64 / (n - 1) as f64)?
            } else {
                var
            };
            let rm = self
                .running_mean
                .as_tensor()
                .mul_scalar(1.0 - m)?
                .add(&mean.to_dtype(self.running_mean.dtype())?.mul_scalar(m)?)?;
            let rv = self
                .running_var
                .as_tensor()
                .mul_scalar(1.0 - m)?
                .add(&unbiased.to_dtype(self.running_var.dtype())?.mul_scalar(m)?)?;
            self.running_mean.set(&rm.detach())?;
            self.running_var.set(&rv.detach())?;
            self.num_batches_tracked
                .with_mut::<i64, _>(|v| v.iter_mut().for_each(|n| *n += 1))?;
            return Ok(y);
        }
        let dims_shape = |t: &Var| t.as_tensor().reshape(&bshape);
        let xc = x.sub(&dims_shape(&self.running_mean)?)?;
        let var = dims_shape(&self.running_var)?;
        let mut y = xc.div(&var.add_scalar(self.eps)?.sqrt()?)?;
        if let Some(w) = &self.weight {
            y = y.mul(&dims_shape(w)?)?;
        }
        if let Some(b) = &self.bias {
            y = y.add(&dims_shape(b)?)?;
        }
        Ok(y)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        affine_params(&self.weight, &self.bias)
    }
    fn buffers(&self) -> Vec<(String, Var)> {
        vec![
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
            (
                "num_batches_tracked".into(),
                self.num_batches_tracked.clone(),
            ),
        ]
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let rank_ok = if SPATIAL == 2 {
            input.len() == 4
        } else {
            input.len() == 2 || input.len() == 3
        };
        if !rank_ok || input[1] != self.c {
            let want = if SPATIAL == 2 {
                format!("[N, {}, H, W]", self.c)
            } else {
                format!("[N, {}] or [N, {}, L]", self.c, self.c)
            };
            return Err(misfit(
                &format!("{}({})", self.kind(), self.c),
                format!("input {input:?} is not {want}"),
            ));
        }
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!(
            "{}, eps={}, momentum={}, affine={}",
            self.c,
            self.eps,
            self.momentum,
            self.weight.is_some()
        )
    }
}
