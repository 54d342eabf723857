//! Configs of the sequence-model layers: the transformer encoder stack, positional
//! embeddings, and the rearranging layers a vision transformer needs (permute, mean).

use super::sizes::yes;
use super::{Layer, LayerCounts, LayerInput};
use crate::module::Module;
use crate::{Activation, EncoderLayerOptions, Mean, Permute, PositionalEmbedding};
use crate::{TransformerEncoder, TransformerEncoderLayer};
use nabla_core::Mt19937;
use serde::{Deserialize, Serialize};

fn dropout_default() -> f64 {
    0.1
}
fn eps() -> f64 {
    1e-5
}

/// The feed-forward activation of a transformer layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedForwardActivation {
    /// ReLU (PyTorch's default).
    #[default]
    Relu,
    /// GELU, exact (as GPT-2 and ViT).
    Gelu,
}

/// `{ type = "transformer", layers = 6, heads = 6, dim_feedforward = 1536, dropout = 0.1,
/// activation = "gelu", norm_first = true, causal = true, bias = false }`: a stack of
/// `nn.TransformerEncoderLayer`s over `[N, T, E]` (E is the input's last dim), with a final
/// layer norm when `norm_first` (as GPT-2's `ln_f`) unless `final_norm` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Encoder layers.
    pub layers: usize,
    /// Attention heads (must divide the width).
    pub heads: usize,
    /// The feed-forward width (default 4 × the model width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim_feedforward: Option<usize>,
    /// Dropout (default 0.1, as PyTorch).
    #[serde(default = "dropout_default")]
    pub dropout: f64,
    /// `relu` (default) or `gelu`.
    #[serde(default)]
    pub activation: FeedForwardActivation,
    /// Pre-norm (default false: post-norm, as PyTorch).
    #[serde(default)]
    pub norm_first: bool,
    /// Causal self-attention: each position sees itself and the ones before it only.
    #[serde(default)]
    pub causal: bool,
    /// Biases in the linear layers and norms (default true).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Layer norm eps (default 1e-5).
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// A final layer norm after the stack (default: `norm_first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_norm: Option<bool>,
}

impl TransformerConfig {
    fn width(x: &LayerInput<'_>) -> Result<usize, String> {
        x.need_rank(3, "[T, features]")?;
        Ok(x.shape[2])
    }
    fn ff(&self, e: usize) -> usize {
        self.dim_feedforward.unwrap_or(4 * e)
    }
    fn options(&self, e: usize) -> EncoderLayerOptions {
        EncoderLayerOptions {
            dim_feedforward: self.ff(e),
            dropout: self.dropout,
            activation: match self.activation {
                FeedForwardActivation::Relu => Activation::ReLU,
                FeedForwardActivation::Gelu => Activation::GELU,
            },
            layer_norm_eps: self.layer_norm_eps,
            norm_first: self.norm_first,
            bias: self.bias,
            causal: self.causal,
        }
    }
    fn final_norm(&self) -> bool {
        self.final_norm.unwrap_or(self.norm_first)
    }
}

impl Layer for TransformerConfig {
    fn validate(&self) -> Result<(), String> {
        if self.layers == 0 || self.heads == 0 || self.dim_feedforward == Some(0) {
            return Err(format!(
                "layers, heads and dim_feedforward must be at least 1, got layers = {}, heads = {}, dim_feedforward = {:?}",
                self.layers, self.heads, self.dim_feedforward
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps must be a positive number, got {}",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        let e = Self::width(x)?;
        if !e.is_multiple_of(self.heads) {
            return Err(format!(
                "heads = {} does not divide the width {e} of input {:?}",
                self.heads, x.shape
            ));
        }
        Ok(x.shape.to_vec())
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let e = Self::width(x)? as u128;
        let f = self.ff(e as usize) as u128;
        let b = u128::from(self.bias);
        let attention = 4 * e * e + 4 * e * b;
        let feed_forward = 2 * e * f + (f + e) * b;
        let norms = 2 * (e + e * b);
        let per_layer = attention + feed_forward + norms;
        let last = if self.final_norm() { e + e * b } else { 0 };
        Ok(LayerCounts {
            params: per_layer
                .saturating_mul(self.layers as u128)
                .saturating_add(last),
            buffers: 0,
        })
    }
    fn scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        // per layer, what the graph keeps for backward: the projections, heads and their
        // copies, norms and residuals (about 16 T·E), the feed-forward block with GELU's
        // intermediate values (8 T·F), and with dropout the composed attention's scores,
        // weights and mask (3 H·T·T; the fused path holds none). Measured: configs/
        // shakespeare-gpt.toml peaks at 934 MB RSS in training.
        let e = Self::width(x)? as u128;
        let t = x.shape[1] as u128;
        let f = self.ff(e as usize) as u128;
        let scores = if self.dropout > 0.0 {
            3u128
                .saturating_mul(self.heads as u128)
                .saturating_mul(t.saturating_mul(t))
        } else {
            0
        };
        let per_layer = (16 * t * e)
            .saturating_add(8u128.saturating_mul(t).saturating_mul(f))
            .saturating_add(scores);
        Ok(per_layer.saturating_mul(self.layers as u128))
    }
    fn eval_scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        Ok(self.scratch(x)? / self.layers.max(1) as u128)
    }
    fn lookahead(&self) -> Option<String> {
        (!self.causal).then(|| {
            "its self-attention lets every position see every other; set causal = true".into()
        })
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        self.output_shape(x)?;
        let e = Self::width(x)?;
        let opts = self.options(e);
        let m: nabla_core::Result<Box<dyn Module>> = if self.layers == 1 && !self.final_norm() {
            TransformerEncoderLayer::new(e, self.heads, opts, rng).map(|l| Box::new(l) as _)
        } else {
            TransformerEncoder::new(e, self.heads, self.layers, opts, self.final_norm(), rng)
                .map(|l| Box::new(l) as _)
        };
        m.map_err(|e| e.to_string())
    }
}

/// Learned positions (default) or the fixed sinusoidal ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionKind {
    /// A learned `[max_len, E]` table.
    #[default]
    Learned,
    /// Fixed sines and cosines.
    Sinusoidal,
}

