//! Configs of the dense layers and of the layers whose output has the input's shape: linear,
//! embedding, dropout, layer and batch norm, flatten, leaky ReLU and GELU.

use super::sizes::yes;
use super::sizes::GeluApproximate;
use super::{same, Layer, LayerCounts, LayerInput};
use crate::init::Init;
use crate::module::Module;
use crate::{Activation, BatchNorm1d, BatchNorm2d, Dropout, Dropout2d, Embedding, Flatten};
use crate::{LayerNorm, Linear};
use nabla_core::{DType, Mt19937};
use serde::{Deserialize, Serialize};

fn eps() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}

/// `{ type = "linear", out = 128 }`: fully connected; the input features are the input's
/// last dim (`in`, when given, is checked against it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Output features.
    pub out: usize,
    /// Input features (optional; checked against the previous layer).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub input: Option<usize>,
    /// With a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Weight initializer (default: PyTorch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// `"embedding"`: share the weight of the nearest embedding before it (a language
    /// model's head tied to its token embedding, as GPT-2's); the weight is held and saved
    /// once, under the embedding's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie: Option<String>,
}

impl LinearConfig {
    /// `out` features with a bias and PyTorch's initializer.
    pub fn new(out: usize) -> Self {
        LinearConfig {
            out,
            input: None,
            bias: true,
            init: None,
            tie: None,
        }
    }
    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    /// With a weight initializer.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }
}

impl Layer for LinearConfig {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn validate(&self) -> Result<(), String> {
        if self.out == 0 {
            return Err("out must be at least 1".into());
        }
        match self.tie.as_deref() {
            None | Some("embedding") if !(self.tie.is_some() && self.init.is_some()) => Ok(()),
            None | Some("embedding") => {
                Err("tie and init do not go together: a tied weight is the embedding's".into())
            }
            Some(t) => Err(format!(
                "tie must be \"embedding\" (the embedding layer before it), got \"{t}\""
            )),
        }
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        let mut s = x.shape.to_vec();
        match s.last_mut() {
            Some(d) => *d = self.out,
            None => return Err(format!("input {:?} has no features", x.shape)),
        }
        Ok(s)
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let (i, o) = (x.last() as u128, self.out as u128);
        // a tied weight is the embedding's, counted there
        let weight = if self.tie.is_some() { 0 } else { i * o };
        Ok(LayerCounts::params(weight + if self.bias { o } else { 0 }))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        let last = x.last();
        if let Some(inp) = self.input {
            if inp != last || x.shape.len() < 2 {
                return Err(format!(
                    "in = {inp} but its input is {:?} (batch first), whose last dim is {last}",
                    x.shape
                ));
            }
        }
        let init = self.init.unwrap_or(Init::Default);
        Linear::with_init(last, self.out, self.bias, init, DType::F32, rng)
            .map(|l| Box::new(l) as Box<dyn Module>)
            .map_err(|e| e.to_string())
    }
}

/// `{ type = "embedding", dim = 64 }`: token embeddings, `[N, T]` indices to `[N, T, dim]`;
/// the number of tokens defaults to the text's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// The embedding size.
    pub dim: usize,
    /// The number of tokens (default: the data's vocabulary size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num: Option<usize>,
    /// The standard deviation of the normal the weights are drawn from (default 1, as
    /// PyTorch's `nn.Embedding`; GPT-2 and nanoGPT use 0.02, which a head tied to the
    /// embedding needs so its first logits are small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

impl EmbeddingConfig {
    /// Embeddings of `dim` for the data's vocabulary.
    pub fn new(dim: usize) -> Self {
        EmbeddingConfig {
            dim,
            num: None,
            std: None,
        }
    }
    /// For `num` tokens.
    pub fn with_num(mut self, num: usize) -> Self {
        self.num = Some(num);
        self
    }
    fn tokens(&self, x: &LayerInput<'_>) -> Result<usize, String> {
        self.num.or(x.tokens).ok_or_else(|| {
            "num (the number of tokens) is needed when the data is not text".to_string()
        })
    }
}

