//! The TOML training configuration: `[data]`, `[model]`, `[train]`, parsed into plain structs
//! and validated before anything trains. Errors name the key path (`train.epochs`), or the
//! layer (index, type and both shapes).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the data comes from.
    #[serde(default)]
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// How it trains.
    #[serde(default)]
    pub train: TrainSection,
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The bundled 8×8 digits (1797 images, 64 features).
    #[default]
    Digits,
    /// MNIST IDX files in a folder.
    Mnist,
    /// Fashion-MNIST IDX files in a folder.
    FashionMnist,
    /// A CSV file.
    Csv,
}

/// `[data]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// digits | mnist | fashion-mnist | csv
    #[serde(default)]
    pub dataset: DatasetKind,
    /// Folder (mnist, fashion-mnist) or file (csv); `--data` and `NABLA_DATA` override.
    #[serde(default)]
    pub path: Option<String>,
    /// CSV: the label column (a header name or a 0-based index); default the last column.
    #[serde(default)]
    pub label_column: Option<String>,
    /// CSV: whether the first row is a header (default: detected).
    #[serde(default)]
    pub header: Option<bool>,
    /// Fraction of the training data held out for validation.
    #[serde(default = "default_val")]
    pub validation_split: f64,
    /// Fraction held out as the test set (digits and CSV; MNIST has its own test files).
    #[serde(default = "default_test")]
    pub test_split: f64,
    /// CSV: standardize features (fitted on the training split only).
    #[serde(default = "yes")]
    pub standardize: bool,
}

fn default_val() -> f64 {
    0.1
}
fn default_test() -> f64 {
    0.2
}
fn yes() -> bool {
    true
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: DatasetKind::Digits,
            path: None,
            label_column: None,
            header: None,
            validation_split: default_val(),
            test_split: default_test(),
            standardize: true,
        }
    }
}

/// `[model]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Shape of one input sample (the batch dim excluded); default from the dataset.
    #[serde(default)]
    pub input_shape: Option<Vec<usize>>,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
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
    /// Flatten all but the batch dim.
    Flatten,
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
            LayerSpec::Flatten => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::LayerNorm { .. } => "layer_norm",
            LayerSpec::BatchNorm1d { .. } => "batch_norm1d",
        }
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

/// `[train]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Epochs.
    #[serde(default = "epochs")]
    pub epochs: usize,
    /// Batch size.
    #[serde(default = "batch")]
    pub batch_size: usize,
    /// cross_entropy | mse | nll
    #[serde(default = "ce")]
    pub loss: String,
    /// Label smoothing of cross-entropy (other losses refuse it).
    #[serde(default)]
    pub label_smoothing: f64,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// Clip the global gradient norm.
    #[serde(default)]
    pub clip_grad_norm: Option<f64>,
    /// The run's seed (init, dropout, shuffling, splits).
    #[serde(default)]
    pub seed: u64,
    /// Checkpoint every N optimizer steps (always at each epoch's end).
    #[serde(default)]
    pub checkpoint_every: Option<u64>,
    /// Stop after this many epochs without improvement.
    #[serde(default)]
    pub early_stopping_patience: Option<usize>,
}

fn epochs() -> usize {
    10
}
fn batch() -> usize {
    64
}
fn ce() -> String {
    "cross_entropy".into()
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            epochs: epochs(),
            batch_size: batch(),
            loss: ce(),
            label_smoothing: 0.0,
            optimizer: OptimizerSpec::default(),
            schedule: None,
            clip_grad_norm: None,
            seed: 0,
            checkpoint_every: None,
            early_stopping_patience: None,
        }
    }
}

/// The hello-world: an MLP on the bundled digits.
pub fn default_config() -> Config {
    Config {
        data: DataConfig::default(),
        model: ModelConfig {
            input_shape: Some(vec![64]),
            layers: vec![
                LayerSpec::Linear {
                    out: 128,
                    input: None,
                    bias: true,
                    init: None,
                },
                LayerSpec::Relu,
                LayerSpec::Linear {
                    out: 10,
                    input: None,
                    bias: true,
                    init: None,
                },
            ],
        },
        train: TrainSection {
            epochs: 30,
            batch_size: 32,
            ..TrainSection::default()
        },
    }
}