/// `{ type = "positional_embedding", max_len = 256 }`: positions added to `[N, T, E]`
/// (`kind = "sinusoidal"` for the fixed ones).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionalEmbeddingConfig {
    /// The most positions a sequence may have.
    pub max_len: usize,
    /// `learned` (default) or `sinusoidal`.
    #[serde(default)]
    pub kind: PositionKind,
}

impl Layer for PositionalEmbeddingConfig {
    fn validate(&self) -> Result<(), String> {
        if self.max_len == 0 {
            return Err("max_len must be at least 1".into());
        }
        Ok(())
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(3, "[T, features]")?;
        if x.shape[1] > self.max_len {
            return Err(format!(
                "a sequence of {} positions is longer than max_len = {}",
                x.shape[1], self.max_len
            ));
        }
        Ok(x.shape.to_vec())
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        x.need_rank(3, "[T, features]")?;
        Ok(LayerCounts {
            params: match self.kind {
                PositionKind::Learned => (self.max_len as u128).saturating_mul(x.shape[2] as u128),
                PositionKind::Sinusoidal => 0,
            },
            buffers: 0,
        })
    }
    fn lookahead(&self) -> Option<String> {
        None
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        self.output_shape(x)?;
        let e = x.shape[2];
        let m = match self.kind {
            PositionKind::Learned => PositionalEmbedding::learned(self.max_len, e, rng),
            PositionKind::Sinusoidal => PositionalEmbedding::sinusoidal(self.max_len, e),
        };
        m.map(|m| Box::new(m) as Box<dyn Module>)
            .map_err(|e| e.to_string())
    }
}

/// `{ type = "permute", dims = [0, 2, 1] }`: the input's dims reordered (the batch stays
/// first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermuteConfig {
    /// The new order of the dims, batch (0) included.
    pub dims: Vec<usize>,
}

impl Layer for PermuteConfig {
    fn validate(&self) -> Result<(), String> {
        Permute::new(&self.dims).map(|_| ()).map_err(|e| {
            let e = e.to_string();
            e.split_once(": ").map_or(e.clone(), |(_, m)| m.to_string())
        })
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        let p = Permute::new(&self.dims).map_err(|e| e.to_string())?;
        p.output_shape(x.shape).map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        self.output_shape(x)?;
        Permute::new(&self.dims)
            .map(|m| Box::new(m) as Box<dyn Module>)
            .map_err(|e| e.to_string())
    }
}

/// `{ type = "mean", dim = 1 }`: the mean over one dim after the batch (dropped unless
/// `keepdim = true`), e.g. over a vision transformer's patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanConfig {
    /// The dim (negative from the end).
    pub dim: isize,
    /// Keep it as size 1 (default false).
    #[serde(default)]
    pub keepdim: bool,
}

impl Layer for MeanConfig {
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        Mean::new(self.dim, self.keepdim)
            .output_shape(x.shape)
            .map_err(|e| e.to_string())
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        self.output_shape(x)?;
        Ok(Box::new(Mean::new(self.dim, self.keepdim)))
    }
}
