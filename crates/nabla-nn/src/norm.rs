//! Normalization layers.

use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{DType, Result, Tensor, Var};

/// `weight` and `bias` when present, as a normalization layer names them.
pub(crate) fn affine_params(weight: &Option<Var>, bias: &Option<Var>) -> Vec<(String, Var)> {
    let named = [("weight", weight), ("bias", bias)];
    named
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// Normalizes over the trailing `normalized_shape` dims: `(x - mean) / √(var + eps) · γ + β`
/// (biased variance, as PyTorch's `nn.LayerNorm`), computed by the fused
/// [`Tensor::layer_norm`]. Parameters `weight` and `bias` (in `state_dict`) when affine;
/// [`LayerNorm::with_bias`]`(false)` drops the bias, as PyTorch's `bias=False`.
pub struct LayerNorm {
    /// γ, shape `normalized_shape` (ones at start), when affine.
    pub weight: Option<Var>,
    /// β (zeros at start), when affine and with a bias.
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
    /// With or without the bias β (PyTorch's `bias=False`: no `bias` parameter, so none in
    /// `state_dict`); a layer without affine parameters has none either way.
    pub fn with_bias(mut self, bias: bool) -> Self {
        if !bias {
            self.bias = None;
        }
        self
    }
}

impl Module for LayerNorm {
    fn kind(&self) -> &'static str {
        "LayerNorm"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        let w = self.weight.as_ref().map(|w| w.as_tensor());
        let b = self.bias.as_ref().map(|b| b.as_tensor());
        x.layer_norm(&self.shape, w.as_ref(), b.as_ref(), self.eps)
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
        let mut s = format!(
            "{:?}, eps={}, elementwise_affine={}",
            self.shape,
            self.eps,
            self.weight.is_some()
        );
        if self.weight.is_some() && self.bias.is_none() {
            s.push_str(", bias=False");
        }
        s
    }
}