/// Parses a config from TOML text; `name` is used in messages.
///
/// Errors: TOML syntax (with line and column), an unknown key, a wrong value type (naming
/// the key path), an unknown layer type.
pub fn parse(text: &str, name: &str) -> Result<Config, String> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| format!("{name}: {}", one_line(&e.to_string())))?;
    let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = one_line(&e.inner().to_string());
        if path == "." || path.is_empty() {
            format!("{name}: {inner}")
        } else {
            format!("{name}: {path}: {inner}")
        }
    })?;
    validate(&cfg).map_err(|e| format!("{name}: {e}"))?;
    Ok(cfg)
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read config: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Collapses a multi-line message (toml's excerpts) into one line.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    let mut out = lines.join("; ");
    // drop toml's source excerpt markers like "3 | epochs = ..."
    out = out
        .split("; ")
        .filter(|p| {
            !p.split_once(" | ")
                .is_some_and(|(a, _)| a.trim().chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join("; ");
    out
}

/// Checks values that serde's types cannot (ranges).
pub fn validate(c: &Config) -> Result<(), String> {
    let t = &c.train;
    if t.epochs == 0 {
        return Err("train.epochs: must be at least 1".into());
    }
    if t.batch_size == 0 {
        return Err("train.batch_size: must be at least 1".into());
    }
    if !["cross_entropy", "mse", "nll"].contains(&t.loss.as_str()) {
        return Err(format!(
            "train.loss: unknown loss '{}' (cross_entropy, mse, nll)",
            t.loss
        ));
    }
    if !(0.0..1.0).contains(&t.label_smoothing) {
        return Err("train.label_smoothing: must be in [0, 1)".into());
    }
    if t.label_smoothing > 0.0 && t.loss != "cross_entropy" {
        return Err(format!(
            "train.label_smoothing: only cross_entropy smooths labels, not '{}'",
            t.loss
        ));
    }
    if let Some(g) = t.clip_grad_norm {
        if g.is_nan() || g <= 0.0 {
            return Err("train.clip_grad_norm: must be positive".into());
        }
    }
    let lr = match &t.optimizer {
        OptimizerSpec::Sgd { lr, .. }
        | OptimizerSpec::Adam { lr, .. }
        | OptimizerSpec::Adamw { lr, .. }
        | OptimizerSpec::Rmsprop { lr, .. }
        | OptimizerSpec::Adagrad { lr, .. } => *lr,
    };
    if !lr.is_finite() || lr < 0.0 {
        return Err(format!(
            "train.optimizer.lr: must be a finite number >= 0, got {lr}"
        ));
    }
    let d = &c.data;
    for (k, v) in [
        ("data.validation_split", d.validation_split),
        ("data.test_split", d.test_split),
    ] {
        if !(0.0..1.0).contains(&v) {
            return Err(format!("{k}: must be in [0, 1), got {v}"));
        }
    }
    if d.validation_split + d.test_split >= 1.0 {
        return Err("data.validation_split + data.test_split: must leave data to train on".into());
    }
    if c.model.layers.is_empty() {
        return Err("model.layers: at least one layer is needed".into());
    }
    for (i, l) in c.model.layers.iter().enumerate() {
        if let LayerSpec::Dropout { p } = l {
            if !(0.0..1.0).contains(p) {
                return Err(format!(
                    "model.layers[{i}] (dropout): p must be in [0, 1), got {p}"
                ));
            }
        }
        if let LayerSpec::Linear { out: 0, .. } = l {
            return Err(format!(
                "model.layers[{i}] (linear): out must be at least 1"
            ));
        }
        if let LayerSpec::Gelu {
            approximate: Some(a),
        } = l
        {
            if a != "none" && a != "tanh" {
                return Err(format!("model.layers[{i}] (gelu): approximate must be \"none\" or \"tanh\", got \"{a}\""));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let c = parse(
            r#"
[data]
dataset = "mnist"
path = "/data/mnist"
validation_split = 0.1

[model]
input_shape = [784]
layers = [
  { type = "linear", out = 256 },
  { type = "relu" },
  { type = "dropout", p = 0.1 },
  { type = "linear", out = 10 },
]

[train]
epochs = 3
batch_size = 64
optimizer = { name = "sgd", lr = 0.01, momentum = 0.9 }
schedule = { name = "cosine" }
clip_grad_norm = 1.0
seed = 7
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.data.dataset, DatasetKind::Mnist);
        assert_eq!(c.model.layers.len(), 4);
        assert_eq!(
            c.train.optimizer,
            OptimizerSpec::Sgd {
                lr: 0.01,
                momentum: 0.9,
                dampening: 0.0,
                nesterov: false,
                weight_decay: 0.0
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[train]\nepochs = \"ten\"\n", "c.toml").unwrap_err();
        assert!(e.contains("train.epochs") && e.contains("c.toml"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let e = parse("[train]\nepoch = 3\n", "c.toml").unwrap_err();
        assert!(e.contains("epoch"), "{e}");
        let e = parse("[model]\nlayers = [{ type = \"conv9\" }]\n", "c.toml").unwrap_err();
        assert!(e.contains("model.layers") && e.contains("conv9"), "{e}");
        let e = parse("[train\nepochs = 3\n", "c.toml").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn label_smoothing_only_with_cross_entropy() {
        for loss in ["nll", "mse"] {
            let text = format!("[train]\nloss = \"{loss}\"\nlabel_smoothing = 0.1\n[model]\nlayers = [{{ type = \"linear\", out = 10 }}]\n");
            let e = parse(&text, "c.toml").unwrap_err();
            assert!(
                e.contains("train.label_smoothing") && e.contains(loss),
                "{e}"
            );
        }
        let ok =
            "[train]\nlabel_smoothing = 0.1\n[model]\nlayers = [{ type = \"linear\", out = 10 }]\n";
        assert_eq!(parse(ok, "c.toml").unwrap().train.label_smoothing, 0.1);
    }

    #[test]
    fn default_config_is_configs_digits_mlp() {
        // its header says `nabla train` without a config trains exactly this file
        let file = parse(
            include_str!("../../../configs/digits-mlp.toml"),
            "configs/digits-mlp.toml",
        )
        .unwrap();
        assert_eq!(file, default_config());
    }
}
