//! Learning-rate schedules with PyTorch's formulas: [`StepLR`], [`MultiStepLR`],
//! [`ExponentialLR`], [`CosineAnnealingLR`], [`LinearWarmup`] (PyTorch's `LinearLR` ending at
//! factor 1), [`OneCycleLR`] and [`ReduceLROnPlateau`].
//!
//! A scheduler is built over an optimizer: it takes each group's learning rate as that group's
//! base rate and (like PyTorch's constructors) sets the rate of epoch 0. Each
//! [`LrScheduler::step`] then advances one epoch (or one batch, as the caller chooses) and sets
//! every group's rate. The schedules with a formula use the closed form of epoch `e` (PyTorch's
//! `_get_closed_form_lr`), so the rate depends only on the base rate and `e`, and a restored
//! scheduler continues exactly.
//!
//! ```
//! use nabla_core::Var;
//! use nabla_nn::optim::{Optimizer, Sgd};
//! use nabla_nn::schedule::{LrScheduler, StepLR};
//! let w = Var::from_vec(vec![1.0f32], &[1]).unwrap();
//! let mut opt = Sgd::new(vec![w], 0.1);
//! let mut sched = StepLR::new(&mut opt, 2, 0.5).unwrap();
//! let mut lrs = vec![opt.lr()];
//! for _epoch in 0..4 {
//!     // ... train one epoch with opt ...
//!     sched.step(&mut opt, None).unwrap();
//!     lrs.push(opt.lr());
//! }
//! assert_eq!(lrs, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
//! ```
//!
//! # State layout
//!
//! `last_epoch`, `base_lr.{g}` and `last_lr.{g}` for every group `g`; [`ReduceLROnPlateau`]
//! saves `last_epoch`, `best`, `num_bad_epochs`, `cooldown_counter` and `last_lr.{g}`. The
//! hyperparameters (gamma, milestones, ...) are configuration and are not saved.

mod config;
pub use config::ScheduleConfig;

use crate::optim::{check_all_used, check_nonneg, err, scalar, Optimizer};
use crate::StateDict;
use nabla_core::Result;
use std::collections::BTreeSet;
use std::f64::consts::PI;

/// A learning-rate schedule.
pub trait LrScheduler: Send {
    /// Advances one epoch (or step, as the caller uses it) and sets the learning rate of every
    /// group of `opt`. `metric` is the monitored value for [`ReduceLROnPlateau`] and ignored by
    /// the others.
    ///
    /// Fails, changing nothing, when `opt` has a different number of groups than the scheduler
    /// was built for, when a hyperparameter is invalid, when [`OneCycleLR`] is stepped past its
    /// `total_steps`, or when [`ReduceLROnPlateau`] gets no metric.
    fn step(&mut self, opt: &mut dyn Optimizer, metric: Option<f64>) -> Result<()>;
    /// The learning rates the scheduler set last, one per group.
    fn last_lr(&self) -> Vec<f64>;
    /// The progress (see the [module docs](self) for the names).
    fn state_dict(&self) -> StateDict;
    /// Restores a state saved by [`LrScheduler::state_dict`] of the same kind of scheduler over
    /// the same number of groups.
    ///
    /// Fails, changing nothing, when an entry is missing, invalid or unexpected; the message
    /// names the entry.
    fn load_state_dict(&mut self, s: &StateDict) -> Result<()>;
}

/// Sets every group's rate, after checking the group count.
fn apply(op: &'static str, opt: &mut dyn Optimizer, lrs: &[f64]) -> Result<()> {
    let n = opt.groups().len();
    if n != lrs.len() {
        return Err(err(
            op,
            format!(
                "the scheduler was built for {} parameter groups but the optimizer has {n}",
                lrs.len()
            ),
        ));
    }
    for (g, &lr) in opt.groups_mut().iter_mut().zip(lrs) {
        g.lr = lr;
    }
    Ok(())
}

/// Reads an epoch counter entry.
fn read_count(
    op: &'static str,
    s: &StateDict,
    key: &str,
    used: &mut BTreeSet<String>,
) -> Result<usize> {
    let v = scalar(op, s, key, used)?;
    if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 {
        Ok(v as usize)
    } else {
        Err(err(
            op,
            format!("load_state_dict: entry \"{key}\" = {v} is not a count"),
        ))
    }
}

/// Reads `{prefix}.{g}` for `n` groups.
fn read_lrs(
    op: &'static str,
    s: &StateDict,
    prefix: &str,
    n: usize,
    used: &mut BTreeSet<String>,
) -> Result<Vec<f64>> {
    (0..n)
        .map(|g| {
            let key = format!("{prefix}.{g}");
            let v = scalar(op, s, &key, used)?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(err(
                    op,
                    format!("load_state_dict: entry \"{key}\" = {v} is not a learning rate"),
                ))
            }
        })
        .collect()
}

