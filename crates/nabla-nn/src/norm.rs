//! Normalization layers.

use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{no_grad, DType, Result, Tensor, Var};

/// `weight` and `bias` when present, as a normalization layer names them.
fn affine_params(weight: &Option<Var>, bias: &Option<Var>) -> Vec<(String, Var)> {
    let named = [("weight", weight), ("bias", bias)];
    named
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// Normalizes over the trailing `normalized_shape` dims: `(x - mean) / √(var + eps) · γ + β`
/// (biased variance, as PyTorch).
pub struct LayerNorm {
    /// γ, shape `normalized_shape` (ones at start), when affine.
    pub weight: Option<Var>,
    /// β (zeros at start), when affine.
    pub bias: Option<Var>,
    shape: Vec<usize>,
    eps: f64,
}

impl LayerNorm {
    /// PyTorch's defaults: eps 1e-5, elementwise affine.
    pub fn new(normalized_shape: &[usize]) -> Self {
        Self::with_options(normalized_shape, 1e-5, true)
    }
    /// With explicit eps and affine flag.
    pub fn with_options(normalized_shape: &[usize], eps: f64, affine: bool) -> Self {
        let (weight, bias) = if affine {
            (
                Some(Var::new(&Tensor::ones(normalized_shape, DType::F32))),
                Some(Var::new(&Tensor::zeros(normalized_shape, DType::F32))),
            )
        } else {
            (None, None)
        };
        LayerNorm {
            weight,
            bias,
            shape: normalized_shape.to_vec(),
            eps,
        }
    }
}

impl Module for LayerNorm {
    fn kind(&self) -> &'static str {
        "LayerNorm"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        let k = self.shape.len();
        let dims: Vec<isize> = (1..=k).map(|i| -(i as isize)).collect();
        let mean = x.mean_dims(&dims, true)?;
        let xc = x.sub(&mean)?;
        let var = xc.sqr()?.mean_dims(&dims, true)?;
        let mut y = xc.div(&var.add_scalar(self.eps)?.sqrt()?)?;
        if let Some(w) = &self.weight {
            y = y.mul(&w.as_tensor())?;
        }
        if let Some(b) = &self.bias {
            y = y.add(&b.as_tensor())?;
        }
        Ok(y)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        affine_params(&self.weight, &self.bias)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() < self.shape.len()
            || input[input.len() - self.shape.len()..] != self.shape[..]
        {
            return Err(misfit(
                "LayerNorm",
                format!("input {input:?} does not end in {:?}", self.shape),
            ));
        }
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!(
            "{:?}, eps={}, elementwise_affine={}",
            self.shape,
            self.eps,
            self.weight.is_some()
        )
    }
}

/// Batch normalization over `[N, C]` or `[N, C, L]` inputs, per channel C. Training uses the
/// batch's statistics and updates the running ones (`momentum` 0.1, unbiased running
/// variance); evaluation uses the running statistics. Buffers as PyTorch names them:
/// `running_mean`, `running_var`, `num_batches_tracked`.
pub struct BatchNorm1d {
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

impl BatchNorm1d {
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
        BatchNorm1d {
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

impl Module for BatchNorm1d {
    fn kind(&self) -> &'static str {
        "BatchNorm1d"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        // statistics over every dim but C (dim 1); broadcast shape [1, C] or [1, C, 1]
        let dims: Vec<isize> = if x.rank() == 2 { vec![0] } else { vec![0, 2] };
        let bshape: Vec<usize> = if x.rank() == 2 {
            vec![1, self.c]
        } else {
            vec![1, self.c, 1]
        };
        let (xc, var) = if ctx.training {
            let n: usize = dims.iter().map(|&d| x.shape()[d as usize]).product();
            let mean = x.mean_dims(&dims, true)?;
            let xc = x.sub(&mean)?;
            let var = xc.sqr()?.mean_dims(&dims, true)?;
            {
                let _g = no_grad();
                let m = self.momentum;
                let unbiased = if n > 1 {
                    var.mul_scalar(n as f64 / (n - 1) as f64)?
                } else {
                    var.clone()
                };
                let rm = self
                    .running_mean
                    .as_tensor()
                    .mul_scalar(1.0 - m)?
                    .add(&mean.reshape(&[self.c])?.mul_scalar(m)?)?;
                let rv = self
                    .running_var
                    .as_tensor()
                    .mul_scalar(1.0 - m)?
                    .add(&unbiased.reshape(&[self.c])?.mul_scalar(m)?)?;
                self.running_mean.set(&rm.detach())?;
                self.running_var.set(&rv.detach())?;
                self.num_batches_tracked
                    .with_mut::<i64, _>(|v| v.iter_mut().for_each(|n| *n += 1))?;
            }
            (xc, var)
        } else {
            (
                x.sub(&self.running_mean.as_tensor().reshape(&bshape)?)?,
                self.running_var.as_tensor().reshape(&bshape)?,
            )
        };
        let mut y = xc.div(&var.add_scalar(self.eps)?.sqrt()?)?;
        if let Some(w) = &self.weight {
            y = y.mul(&w.as_tensor().reshape(&bshape)?)?;
        }
        if let Some(b) = &self.bias {
            y = y.add(&b.as_tensor().reshape(&bshape)?)?;
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
        if !(input.len() == 2 || input.len() == 3) || input[1] != self.c {
            return Err(misfit(
                &format!("BatchNorm1d({})", self.c),
                format!(
                    "input {input:?} is not [N, {}] or [N, {}, L]",
                    self.c, self.c
                ),
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
