//! How a run trains: [`TrainConfig`] (epochs, clipping, checkpoints, early stopping,
//! progress, health) and the [`Task`] that decides the metrics beside the loss.

use crate::progress::ProgressMode;
use crate::retention::KeepCheckpoints;
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

/// How a run trains (plain data; the CLI's `[train]` table maps onto it).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Epochs to train.
    pub epochs: usize,
    /// Clip the global gradient norm to this.
    pub clip_grad_norm: Option<f64>,
    /// Clip every gradient element to ±this.
    pub clip_grad_value: Option<f64>,
    /// Seed of the dropout stream (the data loader has its own seed).
    pub seed: u64,
    /// Where checkpoints and metrics go; nothing is written without it.
    pub out_dir: Option<PathBuf>,
    /// Also checkpoint every this many optimizer steps (always at each epoch's end).
    pub checkpoint_every: Option<u64>,
    /// Which step checkpoints to keep after writing one (default: the newest two).
    pub keep_checkpoints: KeepCheckpoints,
    /// Stop after this many epochs without improvement of the monitored loss.
    pub early_stopping_patience: Option<usize>,
    /// The improvement that counts.
    pub early_stopping_min_delta: f64,
    /// Step the schedule after every optimizer step (one-cycle, warm-up) instead of per epoch.
    pub schedule_per_step: bool,
    /// Progress display.
    pub progress: ProgressMode,
    /// What the run learns: the metrics reported beside the loss.
    pub task: Task,
    /// Anomaly mode: check every op's output and gradient, and stop at the first non-finite
    /// one naming the op and the layer (slow; see [`nabla_core::anomaly`]).
    pub detect_anomaly: bool,
    /// Record gradient health (see [`crate::health`]) every this many optimizer steps (and at
    /// step 1) into `health.jsonl`; 0 turns it off.
    pub health_every: u64,
    /// Take weight and gradient histograms at each health step (for TensorBoard; on by
    /// itself when a callback asks for them).
    pub health_histograms: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            clip_grad_norm: None,
            clip_grad_value: None,
            seed: 0,
            out_dir: None,
            checkpoint_every: None,
            keep_checkpoints: KeepCheckpoints::default(),
            early_stopping_patience: None,
            early_stopping_min_delta: 0.0,
            schedule_per_step: false,
            progress: ProgressMode::Auto,
            task: Task::Classification,
            detect_anomaly: false,
            health_every: 50,
            health_histograms: false,
        }
    }
}

impl TrainConfig {
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
        self.progress = v;
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
