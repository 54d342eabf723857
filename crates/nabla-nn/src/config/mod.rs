//! Layer configs: one struct per layer type, the serde form a TOML `model.layers` entry takes
//! (`{ type = "linear", out = 128 }`), with its defaults, validation, output shape and
//! parameter count for an input shape, and the method that builds the layer. [`LayerConfig`]
//! is the tagged enum over them. The summary, the memory check and the builder of a model
//! described by configs all ask the config, so a layer's shape rules live in one place.
//!
//! Adding a layer type: its config struct (implementing [`Layer`]), its module, and one
//! variant of [`LayerConfig`].

mod conv;
mod dense;
mod pool;
mod recurrent;
mod sizes;
mod transformer;

pub use conv::{Conv1dConfig, Conv2dConfig, ConvTranspose2dConfig};
pub use dense::{
    BatchNormConfig, DropoutConfig, EmbeddingConfig, FlattenConfig, GeluConfig, LayerNormConfig,
    LeakyReluConfig, LinearConfig,
};
pub use pool::{
    AdaptiveAvgPool2dConfig, AvgPool1dConfig, AvgPool2dConfig, MaxPool1dConfig, MaxPool2dConfig,
};
pub use recurrent::{RecurrentConfig, RnnConfig};
pub(crate) use sizes::yes;
pub use sizes::{GeluApproximate, Nonlinearity, Padding, Size2, INIT_NAMES};
pub use transformer::{
    FeedForwardActivation, MeanConfig, PermuteConfig, PositionKind, PositionalEmbeddingConfig,
    TransformerConfig,
};

use crate::{Activation, Module};
use nabla_core::Mt19937;
use serde::{Deserialize, Serialize};

/// What a layer receives: its input's shape (batch first) and, for an embedding whose
/// config leaves the vocabulary size open, the number of tokens the data has.
#[derive(Debug, Clone, Copy)]
pub struct LayerInput<'a> {
    /// The input's shape, batch first.
    pub shape: &'a [usize],
    /// The data's number of tokens (text data), when known.
    pub tokens: Option<usize>,
}

impl<'a> LayerInput<'a> {
    /// An input of `shape` (batch first) without a known vocabulary.
    pub fn new(shape: &'a [usize]) -> Self {
        LayerInput {
            shape,
            tokens: None,
        }
    }
    /// The last dim (0 for a rank-0 shape).
    pub fn last(&self) -> usize {
        self.shape.last().copied().unwrap_or(0)
    }
    /// Fails unless the input has `rank` dims, naming the sample shape the layer needs
    /// (`"[C, H, W]"`).
    pub fn need_rank(&self, rank: usize, sample: &str) -> Result<(), String> {
        if self.shape.len() != rank {
            return Err(format!(
                "needs {sample} samples (batch first: [N, {}]) but its input is {:?}; set model.input_shape to {sample} (e.g. [1, 28, 28])",
                &sample[1..sample.len() - 1],
                self.shape
            ));
        }
        Ok(())
    }
}

/// The element counts a layer allocates: trainable parameters and buffers (batch norm's
/// running statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerCounts {
    /// Trainable parameters.
    pub params: u128,
    /// Buffers.
    pub buffers: u128,
}

impl LayerCounts {
    fn params(params: u128) -> Self {
        LayerCounts { params, buffers: 0 }
    }
}

