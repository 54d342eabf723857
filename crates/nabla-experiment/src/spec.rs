//! The specs inside an experiment config's `[train]` table: the optimizer
//! (`train.optimizer`) and the learning-rate schedule (`train.schedule`), each the serde form
//! of the library object it builds (see [`crate::build`]). Layers are nabla-nn's
//! [`nabla_nn::LayerConfig`].

use serde::{Deserialize, Serialize};

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
