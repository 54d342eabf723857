//! The specs inside an experiment config: a layer (`model.layers`), the optimizer
//! (`train.optimizer`) and the learning-rate schedule (`train.schedule`), each the serde form
//! of the library object it builds (see [`super::build`]).

use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

/// One layer in `[[model.layers]]` or `layers = [{ type = "linear", out = 128 }, ...]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected; `in` is inferred (and checked when given).
    Linear {
        /// Output features.
        out: usize,
        /// Input features (optional; checked against the previous layer).
        #[serde(default, rename = "in")]
        input: Option<usize>,
        /// With a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
        /// Weight initializer (default: PyTorch's).
        #[serde(default)]
        init: Option<String>,
    },
    /// ReLU
    Relu,
    /// Leaky ReLU
    LeakyRelu {
        /// Slope for x < 0 (default 0.01).
        #[serde(default = "slope")]
        negative_slope: f64,
    },
    /// Sigmoid
    Sigmoid,
    /// Tanh
    Tanh,
    /// GELU
    Gelu {
        /// "none" or "tanh".
        #[serde(default)]
        approximate: Option<String>,
    },
    /// SiLU
    Silu,
    /// Softmax over the last dim.
    Softmax,
    /// Flatten dims `start_dim..=end_dim` (default 1 and -1: all but the batch dim).
    Flatten {
        /// First dim (default 1).
        #[serde(default = "one_i")]
        start_dim: isize,
        /// Last dim (default -1).
        #[serde(default = "minus_one")]
        end_dim: isize,
    },
    /// Dropout
    Dropout {
        /// Drop probability.
        p: f64,
    },
    /// LayerNorm over the last dim.
    LayerNorm {
        /// eps (default 1e-5).
        #[serde(default = "eps")]
        eps: f64,
    },
    /// BatchNorm1d over the feature dim.
    BatchNorm1d {
        /// eps (default 1e-5).
        #[serde(default = "eps")]
        eps: f64,
        /// momentum (default 0.1).
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    /// Token embeddings: `[N, T]` indices to `[N, T, dim]`.
    Embedding {
        /// The embedding size.
        dim: usize,
        /// The number of tokens (default: the text's vocabulary size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        num: Option<usize>,
    },
    /// An LSTM over `[N, T, features]` (batch first), returning every step's output.
    Lstm {
        /// Hidden size.
        hidden: usize,
        /// Stacked layers (default 1).
        #[serde(default = "one")]
        num_layers: usize,
        /// Dropout between stacked layers (default 0).
        #[serde(default)]
        dropout: f64,
        /// Both directions, features concatenated (default false).
        #[serde(default)]
        bidirectional: bool,
        /// With biases (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// A GRU (keys as the LSTM's).
    Gru {
        /// Hidden size.
        hidden: usize,
        /// Stacked layers (default 1).
        #[serde(default = "one")]
        num_layers: usize,
        /// Dropout between stacked layers (default 0).
        #[serde(default)]
        dropout: f64,
        /// Both directions (default false).
        #[serde(default)]
        bidirectional: bool,
        /// With biases (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// An Elman RNN with tanh or relu.
    Rnn {
        /// Hidden size.
        hidden: usize,
        /// "tanh" (default) or "relu".
        #[serde(default = "tanh_name")]
        nonlinearity: String,
        /// Stacked layers (default 1).
        #[serde(default = "one")]
        num_layers: usize,
        /// Dropout between stacked layers (default 0).
        #[serde(default)]
        dropout: f64,
        /// Both directions (default false).
        #[serde(default)]
        bidirectional: bool,
        /// With biases (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// BatchNorm2d over the channels of `[N, C, H, W]`.
    BatchNorm2d {
        /// eps (default 1e-5).
        #[serde(default = "eps")]
        eps: f64,
        /// momentum (default 0.1).
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    /// Dropout of whole channels.
    Dropout2d {
        /// Drop probability.
        p: f64,
    },
    /// 2-d convolution; the input channels come from the previous layer.
    Conv2d {
        /// Output channels.
        out: usize,
        /// Input channels (optional; checked against the previous layer).
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        /// Kernel size: `3` or `[3, 5]`.
        kernel_size: Size2,
        /// Stride (default 1).
        #[serde(default = "one2")]
        stride: Size2,
        /// Padding: `1`, `[1, 2]`, `"same"` (stride 1) or `"valid"` (default 0).
        #[serde(default)]
        padding: PaddingSpec,
        /// Dilation (default 1).
        #[serde(default = "one2")]
        dilation: Size2,
        /// Groups (default 1).
        #[serde(default = "one")]
        groups: usize,
        /// With a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// 1-d convolution over `[N, C, L]`.
    Conv1d {
        /// Output channels.
        out: usize,
        /// Input channels (optional; checked against the previous layer).
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        /// Kernel size.
        kernel_size: usize,
        /// Stride (default 1).
        #[serde(default = "one")]
        stride: usize,
        /// Padding: an integer, `"same"` (stride 1) or `"valid"` (default 0).
        #[serde(default)]
        padding: PaddingSpec,
        /// Dilation (default 1).
        #[serde(default = "one")]
        dilation: usize,
        /// Groups (default 1).
        #[serde(default = "one")]
        groups: usize,
        /// With a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Transposed 2-d convolution.
    ConvTranspose2d {
        /// Output channels.
        out: usize,
        /// Input channels (optional; checked against the previous layer).
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        /// Kernel size.
        kernel_size: Size2,
        /// Stride (default 1).
        #[serde(default = "one2")]
        stride: Size2,
        /// Padding (default 0).
        #[serde(default = "zero2")]
        padding: Size2,
        /// Extra rows/columns on one side of the output (default 0).
        #[serde(default = "zero2")]
        output_padding: Size2,
        /// Dilation (default 1).
        #[serde(default = "one2")]
        dilation: Size2,
        /// Groups (default 1).
        #[serde(default = "one")]
        groups: usize,
        /// With a bias (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// 2-d max pooling.
    MaxPool2d {
        /// Window.
        kernel_size: Size2,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding (default 0; at most half the window).
        #[serde(default = "zero2")]
        padding: Size2,
        /// Dilation (default 1).
        #[serde(default = "one2")]
        dilation: Size2,
        /// Round the output size up (default false).
        #[serde(default)]
        ceil_mode: bool,
    },
    /// 2-d average pooling.
    AvgPool2d {
        /// Window.
        kernel_size: Size2,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding (default 0).
        #[serde(default = "zero2")]
        padding: Size2,
        /// Round the output size up (default false).
        #[serde(default)]
        ceil_mode: bool,
        /// Count the padding zeros in the divisor (default true).
        #[serde(default = "yes")]
        count_include_pad: bool,
    },
    /// Average pooling to a fixed size.
    AdaptiveAvgPool2d {
        /// The output size: `1` or `[h, w]`.
        output_size: Size2,
    },
    /// 1-d max pooling.
    MaxPool1d {
        /// Window.
        kernel_size: usize,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<usize>,
        /// Padding (default 0).
        #[serde(default)]
        padding: usize,
        /// Dilation (default 1).
        #[serde(default = "one")]
        dilation: usize,
        /// Round the output size up (default false).
        #[serde(default)]
        ceil_mode: bool,
    },
    /// 1-d average pooling.
    AvgPool1d {
        /// Window.
        kernel_size: usize,
        /// Stride (default: the window).
        #[serde(default)]
        stride: Option<usize>,
        /// Padding (default 0).
        #[serde(default)]
        padding: usize,
        /// Round the output size up (default false).
        #[serde(default)]
        ceil_mode: bool,
        /// Count the padding zeros in the divisor (default true).
        #[serde(default = "yes")]
        count_include_pad: bool,
    },
}

/// A size given as one integer (both dims) or a `[h, w]` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    /// The same for height and width.
    One(usize),
    /// `[height, width]`.
    Two([usize; 2]),
}

impl Size2 {
    /// (height, width).
    pub fn pair(self) -> (usize, usize) {
        match self {
            Size2::One(v) => (v, v),
            Size2::Two([h, w]) => (h, w),
        }
    }
}

/// A convolution's padding: sizes, `"same"` or `"valid"` (= 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaddingSpec {
    /// Explicit sizes.
    Size(Size2),
    /// `"same"` or `"valid"`.
    Mode(String),
}

impl Default for PaddingSpec {
    fn default() -> Self {
        PaddingSpec::Size(Size2::One(0))
    }
}

fn one() -> usize {
    1
}
fn tanh_name() -> String {
    "tanh".into()
}
fn one2() -> Size2 {
    Size2::One(1)
}
fn zero2() -> Size2 {
    Size2::One(0)
}
fn one_i() -> isize {
    1
}
fn minus_one() -> isize {
    -1
}

fn slope() -> f64 {
    0.01
}
fn eps() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}

impl LayerSpec {
    /// A linear layer of `out` features with the defaults (bias, PyTorch's init).
    pub fn linear(out: usize) -> Self {
        LayerSpec::Linear {
            out,
            input: None,
            bias: true,
            init: None,
        }
    }

    /// Checks the values serde's types cannot (ranges); the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            LayerSpec::Dropout { p } if !(0.0..1.0).contains(p) => {
                Err(format!("p must be in [0, 1), got {p}"))
            }
            LayerSpec::Linear { out: 0, .. } => Err("out must be at least 1".into()),
            LayerSpec::Gelu {
                approximate: Some(a),
            } if a != "none" && a != "tanh" => Err(format!(
                "approximate must be \"none\" or \"tanh\", got \"{a}\""
            )),
            LayerSpec::LayerNorm { eps }
            | LayerSpec::BatchNorm1d { eps, .. }
            | LayerSpec::BatchNorm2d { eps, .. }
                if !(eps.is_finite() && *eps > 0.0) =>
            {
                Err(format!("eps must be positive, got {eps}"))
            }
            LayerSpec::BatchNorm1d { momentum, .. } | LayerSpec::BatchNorm2d { momentum, .. }
                if !(0.0..=1.0).contains(momentum) =>
            {
                Err(format!("momentum must be in [0, 1], got {momentum}"))
            }
            LayerSpec::Embedding { dim: 0, .. } => Err("dim must be at least 1".into()),
            LayerSpec::Embedding { num: Some(0), .. } => Err("num must be at least 1".into()),
            LayerSpec::Lstm { hidden, num_layers, dropout, .. }
            | LayerSpec::Gru { hidden, num_layers, dropout, .. }
            | LayerSpec::Rnn { hidden, num_layers, dropout, .. }
                if *hidden == 0 || *num_layers == 0 || !(0.0..1.0).contains(dropout) =>
            {
                Err(format!(
                    "hidden and num_layers must be at least 1 and dropout in [0, 1), got hidden = {hidden}, num_layers = {num_layers}, dropout = {dropout}"
                ))
            }
            LayerSpec::Rnn { nonlinearity, .. } if nonlinearity != "tanh" && nonlinearity != "relu" => {
                Err(format!("nonlinearity must be \"tanh\" or \"relu\", got \"{nonlinearity}\""))
            }
            LayerSpec::Dropout2d { p } if !(0.0..1.0).contains(p) => {
                Err(format!("p must be in [0, 1), got {p}"))
            }
            LayerSpec::Conv2d { out: 0, .. }
            | LayerSpec::Conv1d { out: 0, .. }
            | LayerSpec::ConvTranspose2d { out: 0, .. } => Err("out must be at least 1".into()),
            LayerSpec::Conv2d {
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                ..
            } => {
                positive2("kernel_size", *kernel_size)?;
                positive2("stride", *stride)?;
                positive2("dilation", *dilation)?;
                check_groups(*groups)?;
                check_padding(padding, stride.pair() == (1, 1))
            }
            LayerSpec::Conv1d {
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                ..
            } => {
                positive2("kernel_size", Size2::One(*kernel_size))?;
                positive2("stride", Size2::One(*stride))?;
                positive2("dilation", Size2::One(*dilation))?;
                check_groups(*groups)?;
                check_padding(padding, *stride == 1)
            }
            LayerSpec::ConvTranspose2d {
                kernel_size,
                stride,
                dilation,
                groups,
                ..
            } => {
                positive2("kernel_size", *kernel_size)?;
                positive2("stride", *stride)?;
                positive2("dilation", *dilation)?;
                check_groups(*groups)
            }
            LayerSpec::MaxPool2d {
                kernel_size,
                stride,
                dilation,
                ..
            } => {
                positive2("kernel_size", *kernel_size)?;
                positive2("dilation", *dilation)?;
                stride.map_or(Ok(()), |s| positive2("stride", s))
            }
            LayerSpec::AvgPool2d {
                kernel_size,
                stride,
                ..
            } => {
                positive2("kernel_size", *kernel_size)?;
                stride.map_or(Ok(()), |s| positive2("stride", s))
            }
            LayerSpec::AdaptiveAvgPool2d { output_size } => positive2("output_size", *output_size),
            LayerSpec::MaxPool1d {
                kernel_size,
                stride,
                dilation,
                ..
            } => {
                positive2("kernel_size", Size2::One(*kernel_size))?;
                positive2("dilation", Size2::One(*dilation))?;
                stride.map_or(Ok(()), |s| positive2("stride", Size2::One(s)))
            }
            LayerSpec::AvgPool1d {
                kernel_size,
                stride,
                ..
            } => {
                positive2("kernel_size", Size2::One(*kernel_size))?;
                stride.map_or(Ok(()), |s| positive2("stride", Size2::One(s)))
            }
            _ => Ok(()),
        }
    }

    /// The layer type as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Relu => "relu",
            LayerSpec::LeakyRelu { .. } => "leaky_relu",
            LayerSpec::Sigmoid => "sigmoid",
            LayerSpec::Tanh => "tanh",
            LayerSpec::Gelu { .. } => "gelu",
            LayerSpec::Silu => "silu",
            LayerSpec::Softmax => "softmax",
            LayerSpec::Flatten { .. } => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::LayerNorm { .. } => "layer_norm",
            LayerSpec::BatchNorm1d { .. } => "batch_norm1d",
            LayerSpec::BatchNorm2d { .. } => "batch_norm2d",
            LayerSpec::Embedding { .. } => "embedding",
            LayerSpec::Lstm { .. } => "lstm",
            LayerSpec::Gru { .. } => "gru",
            LayerSpec::Rnn { .. } => "rnn",
            LayerSpec::Dropout2d { .. } => "dropout2d",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::Conv1d { .. } => "conv1d",
            LayerSpec::ConvTranspose2d { .. } => "conv_transpose2d",
            LayerSpec::MaxPool2d { .. } => "max_pool2d",
            LayerSpec::AvgPool2d { .. } => "avg_pool2d",
            LayerSpec::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d",
            LayerSpec::MaxPool1d { .. } => "max_pool1d",
            LayerSpec::AvgPool1d { .. } => "avg_pool1d",
        }
    }
}