impl Layer for EmbeddingConfig {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn validate(&self) -> Result<(), String> {
        match (self.dim, self.num) {
            (0, _) => Err("dim must be at least 1".into()),
            (_, Some(0)) => Err("num must be at least 1".into()),
            _ if self.std.is_some_and(|s| !(s.is_finite() && s > 0.0)) => {
                Err(format!("std must be a positive number, got {:?}", self.std))
            }
            _ => Ok(()),
        }
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        if x.shape.is_empty() {
            return Err("needs at least a batch dim of indices".into());
        }
        if let (Some(n), Some(t)) = (self.num, x.tokens) {
            if n < t {
                return Err(format!(
                    "num = {n} is fewer than the {t} tokens of the data's vocabulary"
                ));
            }
        }
        Ok(x.shape.iter().copied().chain([self.dim]).collect())
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let n = self.num.or(x.tokens).unwrap_or(0) as u128;
        Ok(LayerCounts::params(n * self.dim as u128))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        let n = self.tokens(x)?;
        let e = Embedding::new(n, self.dim, rng).map_err(|e| e.to_string())?;
        if let Some(std) = self.std {
            // drawn in place of the N(0, 1) draw, from the same stream position
            let w = e
                .weight
                .as_tensor()
                .mul_scalar(std)
                .map_err(|e| e.to_string())?;
            e.weight.set(&w).map_err(|e| e.to_string())?;
        }
        Ok(Box::new(e))
    }
}

/// `{ type = "dropout", p = 0.1 }` (and `dropout2d`, which drops whole channels).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    /// Drop probability, in [0, 1).
    pub p: f64,
}

impl DropoutConfig {
    fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.p) {
            return Err(format!("p must be in [0, 1), got {}", self.p));
        }
        Ok(())
    }
}

/// A dropout config as `Dropout`.
pub(crate) struct Dropout1<'a>(pub &'a DropoutConfig);
/// A dropout config as `Dropout2d`.
pub(crate) struct Dropout2<'a>(pub &'a DropoutConfig);

impl Layer for Dropout1<'_> {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn validate(&self) -> Result<(), String> {
        self.0.check()
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Dropout::new(self.0.p)
            .map(|l| Box::new(l) as Box<dyn Module>)
            .map_err(|e| e.to_string())
    }
}

impl Layer for Dropout2<'_> {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn validate(&self) -> Result<(), String> {
        self.0.check()
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Dropout2d::new(self.0.p)
            .map(|l| Box::new(l) as Box<dyn Module>)
            .map_err(|e| e.to_string())
    }
}

fn check_eps(eps: f64) -> Result<(), String> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(format!("eps must be positive, got {eps}"));
    }
    Ok(())
}

/// `{ type = "layer_norm" }`: LayerNorm over the last dim, with a weight and (unless
/// `bias = false`, PyTorch's `bias=False`) a bias.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNormConfig {
    /// eps (default 1e-5).
    #[serde(default = "eps")]
    pub eps: f64,
    /// With a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig {
            eps: eps(),
            bias: true,
        }
    }
}

impl Layer for LayerNormConfig {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn validate(&self) -> Result<(), String> {
        check_eps(self.eps)
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let per = if self.bias { 2 } else { 1 };
        Ok(LayerCounts::params(per * x.last() as u128))
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Ok(Box::new(
            LayerNorm::with_options(&[x.last()], self.eps, true).with_bias(self.bias),
        ))
    }
}

/// `{ type = "batch_norm1d" }` or `{ type = "batch_norm2d" }`: batch norm over the channel
/// dim (dim 1), with a weight, a bias and running statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormConfig {
    /// eps (default 1e-5).
    #[serde(default = "eps")]
    pub eps: f64,
    /// momentum of the running statistics (default 0.1).
    #[serde(default = "bn_momentum")]
    pub momentum: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: eps(),
            momentum: bn_momentum(),
        }
    }
}

