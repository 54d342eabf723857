//! A learning-rate schedule's config, the serde form of `train.schedule`
//! (`{ name = "cosine" }`): its values with PyTorch's defaults, validated, and the method that
//! builds the schedule over an optimizer.

use super::{
    CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR, OneCycleConfig,
    OneCycleLR, PlateauMode, ReduceLROnPlateau, StepLR, WarmupCosine,
};
use crate::optim::Optimizer;
use nabla_core::Result;
use serde::{Deserialize, Serialize};

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

/// One of the schedules, tagged by `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
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
    /// Linear warm-up over `warmup_steps`, then cosine decay to `min_lr` at `decay_steps`
    /// (default: the run's last step), then `min_lr` (per step; nanoGPT's schedule).
    WarmupCosine {
        /// Steps of warm-up.
        warmup_steps: usize,
        /// The step where the decay ends (default: the whole run).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decay_steps: Option<usize>,
        /// The floor (default 0).
        #[serde(default)]
        min_lr: f64,
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

fn finite_nonneg(key: &str, v: f64) -> std::result::Result<(), String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{key}: must be a finite number >= 0, got {v}"));
    }
    Ok(())
}

impl ScheduleConfig {
    /// Whether the schedule steps after every optimizer step by default (warm-up and
    /// one-cycle) rather than every epoch.
    pub fn per_step(&self) -> bool {
        matches!(
            self,
            ScheduleConfig::Warmup { .. }
                | ScheduleConfig::WarmupCosine { .. }
                | ScheduleConfig::OneCycle { .. }
        )
    }

    /// Checks the values the schedule's constructor would refuse; the message starts with
    /// the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            ScheduleConfig::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return Err("step_size: must be at least 1".into());
                }
                finite_nonneg("gamma", *gamma)
            }
            ScheduleConfig::MultiStep { gamma, .. } | ScheduleConfig::Exponential { gamma } => {
                finite_nonneg("gamma", *gamma)
            }
            ScheduleConfig::Cosine { t_max, eta_min } => {
                if *t_max == Some(0) {
                    return Err("t_max: must be at least 1".into());
                }
                finite_nonneg("eta_min", *eta_min)
            }
            ScheduleConfig::Warmup {
                start_factor,
                total_iters,
            } => {
                if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                    return Err(format!(
                        "start_factor: must be in (0, 1], got {start_factor}"
                    ));
                }
                if *total_iters == 0 {
                    return Err("total_iters: must be at least 1".into());
                }
                Ok(())
            }
            ScheduleConfig::WarmupCosine {
                warmup_steps,
                decay_steps,
                min_lr,
            } => {
                if decay_steps.is_some_and(|d| d <= *warmup_steps) {
                    return Err(format!(
                        "decay_steps: must be past warmup_steps = {warmup_steps}, got {decay_steps:?}"
                    ));
                }
                finite_nonneg("min_lr", *min_lr)
            }
            ScheduleConfig::OneCycle { max_lr, pct_start } => {
                finite_nonneg("max_lr", *max_lr)?;
                if !(*pct_start > 0.0 && *pct_start < 1.0) {
                    return Err(format!("pct_start: must be in (0, 1), got {pct_start}"));
                }
                Ok(())
            }
            ScheduleConfig::Plateau { factor, .. } => {
                if !(*factor > 0.0 && *factor < 1.0) {
                    return Err(format!("factor: must be in (0, 1), got {factor}"));
                }
                Ok(())
            }
        }
    }

    /// The schedule over `opt` for a run of `epochs` epochs and `total_steps` optimizer
    /// steps (per-epoch schedules count the epochs, per-step ones the steps).
    pub fn build(
        &self,
        opt: &mut dyn Optimizer,
        epochs: usize,
        total_steps: u64,
    ) -> Result<Box<dyn LrScheduler>> {
        let total = usize::try_from(total_steps).unwrap_or(usize::MAX);
        Ok(match self.clone() {
            ScheduleConfig::Step { step_size, gamma } => {
                Box::new(StepLR::new(opt, step_size, gamma)?)
            }
            ScheduleConfig::MultiStep { milestones, gamma } => {
                Box::new(MultiStepLR::new(opt, &milestones, gamma)?)
            }
            ScheduleConfig::Exponential { gamma } => Box::new(ExponentialLR::new(opt, gamma)?),
            ScheduleConfig::Cosine { t_max, eta_min } => Box::new(CosineAnnealingLR::new(
                opt,
                t_max.unwrap_or(epochs),
                eta_min,
            )?),
            ScheduleConfig::Warmup {
                start_factor,
                total_iters,
            } => Box::new(LinearWarmup::new(opt, start_factor, total_iters)?),
            ScheduleConfig::WarmupCosine {
                warmup_steps,
                decay_steps,
                min_lr,
            } => Box::new(WarmupCosine::new(
                opt,
                warmup_steps,
                decay_steps.unwrap_or(total.max(warmup_steps + 1)),
                min_lr,
            )?),
            ScheduleConfig::OneCycle { max_lr, pct_start } => {
                let mut c = OneCycleConfig::new(max_lr, total.max(1));
                c.pct_start = pct_start;
                Box::new(OneCycleLR::with_config(opt, c)?)
            }
            ScheduleConfig::Plateau { factor, patience } => Box::new(
                ReduceLROnPlateau::new(opt, PlateauMode::Min)
                    .factor(factor)
                    .patience(patience),
            ),
        })
    }
}