fn positive2(key: &str, v: Size2) -> Result<(), String> {
    let (h, w) = v.pair();
    if h == 0 || w == 0 {
        return Err(format!("{key} must be at least 1, got {v:?}"));
    }
    Ok(())
}

fn check_groups(g: usize) -> Result<(), String> {
    if g == 0 {
        return Err("groups must be at least 1".into());
    }
    Ok(())
}

fn check_padding(p: &PaddingSpec, stride_one: bool) -> Result<(), String> {
    match p {
        PaddingSpec::Mode(m) if m == "same" && !stride_one => {
            Err("padding = \"same\" needs stride 1 (as PyTorch)".into())
        }
        PaddingSpec::Mode(m) if m != "same" && m != "valid" => Err(format!(
            "padding must be a size, \"same\" or \"valid\", got \"{m}\""
        )),
        _ => Ok(()),
    }
}

/// `[train.optimizer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// SGD
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        #[serde(default)]
        momentum: f64,
        /// Dampening.
        #[serde(default)]
        dampening: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam
    Adam {
        /// Learning rate (default 1e-3).
        #[serde(default = "adam_lr")]
        lr: f64,
        /// β₁, β₂.
        #[serde(default = "betas")]
        betas: [f64; 2],
        /// ε.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f64,
        /// AMSGrad.
        #[serde(default)]
        amsgrad: bool,
    },
    /// AdamW
    Adamw {
        /// Learning rate (default 1e-3).
        #[serde(default = "adam_lr")]
        lr: f64,
        /// β₁, β₂.
        #[serde(default = "betas")]
        betas: [f64; 2],
        /// ε.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// Decoupled weight decay (default 0.01).
        #[serde(default = "adamw_wd")]
        weight_decay: f64,
    },
    /// RMSprop
    Rmsprop {
        /// Learning rate (default 0.01).
        #[serde(default = "rms_lr")]
        lr: f64,
        /// Smoothing constant.
        #[serde(default = "rms_alpha")]
        alpha: f64,
        /// ε.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// Momentum.
        #[serde(default)]
        momentum: f64,
        /// Centered.
        #[serde(default)]
        centered: bool,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adagrad
    Adagrad {
        /// Learning rate (default 0.01).
        #[serde(default = "rms_lr")]
        lr: f64,
        /// Learning-rate decay.
        #[serde(default)]
        lr_decay: f64,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f64,
    },
}