/// A batch-norm config as BatchNorm2d (`true`) or BatchNorm1d.
pub(crate) struct BatchNorm<'a>(pub &'a BatchNormConfig, pub bool);

impl BatchNorm<'_> {
    fn channels(&self, x: &LayerInput<'_>) -> usize {
        x.shape.get(1).copied().unwrap_or(x.last())
    }
}

impl Layer for BatchNorm<'_> {
    fn lookahead(&self) -> Option<String> {
        Some("its statistics are taken over every position of the batch".into())
    }
    fn validate(&self) -> Result<(), String> {
        check_eps(self.0.eps)?;
        if !(0.0..=1.0).contains(&self.0.momentum) {
            return Err(format!(
                "momentum must be in [0, 1], got {}",
                self.0.momentum
            ));
        }
        Ok(())
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let c = self.channels(x) as u128;
        // running mean and variance, and num_batches_tracked
        Ok(LayerCounts {
            params: 2 * c,
            buffers: 2 * c + 1,
        })
    }
    fn build(&self, x: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        let (eps, m) = (self.0.eps, self.0.momentum);
        Ok(if self.1 {
            x.need_rank(4, "[C, H, W]")?;
            Box::new(BatchNorm2d::with_options(x.shape[1], eps, m, true))
        } else {
            Box::new(BatchNorm1d::with_options(self.channels(x), eps, m, true))
        })
    }
}

fn one_i() -> isize {
    1
}
fn minus_one() -> isize {
    -1
}

/// `{ type = "flatten" }`: dims `start_dim..=end_dim` into one (default: all but the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenConfig {
    /// First dim (default 1).
    #[serde(default = "one_i")]
    pub start_dim: isize,
    /// Last dim (default -1).
    #[serde(default = "minus_one")]
    pub end_dim: isize,
}

impl Default for FlattenConfig {
    fn default() -> Self {
        FlattenConfig {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl FlattenConfig {
    fn module(&self) -> Flatten {
        Flatten {
            start_dim: self.start_dim,
            end_dim: self.end_dim,
        }
    }
}

impl Layer for FlattenConfig {
    fn lookahead(&self) -> Option<String> {
        // [N, T, F]: only flattening within the features keeps the positions apart
        let keeps = matches!((self.start_dim, self.end_dim), (2, 2) | (2, -1) | (-1, -1));
        (!keeps).then(|| "it flattens the positions of the sequence together".into())
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        self.module().output_shape(x.shape).map_err(|e| {
            format!(
                "start_dim = {}, end_dim = {} do not fit: {e}",
                self.start_dim, self.end_dim
            )
        })
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Ok(Box::new(self.module()))
    }
}

fn slope() -> f64 {
    0.01
}

/// `{ type = "leaky_relu" }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakyReluConfig {
    /// Slope for x < 0 (default 0.01).
    #[serde(default = "slope")]
    pub negative_slope: f64,
}

impl Default for LeakyReluConfig {
    fn default() -> Self {
        LeakyReluConfig {
            negative_slope: slope(),
        }
    }
}

impl Layer for LeakyReluConfig {
    fn validate(&self) -> Result<(), String> {
        if self.negative_slope.is_finite() {
            Ok(())
        } else {
            Err(format!(
                "negative_slope must be a finite number, got {}",
                self.negative_slope
            ))
        }
    }
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Ok(Box::new(Activation::LeakyReLU(self.negative_slope)))
    }
}

/// `{ type = "gelu" }` (`approximate = "tanh"` for the tanh form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeluConfig {
    /// `"none"` (default) or `"tanh"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate: Option<GeluApproximate>,
}

impl Layer for GeluConfig {
    fn lookahead(&self) -> Option<String> {
        // position by position (layer norm: over the features of one position)
        None
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(x)
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Ok(Box::new(match self.approximate {
            Some(GeluApproximate::Tanh) => Activation::GELUTanh,
            _ => Activation::GELU,
        }))
    }
}