/// The progress of a closed-form schedule.
#[derive(Debug, Clone, Default)]
struct Progress {
    base_lrs: Vec<f64>,
    last_epoch: usize,
    last_lr: Vec<f64>,
}

impl Progress {
    /// Takes the base rates from `opt` and applies epoch 0.
    fn start(
        op: &'static str,
        opt: &mut dyn Optimizer,
        lr_at: impl Fn(f64, usize) -> Result<f64>,
    ) -> Result<Progress> {
        let base_lrs: Vec<f64> = opt.groups().iter().map(|g| g.lr).collect();
        let last_lr = base_lrs
            .iter()
            .map(|&b| lr_at(b, 0))
            .collect::<Result<Vec<_>>>()?;
        apply(op, opt, &last_lr)?;
        Ok(Progress {
            base_lrs,
            last_epoch: 0,
            last_lr,
        })
    }

    /// The rates of the next epoch.
    fn next_lrs(&self, lr_at: impl Fn(f64, usize) -> Result<f64>) -> Result<Vec<f64>> {
        let next = self.last_epoch + 1;
        self.base_lrs.iter().map(|&b| lr_at(b, next)).collect()
    }

    /// Records that the next epoch's rates `lrs` were applied.
    fn commit(&mut self, lrs: Vec<f64>) {
        self.last_epoch += 1;
        self.last_lr = lrs;
    }

    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        sd.scalars
            .insert("last_epoch".into(), self.last_epoch as f64);
        for (g, (&b, &l)) in self.base_lrs.iter().zip(&self.last_lr).enumerate() {
            sd.scalars.insert(format!("base_lr.{g}"), b);
            sd.scalars.insert(format!("last_lr.{g}"), l);
        }
        sd
    }

    fn load(&mut self, op: &'static str, s: &StateDict) -> Result<()> {
        let mut used = BTreeSet::new();
        let n = self.base_lrs.len();
        let last_epoch = read_count(op, s, "last_epoch", &mut used)?;
        let base_lrs = read_lrs(op, s, "base_lr", n, &mut used)?;
        let last_lr = read_lrs(op, s, "last_lr", n, &mut used)?;
        check_all_used(op, s, &used)?;
        *self = Progress {
            base_lrs,
            last_epoch,
            last_lr,
        };
        Ok(())
    }
}

/// Implements [`LrScheduler`] for a closed-form schedule with `fn lr_at(&self, base, epoch)`.
macro_rules! closed_form {
    ($t:ident, $name:literal) => {
        impl LrScheduler for $t {
            fn step(&mut self, opt: &mut dyn Optimizer, _metric: Option<f64>) -> Result<()> {
                let lrs = self.progress.next_lrs(|b, e| self.lr_at(b, e))?;
                apply($name, opt, &lrs)?;
                self.progress.commit(lrs);
                Ok(())
            }
            fn last_lr(&self) -> Vec<f64> {
                self.progress.last_lr.clone()
            }
            fn state_dict(&self) -> StateDict {
                self.progress.state_dict()
            }
            fn load_state_dict(&mut self, s: &StateDict) -> Result<()> {
                self.progress.load($name, s)
            }
        }
    };
}

mod one_cycle;
mod plateau;
mod warmup_cosine;
pub use one_cycle::{Anneal, OneCycleConfig, OneCycleLR};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use warmup_cosine::WarmupCosine;

/// Multiplies the rate by `gamma` every `step_size` epochs (PyTorch's `StepLR`):
/// `lr(e) = base · gamma^⌊e / step_size⌋`.
#[derive(Debug, Clone)]
pub struct StepLR {
    progress: Progress,
    step_size: usize,
    gamma: f64,
}