fn adam_lr() -> f64 {
    1e-3
}
fn betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn adam_eps() -> f64 {
    1e-8
}
fn adamw_wd() -> f64 {
    0.01
}
fn rms_lr() -> f64 {
    0.01
}
fn rms_alpha() -> f64 {
    0.99
}

impl OptimizerSpec {
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSpec::Sgd { lr, .. }
            | OptimizerSpec::Adam { lr, .. }
            | OptimizerSpec::Adamw { lr, .. }
            | OptimizerSpec::Rmsprop { lr, .. }
            | OptimizerSpec::Adagrad { lr, .. } => *lr,
        }
    }
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        OptimizerSpec::Adam {
            lr: adam_lr(),
            betas: betas(),
            eps: adam_eps(),
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// `[train.schedule]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// Multiply by `gamma` every `step_size` epochs.
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Factor (default 0.1).
        #[serde(default = "gamma")]
        gamma: f64,
    },
    /// Multiply by `gamma` at each milestone epoch.
    MultiStep {
        /// Epochs.
        milestones: Vec<usize>,
        /// Factor (default 0.1).
        #[serde(default = "gamma")]
        gamma: f64,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor.
        gamma: f64,
    },
    /// Cosine annealing to `eta_min` over `t_max` epochs (default: all epochs).
    Cosine {
        /// Period in epochs.
        #[serde(default)]
        t_max: Option<usize>,
        /// Final rate.
        #[serde(default)]
        eta_min: f64,
    },
    /// Linear warm-up from `start_factor` over `total_iters` steps (per step).
    Warmup {
        /// Starting factor (default 1/3).
        #[serde(default = "third")]
        start_factor: f64,
        /// Steps of warm-up.
        total_iters: usize,
    },
    /// One-cycle over the whole run (per step).
    OneCycle {
        /// Peak learning rate.
        max_lr: f64,
        /// Fraction of steps rising (default 0.3).
        #[serde(default = "pct")]
        pct_start: f64,
    },
    /// Reduce on plateau of the validation loss.
    Plateau {
        /// Factor (default 0.1).
        #[serde(default = "gamma")]
        factor: f64,
        /// Epochs without improvement (default 10).
        #[serde(default = "patience")]
        patience: usize,
    },
}

fn gamma() -> f64 {
    0.1
}
fn third() -> f64 {
    1.0 / 3.0
}
fn pct() -> f64 {
    0.3
}
fn patience() -> usize {
    10
}