/// What every layer config answers. Messages name the key (`out must be at least 1`); the
/// caller adds where the layer sits (`model.layers[2] (linear): ...`).
pub trait Layer {
    /// Checks the values serde's types cannot (ranges, combinations).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// The output shape (batch first) for `input`, or why the input does not fit; nothing is
    /// allocated.
    fn output_shape(&self, input: &LayerInput<'_>) -> Result<Vec<usize>, String>;
    /// The elements the layer allocates for `input`.
    fn counts(&self, _input: &LayerInput<'_>) -> Result<LayerCounts, String> {
        Ok(LayerCounts::default())
    }
    /// Builds the layer for `input`, drawing its weights from `rng`.
    fn build(&self, input: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String>;
    /// Elements per sample the layer holds for its backward pass beyond its input and
    /// output (im2col columns, recurrent gates, pooling indices), for the memory estimate;
    /// nothing is allocated.
    fn scratch(&self, _input: &LayerInput<'_>) -> Result<u128, String> {
        Ok(0)
    }
    /// Elements per sample the layer holds at once in an evaluation pass (no graph kept):
    /// by default its [`Layer::scratch`]; a stack of layers holds one layer's at a time.
    fn eval_scratch(&self, input: &LayerInput<'_>) -> Result<u128, String> {
        self.scratch(input)
    }
    /// Over a sequence `[N, T, features]`: why an output position can see input positions
    /// after it (`None` when it cannot: the layer works position by position, or only looks
    /// back). A next-token model refuses a layer that can.
    fn lookahead(&self) -> Option<String> {
        Some("it mixes the positions of a sequence".into())
    }
}

impl<T: Layer + ?Sized> Layer for &T {
    fn validate(&self) -> Result<(), String> {
        (**self).validate()
    }
    fn output_shape(&self, input: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        (**self).output_shape(input)
    }
    fn counts(&self, input: &LayerInput<'_>) -> Result<LayerCounts, String> {
        (**self).counts(input)
    }
    fn build(&self, input: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        (**self).build(input, rng)
    }
    fn scratch(&self, input: &LayerInput<'_>) -> Result<u128, String> {
        (**self).scratch(input)
    }
    fn eval_scratch(&self, input: &LayerInput<'_>) -> Result<u128, String> {
        (**self).eval_scratch(input)
    }
    fn lookahead(&self) -> Option<String> {
        (**self).lookahead()
    }
}

/// The same shape out as in: activations, dropout, normalization.
pub(crate) fn same(input: &LayerInput<'_>) -> Result<Vec<usize>, String> {
    Ok(input.shape.to_vec())
}

/// A layer config of any type: the entries of a TOML `model.layers` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerConfig {
    /// Fully connected.
    Linear(LinearConfig),
    /// ReLU.
    Relu,
    /// Leaky ReLU.
    LeakyRelu(LeakyReluConfig),
    /// Sigmoid.
    Sigmoid,
    /// Tanh.
    Tanh,
    /// GELU.
    Gelu(GeluConfig),
    /// SiLU.
    Silu,
    /// Softmax over the last dim.
    Softmax,
    /// Flatten dims `start_dim..=end_dim`.
    Flatten(FlattenConfig),
    /// Dropout.
    Dropout(DropoutConfig),
    /// LayerNorm over the last dim.
    LayerNorm(LayerNormConfig),
    /// BatchNorm1d over the feature dim.
    BatchNorm1d(BatchNormConfig),
    /// Token embeddings.
    Embedding(EmbeddingConfig),
    /// LSTM (batch first).
    Lstm(RecurrentConfig),
    /// GRU (batch first).
    Gru(RecurrentConfig),
    /// Elman RNN (batch first).
    Rnn(RnnConfig),
    /// BatchNorm2d over the channels.
    BatchNorm2d(BatchNormConfig),
    /// Dropout of whole channels.
    Dropout2d(DropoutConfig),
    /// 2-d convolution.
    Conv2d(Conv2dConfig),
    /// 1-d convolution.
    Conv1d(Conv1dConfig),
    /// Transposed 2-d convolution.
    ConvTranspose2d(ConvTranspose2dConfig),
    /// 2-d max pooling.
    MaxPool2d(MaxPool2dConfig),
    /// 2-d average pooling.
    AvgPool2d(AvgPool2dConfig),
    /// Average pooling to a fixed size.
    AdaptiveAvgPool2d(AdaptiveAvgPool2dConfig),
    /// 1-d max pooling.
    MaxPool1d(MaxPool1dConfig),
    /// 1-d average pooling.
    AvgPool1d(AvgPool1dConfig),
    /// A stack of transformer encoder layers.
    Transformer(TransformerConfig),
    /// Positions added to a sequence.
    PositionalEmbedding(PositionalEmbeddingConfig),
    /// The dims reordered.
    Permute(PermuteConfig),
    /// The mean over one dim.
    Mean(MeanConfig),
}

/// A layer without options, as a [`Layer`].
struct Plain(Activation);

impl Layer for Plain {
    fn output_shape(&self, input: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        same(input)
    }
    fn build(&self, _: &LayerInput<'_>, _: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        Ok(Box::new(self.0))
    }
    fn lookahead(&self) -> Option<String> {
        // element-wise, or (softmax) over the last dimension: the features of one position
        None
    }
}

impl LayerConfig {
    /// A linear layer of `out` features with the defaults.
    pub fn linear(out: usize) -> Self {
        LayerConfig::Linear(LinearConfig::new(out))
    }

