//! An optimizer's config, the serde form of `train.optimizer` (`{ name = "adam", lr = 1e-3 }`):
//! the hyperparameters with PyTorch's defaults, validated, and the method that builds the
//! optimizer over parameters.

use super::{Adagrad, Adam, AdamW, Optimizer, ParamGroup, RMSprop, Sgd};
use nabla_core::Var;
use serde::{Deserialize, Serialize};

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

/// One of the optimizers, tagged by `name` (`sgd`, `adam`, `adamw`, `rmsprop`, `adagrad`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// SGD (`lr` is required, as in PyTorch).
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
    /// Adam.
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
    /// AdamW.
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
        /// Decay the parameters of rank < 2 too (biases, norm weights; default true, as
        /// PyTorch's AdamW over `model.parameters()`); false decays matrices only, as
        /// nanoGPT's parameter groups do.
        #[serde(default = "crate::config::yes")]
        decay_1d: bool,
    },
    /// RMSprop.
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
    /// Adagrad.
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

impl Default for OptimizerConfig {
    /// Adam with PyTorch's defaults.
    fn default() -> Self {
        OptimizerConfig::Adam {
            lr: adam_lr(),
            betas: betas(),
            eps: adam_eps(),
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

fn at_least_zero(key: &str, v: f64) -> Result<(), String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{key}: must be a finite number >= 0, got {v}"));
    }
    Ok(())
}

fn positive(key: &str, v: f64) -> Result<(), String> {
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{key}: must be a finite number > 0, got {v}"));
    }
    Ok(())
}

fn fraction(key: &str, v: f64) -> Result<(), String> {
    if !(0.0..1.0).contains(&v) {
        return Err(format!("{key}: must be in [0, 1), got {v}"));
    }
    Ok(())
}

impl OptimizerConfig {
    /// Tensors of state the optimizer keeps per parameter tensor, each of its size (momentum
    /// buffers, moment estimates): for the memory estimate.
    pub fn state_per_parameter(&self) -> u128 {
        match self {
            OptimizerConfig::Sgd { momentum, .. } => u128::from(*momentum != 0.0),
            OptimizerConfig::Adam { amsgrad, .. } => 2 + u128::from(*amsgrad),
            OptimizerConfig::Adamw { .. } => 2,
            OptimizerConfig::Rmsprop {
                momentum, centered, ..
            } => 1 + u128::from(*momentum != 0.0) + u128::from(*centered),
            OptimizerConfig::Adagrad { .. } => 1,
        }
    }
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::Adamw { lr, .. }
            | OptimizerConfig::Rmsprop { lr, .. }
            | OptimizerConfig::Adagrad { lr, .. } => *lr,
        }
    }

    /// Checks every value against what PyTorch's constructor accepts; the message starts with
    /// the key (`betas: must be in [0, 1), got 1.5`).
    pub fn validate(&self) -> Result<(), String> {
        at_least_zero("lr", self.lr())?;
        match *self {
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => {
                at_least_zero("momentum", momentum)?;
                at_least_zero("dampening", dampening)?;
                at_least_zero("weight_decay", weight_decay)?;
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err(
                        "nesterov: needs momentum > 0 and dampening = 0 (as PyTorch)".into(),
                    );
                }
            }
            OptimizerConfig::Adam {
                betas,
                eps,
                weight_decay,
                ..
            }
            | OptimizerConfig::Adamw {
                betas,
                eps,
                weight_decay,
                ..
            } => {
                fraction("betas[0]", betas[0])?;
                fraction("betas[1]", betas[1])?;
                positive("eps", eps)?;
                at_least_zero("weight_decay", weight_decay)?;
            }
            OptimizerConfig::Rmsprop {
                alpha,
                eps,
                momentum,
                weight_decay,
                ..
            } => {
                at_least_zero("alpha", alpha)?;
                positive("eps", eps)?;
                at_least_zero("momentum", momentum)?;
                at_least_zero("weight_decay", weight_decay)?;
            }
            OptimizerConfig::Adagrad {
                lr_decay,
                weight_decay,
                ..
            } => {
                at_least_zero("lr_decay", lr_decay)?;
                at_least_zero("weight_decay", weight_decay)?;
            }
        }
        Ok(())
    }

    /// The optimizer over `params`.
    pub fn build(&self, params: Vec<Var>) -> Box<dyn Optimizer> {
        match *self {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            } => Box::new(
                Sgd::new(params, lr)
                    .momentum(momentum)
                    .dampening(dampening)
                    .nesterov(nesterov)
                    .weight_decay(weight_decay),
            ),
            OptimizerConfig::Adam {
                lr,
                betas,
                eps,
                weight_decay,
                amsgrad,
            } => Box::new(
                Adam::new(params, lr)
                    .betas(betas[0], betas[1])
                    .eps(eps)
                    .weight_decay(weight_decay)
                    .amsgrad(amsgrad),
            ),
            OptimizerConfig::Adamw {
                lr,
                betas,
                eps,
                weight_decay,
                decay_1d,
            } => {
                // nanoGPT's groups: matrices decay, biases and norm weights do not
                let groups = if decay_1d {
                    vec![ParamGroup::new(params, lr).with_weight_decay(weight_decay)]
                } else {
                    let (matrices, rest): (Vec<Var>, Vec<Var>) =
                        params.into_iter().partition(|p| p.shape().len() >= 2);
                    vec![
                        ParamGroup::new(matrices, lr).with_weight_decay(weight_decay),
                        ParamGroup::new(rest, lr),
                    ]
                };
                Box::new(
                    AdamW::with_groups(groups)
                        .betas(betas[0], betas[1])
                        .eps(eps),
                )
            }
            OptimizerConfig::Rmsprop {
                lr,
                alpha,
                eps,
                momentum,
                centered,
                weight_decay,
            } => Box::new(
                RMSprop::new(params, lr)
                    .alpha(alpha)
                    .eps(eps)
                    .momentum(momentum)
                    .centered(centered)
                    .weight_decay(weight_decay),
            ),
            OptimizerConfig::Adagrad {
                lr,
                lr_decay,
                weight_decay,
            } => Box::new(
                Adagrad::new(params, lr)
                    .lr_decay(lr_decay)
                    .weight_decay(weight_decay),
            ),
        }
    }
}