impl StepLR {
    /// A step schedule over `opt`'s current rates.
    ///
    /// Fails when `step_size` is 0 or `gamma` is negative or not finite.
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Result<StepLR> {
        if step_size == 0 {
            return Err(err("StepLR", "step_size must be at least 1"));
        }
        check_nonneg("StepLR", "gamma", gamma)?;
        let mut s = StepLR {
            progress: Progress::default(),
            step_size,
            gamma,
        };
        s.progress = Progress::start("StepLR", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }
    fn lr_at(&self, base: f64, epoch: usize) -> Result<f64> {
        Ok(base * self.gamma.powf((epoch / self.step_size) as f64))
    }
}
closed_form!(StepLR, "StepLR");

/// Multiplies the rate by `gamma` at each milestone epoch (PyTorch's `MultiStepLR`):
/// `lr(e) = base · gamma^(number of milestones ≤ e)`.
#[derive(Debug, Clone)]
pub struct MultiStepLR {
    progress: Progress,
    milestones: Vec<usize>,
    gamma: f64,
}

impl MultiStepLR {
    /// A milestone schedule over `opt`'s current rates; `milestones` may come in any order
    /// (a repeated milestone counts twice, as in PyTorch).
    ///
    /// Fails when `gamma` is negative or not finite.
    pub fn new(opt: &mut dyn Optimizer, milestones: &[usize], gamma: f64) -> Result<MultiStepLR> {
        check_nonneg("MultiStepLR", "gamma", gamma)?;
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        let mut s = MultiStepLR {
            progress: Progress::default(),
            milestones,
            gamma,
        };
        s.progress = Progress::start("MultiStepLR", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }
    fn lr_at(&self, base: f64, epoch: usize) -> Result<f64> {
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        Ok(base * self.gamma.powf(passed as f64))
    }
}
closed_form!(MultiStepLR, "MultiStepLR");

/// Multiplies the rate by `gamma` every epoch (PyTorch's `ExponentialLR`):
/// `lr(e) = base · gamma^e`.
#[derive(Debug, Clone)]
pub struct ExponentialLR {
    progress: Progress,
    gamma: f64,
}

impl ExponentialLR {
    /// An exponential schedule over `opt`'s current rates.
    ///
    /// Fails when `gamma` is negative or not finite.
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Result<ExponentialLR> {
        check_nonneg("ExponentialLR", "gamma", gamma)?;
        let mut s = ExponentialLR {
            progress: Progress::default(),
            gamma,
        };
        s.progress = Progress::start("ExponentialLR", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }
    fn lr_at(&self, base: f64, epoch: usize) -> Result<f64> {
        Ok(base * self.gamma.powf(epoch as f64))
    }
}
closed_form!(ExponentialLR, "ExponentialLR");

/// Cosine annealing from the base rate to `eta_min` over `t_max` epochs (PyTorch's
/// `CosineAnnealingLR`, closed form):
/// `lr(e) = eta_min + (base − eta_min) · (1 + cos(π e / t_max)) / 2`.
///
/// Past `t_max` the formula continues (the rate rises again, as in PyTorch).
#[derive(Debug, Clone)]
pub struct CosineAnnealingLR {
    progress: Progress,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// A cosine schedule over `opt`'s current rates.
    ///
    /// Fails when `t_max` is 0 or `eta_min` is negative or not finite.
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Result<CosineAnnealingLR> {
        if t_max == 0 {
            return Err(err("CosineAnnealingLR", "t_max must be at least 1"));
        }
        check_nonneg("CosineAnnealingLR", "eta_min", eta_min)?;
        let mut s = CosineAnnealingLR {
            progress: Progress::default(),
            t_max,
            eta_min,
        };
        s.progress = Progress::start("CosineAnnealingLR", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }
    fn lr_at(&self, base: f64, epoch: usize) -> Result<f64> {
        let c = (PI * epoch as f64 / self.t_max as f64).cos();
        Ok(self.eta_min + (base - self.eta_min) * (1.0 + c) / 2.0)
    }
}
closed_form!(CosineAnnealingLR, "CosineAnnealingLR");

/// Linear warm-up from `start_factor · base` to `base` over `total_iters` steps, then constant
/// (PyTorch's `LinearLR` with `end_factor = 1`):
/// `lr(e) = base · (start_factor + (1 − start_factor) · min(e, total_iters) / total_iters)`.
#[derive(Debug, Clone)]
pub struct LinearWarmup {
    progress: Progress,
    start_factor: f64,
    total_iters: usize,
}

impl LinearWarmup {
    /// A warm-up over `opt`'s current rates; sets the rates to `start_factor · base` now.
    /// `total_iters = 0` means no warm-up.
    ///
    /// Fails unless `0 < start_factor <= 1`.
    pub fn new(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        total_iters: usize,
    ) -> Result<LinearWarmup> {
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(err(
                "LinearWarmup",
                format!("start_factor {start_factor} must be in (0, 1]"),
            ));
        }
        let mut s = LinearWarmup {
            progress: Progress::default(),
            start_factor,
            total_iters,
        };
        s.progress = Progress::start("LinearWarmup", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }
    fn lr_at(&self, base: f64, epoch: usize) -> Result<f64> {
        if self.total_iters == 0 {
            return Ok(base);
        }
        let frac = epoch.min(self.total_iters) as f64 / self.total_iters as f64;
        Ok(base * (self.start_factor + (1.0 - self.start_factor) * frac))
    }
}
closed_form!(LinearWarmup, "LinearWarmup");
