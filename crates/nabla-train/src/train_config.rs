//! How a run trains: [`TrainConfig`], the one config of the `[train]` table (the loop's
//! settings and what an experiment builds from it), and the [`Task`] that decides the
//! metrics beside the loss.

use crate::progress::ProgressMode;
use crate::retention::KeepCheckpoints;
use nabla_nn::loss::LossKind;
use nabla_nn::optim::OptimizerConfig;
use nabla_nn::schedule::ScheduleConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a run learns, which decides the metrics beside the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Accuracy: the model's outputs are `[N, C]` f32/f64 logits and the targets `[N]` i64
    /// class indices (anything else is an error).
    #[default]
    Classification,
    /// MAE, RMSE and R²: outputs shaped like the float targets.
    Regression,
    /// The loss alone (custom steps such as a VAE's).
    LossOnly,
    /// Next-token prediction: the loss is cross-entropy in nats per token; bits per token
    /// (the loss / ln 2) are reported beside it.
    LanguageModel,
}

impl Task {
    /// The config spelling: `classification`, `regression`, `loss_only`, `language_model`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::LossOnly => "loss_only",
            Task::LanguageModel => "language_model",
        }
    }
}

/// How a run trains: the `[train]` table of a TOML config is its serde form (the same keys
/// and defaults), and a Rust program builds it with `Default` and the `with_*` builders. The
/// trainer reads the loop's settings (epochs, clipping, checkpoints, early stopping,
/// progress, health); an experiment reads the rest (batch size, loss, metrics, optimizer,
/// schedule, TensorBoard, the run folder) to build what it hands the trainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Epochs to train (default 10).
    #[serde(default = "epochs")]
    pub epochs: usize,
    /// Stop after this many optimizer steps, in the middle of an epoch if it falls there
    /// (that epoch's row covers the steps it ran): the run ends at `epochs` or `max_steps`,
    /// whichever comes first, and a per-step schedule spans the steps the run takes.
    /// `None`: epochs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    /// Batch size (default 64).
    #[serde(default = "batch")]
    pub batch_size: usize,
    /// The loss (default: cross_entropy, or mse for a regression; see
    /// [`TrainConfig::loss_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossKind>,
    /// Label smoothing of cross-entropy (other losses refuse it).
    #[serde(default)]
    pub label_smoothing: f64,
    /// The threshold of the huber loss (default 1.0; other losses refuse it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huber_delta: Option<f64>,
    /// The metrics of the closing line and `summary.json` (default: accuracy for
    /// classification; mae, rmse and r2 for regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<String>>,
    /// The optimizer (default Adam with PyTorch's defaults).
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleConfig>,
    /// Step the schedule after every optimizer step instead of every epoch (default: per
    /// step for warmup and one_cycle, per epoch for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_per_step: Option<bool>,
    /// Clip the global gradient norm to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Clip every gradient element to ±this (after norm clipping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_value: Option<f64>,
    /// The run's seed (init, dropout, shuffling, splits); the trainer seeds its dropout
    /// stream from it.
    #[serde(default)]
    pub seed: u64,
    /// Also checkpoint every this many optimizer steps (always at each epoch's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
    /// Which step checkpoints to keep after writing one: the newest N (default 2) or
    /// `"all"`; `best/` is kept apart.
    #[serde(default, skip_serializing_if = "is_default_keep")]
    pub keep_checkpoints: KeepCheckpoints,
    /// Stop after this many epochs without improvement of the monitored loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    /// The decrease of the monitored loss that counts as improvement (default 0).
    #[serde(default)]
    pub early_stopping_min_delta: f64,
    /// Record gradient health (see [`crate::health`]) every this many optimizer steps (and at
    /// step 1) into `health.jsonl`; 0 turns it off (default 50).
    #[serde(default = "health_every")]
    pub health_every: u64,
    /// Anomaly mode: check every op's output and gradient, and stop at the first non-finite
    /// one naming the op and the layer (slow; see [`nabla_core::anomaly`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detect_anomaly: bool,
    /// Write a TensorBoard event file into the run folder (an experiment attaches the
    /// observer; see `nabla_report::TensorBoard`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tensorboard: bool,
    /// Progress display: auto (a bar on a terminal; the default), plain or quiet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressMode>,
    /// Where checkpoints and metrics go; nothing is written without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<PathBuf>,
    /// What the run learns: the metrics reported beside the loss (an experiment sets it from
    /// its data; not a `[train]` key).
    #[serde(skip)]
    pub task: Task,
    /// Take weight and gradient histograms at each health step (on by itself when a callback
    /// asks for them; not a `[train]` key).
    #[serde(skip)]
    pub health_histograms: bool,
}

fn epochs() -> usize {
    10
}
fn batch() -> usize {
    64
}
fn health_every() -> u64 {
    50
}
fn is_default_keep(k: &KeepCheckpoints) -> bool {
    *k == KeepCheckpoints::default()
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: epochs(),
            max_steps: None,
            batch_size: batch(),
            loss: None,
            label_smoothing: 0.0,
            huber_delta: None,
            metrics: None,
            optimizer: OptimizerConfig::default(),
            schedule: None,
            schedule_per_step: None,
            clip_grad_norm: None,
            clip_grad_value: None,
            seed: 0,
            checkpoint_every: None,
            keep_checkpoints: KeepCheckpoints::default(),
            early_stopping_patience: None,
            early_stopping_min_delta: 0.0,
            health_every: health_every(),
            detect_anomaly: false,
            tensorboard: false,
            progress: None,
            out_dir: None,
            task: Task::Classification,
            health_histograms: false,
        }
    }
}