    /// The layer type as written in a config (`linear`, `conv2d`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerConfig::Linear(_) => "linear",
            LayerConfig::Relu => "relu",
            LayerConfig::LeakyRelu(_) => "leaky_relu",
            LayerConfig::Sigmoid => "sigmoid",
            LayerConfig::Tanh => "tanh",
            LayerConfig::Gelu(_) => "gelu",
            LayerConfig::Silu => "silu",
            LayerConfig::Softmax => "softmax",
            LayerConfig::Flatten(_) => "flatten",
            LayerConfig::Dropout(_) => "dropout",
            LayerConfig::LayerNorm(_) => "layer_norm",
            LayerConfig::BatchNorm1d(_) => "batch_norm1d",
            LayerConfig::Embedding(_) => "embedding",
            LayerConfig::Lstm(_) => "lstm",
            LayerConfig::Gru(_) => "gru",
            LayerConfig::Rnn(_) => "rnn",
            LayerConfig::BatchNorm2d(_) => "batch_norm2d",
            LayerConfig::Dropout2d(_) => "dropout2d",
            LayerConfig::Conv2d(_) => "conv2d",
            LayerConfig::Conv1d(_) => "conv1d",
            LayerConfig::ConvTranspose2d(_) => "conv_transpose2d",
            LayerConfig::MaxPool2d(_) => "max_pool2d",
            LayerConfig::AvgPool2d(_) => "avg_pool2d",
            LayerConfig::AdaptiveAvgPool2d(_) => "adaptive_avg_pool2d",
            LayerConfig::MaxPool1d(_) => "max_pool1d",
            LayerConfig::AvgPool1d(_) => "avg_pool1d",
            LayerConfig::Transformer(_) => "transformer",
            LayerConfig::PositionalEmbedding(_) => "positional_embedding",
            LayerConfig::Permute(_) => "permute",
            LayerConfig::Mean(_) => "mean",
        }
    }

    /// This config as a [`Layer`].
    pub fn layer(&self) -> Box<dyn Layer + '_> {
        use dense::BatchNorm;
        match self {
            LayerConfig::Linear(c) => Box::new(c),
            LayerConfig::Relu => Box::new(Plain(Activation::ReLU)),
            LayerConfig::LeakyRelu(c) => Box::new(c),
            LayerConfig::Sigmoid => Box::new(Plain(Activation::Sigmoid)),
            LayerConfig::Tanh => Box::new(Plain(Activation::Tanh)),
            LayerConfig::Gelu(c) => Box::new(c),
            LayerConfig::Silu => Box::new(Plain(Activation::SiLU)),
            LayerConfig::Softmax => Box::new(Plain(Activation::Softmax(-1))),
            LayerConfig::Flatten(c) => Box::new(c),
            LayerConfig::Dropout(c) => Box::new(dense::Dropout1(c)),
            LayerConfig::LayerNorm(c) => Box::new(c),
            LayerConfig::BatchNorm1d(c) => Box::new(BatchNorm(c, false)),
            LayerConfig::Embedding(c) => Box::new(c),
            LayerConfig::Lstm(c) => Box::new(recurrent::Kind::Lstm(c)),
            LayerConfig::Gru(c) => Box::new(recurrent::Kind::Gru(c)),
            LayerConfig::Rnn(c) => Box::new(recurrent::Kind::Rnn(c)),
            LayerConfig::BatchNorm2d(c) => Box::new(BatchNorm(c, true)),
            LayerConfig::Dropout2d(c) => Box::new(dense::Dropout2(c)),
            LayerConfig::Conv2d(c) => Box::new(c),
            LayerConfig::Conv1d(c) => Box::new(c),
            LayerConfig::ConvTranspose2d(c) => Box::new(c),
            LayerConfig::MaxPool2d(c) => Box::new(c),
            LayerConfig::AvgPool2d(c) => Box::new(c),
            LayerConfig::AdaptiveAvgPool2d(c) => Box::new(c),
            LayerConfig::MaxPool1d(c) => Box::new(c),
            LayerConfig::AvgPool1d(c) => Box::new(c),
            LayerConfig::Transformer(c) => Box::new(c),
            LayerConfig::PositionalEmbedding(c) => Box::new(c),
            LayerConfig::Permute(c) => Box::new(c),
            LayerConfig::Mean(c) => Box::new(c),
        }
    }

    /// See [`Layer::validate`].
    pub fn validate(&self) -> Result<(), String> {
        self.layer().validate()
    }
    /// See [`Layer::output_shape`].
    pub fn output_shape(&self, input: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        self.layer().output_shape(input)
    }
    /// See [`Layer::counts`].
    pub fn counts(&self, input: &LayerInput<'_>) -> Result<LayerCounts, String> {
        self.layer().counts(input)
    }
    /// See [`Layer::scratch`].
    pub fn scratch(&self, input: &LayerInput<'_>) -> Result<u128, String> {
        self.layer().scratch(input)
    }
    /// See [`Layer::lookahead`].
    pub fn lookahead(&self) -> Option<String> {
        self.layer().lookahead()
    }
    /// See [`Layer::build`].
    pub fn build(
        &self,
        input: &LayerInput<'_>,
        rng: &mut Mt19937,
    ) -> Result<Box<dyn Module>, String> {
        self.layer().build(input, rng)
    }
}