/// The most epochs a run may ask for (`train.epochs`, `--epochs`).
pub const MAX_EPOCHS: usize = 1_000_000;

fn positive(key: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(g) if !g.is_finite() || g <= 0.0 => {
            Err(format!("{key}: must be a positive finite number, got {g}"))
        }
        _ => Ok(()),
    }
}

impl TrainConfig {
    /// The loss: `loss` when given, else mse for a regression and cross_entropy otherwise.
    pub fn loss_for(&self, regression: bool) -> LossKind {
        self.loss.unwrap_or(if regression {
            LossKind::Mse
        } else {
            LossKind::CrossEntropy
        })
    }
    /// Checks the values that serde's types cannot (ranges, and keys that do not fit
    /// together); the message starts with the key (`epochs: must be at least 1`).
    pub fn validate(&self) -> Result<(), String> {
        if self.epochs == 0 {
            return Err("epochs: must be at least 1".into());
        }
        if self.epochs > MAX_EPOCHS {
            return Err(format!("epochs: at most {MAX_EPOCHS}, got {}", self.epochs));
        }
        if self.max_steps == Some(0) {
            return Err("max_steps: must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("batch_size: must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err("label_smoothing: must be in [0, 1)".into());
        }
        if let Some(l) = self.loss.filter(|l| *l != LossKind::CrossEntropy) {
            if self.label_smoothing > 0.0 {
                return Err(format!(
                    "label_smoothing: only cross_entropy smooths labels, not '{l}'"
                ));
            }
        }
        if self.huber_delta.is_some() && self.loss != Some(LossKind::Huber) {
            let l = self
                .loss
                .map_or("the default loss".to_string(), |l| format!("'{l}'"));
            return Err(format!(
                "huber_delta: only the huber loss has a delta, not {l} (set loss = \"huber\")"
            ));
        }
        positive("huber_delta", self.huber_delta)?;
        positive("clip_grad_norm", self.clip_grad_norm)?;
        positive("clip_grad_value", self.clip_grad_value)?;
        if !self.early_stopping_min_delta.is_finite() || self.early_stopping_min_delta < 0.0 {
            return Err(format!(
                "early_stopping_min_delta: must be a finite number >= 0, got {}",
                self.early_stopping_min_delta
            ));
        }
        self.optimizer
            .validate()
            .map_err(|e| format!("optimizer.{e}"))?;
        if let Some(s) = &self.schedule {
            s.validate().map_err(|e| format!("schedule.{e}"))?;
        }
        Ok(())
    }
    /// The optimizer steps a run of `steps_per_epoch` steps an epoch takes: `epochs` of
    /// them, or `max_steps` when that comes first.
    pub fn total_steps(&self, steps_per_epoch: usize) -> u64 {
        let by_epochs = (self.epochs as u64).saturating_mul(steps_per_epoch as u64);
        self.max_steps.map_or(by_epochs, |m| m.min(by_epochs))
    }
    /// The progress display (auto unless set).
    pub fn progress(&self) -> ProgressMode {
        self.progress.unwrap_or_default()
    }
    /// Sets the batch size.
    pub fn with_batch_size(mut self, v: usize) -> Self {
        self.batch_size = v;
        self
    }
    /// Sets the optimizer.
    pub fn with_optimizer(mut self, v: OptimizerConfig) -> Self {
        self.optimizer = v;
        self
    }
    /// Sets the schedule.
    pub fn with_schedule(mut self, v: ScheduleConfig) -> Self {
        self.schedule = Some(v);
        self
    }
    /// Sets the epochs.
    pub fn with_epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// Sets the output folder.
    pub fn with_out_dir(mut self, v: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(v.into());
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Sets the gradient-norm clip.
    pub fn with_clip_grad_norm(mut self, v: f64) -> Self {
        self.clip_grad_norm = Some(v);
        self
    }
    /// Checkpoints every `v` steps too.
    pub fn with_checkpoint_every(mut self, v: u64) -> Self {
        self.checkpoint_every = Some(v);
        self
    }
    /// Sets which step checkpoints are kept.
    pub fn with_keep_checkpoints(mut self, v: KeepCheckpoints) -> Self {
        self.keep_checkpoints = v;
        self
    }
    /// Sets the progress display.
    pub fn with_progress(mut self, v: ProgressMode) -> Self {
        self.progress = Some(v);
        self
    }
    /// Sets the task (the metrics beside the loss).
    pub fn with_task(mut self, v: Task) -> Self {
        self.task = v;
        self
    }
    /// Clips every gradient element to ±`v`.
    pub fn with_clip_grad_value(mut self, v: f64) -> Self {
        self.clip_grad_value = Some(v);
        self
    }
    /// Stops after `v` epochs without improvement.
    pub fn with_early_stopping(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping_patience = Some(patience);
        self.early_stopping_min_delta = min_delta;
        self
    }
}
