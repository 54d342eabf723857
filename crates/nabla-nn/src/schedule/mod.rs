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

/// How [`OneCycleLR`] interpolates within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anneal {
    /// `end + (start − end) / 2 · (1 + cos(π pct))` (PyTorch's `'cos'`, the default).
    Cos,
    /// `start + (end − start) · pct` (PyTorch's `'linear'`).
    Linear,
}

/// The settings of [`OneCycleLR`], with PyTorch's defaults from [`OneCycleConfig::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycleConfig {
    /// The peak learning rate (every group).
    pub max_lr: f64,
    /// The number of steps in the cycle (the scheduler may be stepped this many times).
    pub total_steps: usize,
    /// The fraction of the cycle spent increasing the rate (default 0.3).
    pub pct_start: f64,
    /// The interpolation (default [`Anneal::Cos`]).
    pub anneal: Anneal,
    /// The first rate is `max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// The last rate is `max_lr / div_factor / final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// Three phases (up, back down to the first rate, then down to the last rate) instead of
    /// two (default false).
    pub three_phase: bool,
}

impl OneCycleConfig {
    /// PyTorch's defaults for a cycle peaking at `max_lr` over `total_steps` steps.
    pub fn new(max_lr: f64, total_steps: usize) -> Self {
        OneCycleConfig {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

/// The 1cycle policy (PyTorch's `OneCycleLR`): the rate rises from `max_lr / div_factor` to
/// `max_lr` over the first `pct_start` of `total_steps`, then falls to
/// `max_lr / div_factor / final_div_factor` (with `three_phase`, it first falls back to the
/// starting rate). Meant to be stepped after every batch.
///
/// The optimizer's own rates are ignored (every group follows `max_lr`); momentum is not
/// cycled (PyTorch's `cycle_momentum` is not implemented).
#[derive(Debug, Clone)]
pub struct OneCycleLR {
    progress: Progress,
    cfg: OneCycleConfig,
    /// (end_step, start_lr, end_lr) per phase.
    phases: Vec<(f64, f64, f64)>,
}

impl OneCycleLR {
    /// A cycle with PyTorch's defaults; sets the rates to `max_lr / 25` now.
    ///
    /// Fails as [`OneCycleLR::with_config`].
    pub fn new(opt: &mut dyn Optimizer, max_lr: f64, total_steps: usize) -> Result<OneCycleLR> {
        Self::with_config(opt, OneCycleConfig::new(max_lr, total_steps))
    }

    /// A cycle with the given settings; sets the rates to `max_lr / div_factor` now.
    ///
    /// Fails when `total_steps` is 0, `pct_start` is outside `[0, 1]`, `max_lr` is negative or
    /// not finite, or a division factor is not positive.
    pub fn with_config(opt: &mut dyn Optimizer, cfg: OneCycleConfig) -> Result<OneCycleLR> {
        const OP: &str = "OneCycleLR";
        if cfg.total_steps == 0 {
            return Err(err(OP, "total_steps must be at least 1"));
        }
        if !(0.0..=1.0).contains(&cfg.pct_start) {
            return Err(err(
                OP,
                format!("pct_start {} must be in [0, 1]", cfg.pct_start),
            ));
        }
        check_nonneg(OP, "max_lr", cfg.max_lr)?;
        for (what, v) in [
            ("div_factor", cfg.div_factor),
            ("final_div_factor", cfg.final_div_factor),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(err(OP, format!("{what} {v} must be positive")));
            }
        }
        let initial = cfg.max_lr / cfg.div_factor;
        let min = initial / cfg.final_div_factor;
        let total = cfg.total_steps as f64;
        let up_end = cfg.pct_start * total - 1.0;
        let phases = if cfg.three_phase {
            vec![
                (up_end, initial, cfg.max_lr),
                (2.0 * cfg.pct_start * total - 2.0, cfg.max_lr, initial),
                (total - 1.0, initial, min),
            ]
        } else {
            vec![
                (up_end, initial, cfg.max_lr),
                (total - 1.0, cfg.max_lr, min),
            ]
        };
        let mut s = OneCycleLR {
            progress: Progress::default(),
            cfg,
            phases,
        };
        s.progress = Progress::start(OP, opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }

    fn lr_at(&self, _base: f64, epoch: usize) -> Result<f64> {
        if epoch > self.cfg.total_steps {
            return Err(err(
                "OneCycleLR",
                format!(
                    "tried to step {epoch} times; the cycle has total_steps = {}",
                    self.cfg.total_steps
                ),
            ));
        }
        let step = epoch as f64;
        let mut start_step = 0.0;
        let last = self.phases.len().saturating_sub(1);
        for (i, &(end_step, start_lr, end_lr)) in self.phases.iter().enumerate() {
            if step <= end_step || i == last {
                let span = end_step - start_step;
                let pct = if span == 0.0 {
                    1.0
                } else {
                    (step - start_step) / span
                };
                return Ok(match self.cfg.anneal {
                    Anneal::Cos => end_lr + (start_lr - end_lr) / 2.0 * ((PI * pct).cos() + 1.0),
                    Anneal::Linear => (end_lr - start_lr) * pct + start_lr,
                });
            }
            start_step = end_step;
        }
        Ok(self.cfg.max_lr)
    }
}
closed_form!(OneCycleLR, "OneCycleLR");

/// Whether [`ReduceLROnPlateau`]'s metric should go down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How [`ReduceLROnPlateau`] measures a significant improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Better than `best · (1 ∓ threshold)` (the default).
    Rel,
    /// Better than `best ∓ threshold`.
    Abs,
}

/// Divides the rate by a factor when a metric stops improving (PyTorch's
/// `ReduceLROnPlateau`). Step it once per epoch with `Some(metric)`.
///
/// After more than `patience` epochs without a significant improvement every group's rate
/// becomes `max(lr · factor, min_lr)` (unless that changes it by no more than `eps`), then
/// `cooldown` epochs pass before bad epochs are counted again.
///
/// Defaults: factor 0.1, patience 10, threshold 1e-4 relative, cooldown 0, min_lr 0,
/// eps 1e-8.
#[derive(Debug, Clone)]
pub struct ReduceLROnPlateau {
    mode: PlateauMode,
    factor: f64,
    patience: usize,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: usize,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: usize,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    const OP: &'static str = "ReduceLROnPlateau";

    /// A plateau schedule over `opt` (its rates are left as they are).
    pub fn new(opt: &dyn Optimizer, mode: PlateauMode) -> ReduceLROnPlateau {
        ReduceLROnPlateau {
            mode,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            best: Self::worst(mode),
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: opt.groups().iter().map(|g| g.lr).collect(),
        }
    }
    /// Sets the factor the rate is multiplied by (default 0.1; must be in `[0, 1)`, checked
    /// by [`LrScheduler::step`]).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
    /// Sets how many epochs without improvement are tolerated (default 10).
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Sets the threshold for a significant improvement and its mode (default 1e-4,
    /// [`ThresholdMode::Rel`]).
    pub fn threshold(mut self, threshold: f64, mode: ThresholdMode) -> Self {
        self.threshold = threshold;
        self.threshold_mode = mode;
        self
    }
    /// Sets how many epochs to wait after a reduction before counting bad epochs (default 0).
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// Sets the lowest rate of every group (default 0).
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }
    /// Sets the smallest change of rate that is applied (default 1e-8).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// The best metric seen so far (±infinity before the first).
    pub fn best(&self) -> f64 {
        self.best
    }
    /// Epochs since the last significant improvement.
    pub fn num_bad_epochs(&self) -> usize {
        self.num_bad_epochs
    }

    fn worst(mode: PlateauMode) -> f64 {
        match mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    fn is_better(&self, a: f64) -> bool {
        let (best, t) = (self.best, self.threshold);
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - t),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - t,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (t + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + t,
        }
    }

    fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.factor) {
            return Err(err(
                Self::OP,
                format!("factor {} must be in [0, 1)", self.factor),
            ));
        }
        check_nonneg(Self::OP, "threshold", self.threshold)?;
        check_nonneg(Self::OP, "min_lr", self.min_lr)?;
        check_nonneg(Self::OP, "eps", self.eps)
    }
}

impl LrScheduler for ReduceLROnPlateau {
    fn step(&mut self, opt: &mut dyn Optimizer, metric: Option<f64>) -> Result<()> {
        self.check()?;
        let Some(current) = metric else {
            return Err(err(
                Self::OP,
                "step needs the monitored metric (Some(value))",
            ));
        };
        let n = opt.groups().len();
        if n != self.last_lr.len() {
            return Err(err(
                Self::OP,
                format!(
                    "the scheduler was built for {} parameter groups but the optimizer has {n}",
                    self.last_lr.len()
                ),
            ));
        }
        self.last_epoch += 1;
        if self.is_better(current) {
            self.best = current;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            for g in opt.groups_mut() {
                let old = g.lr;
                let new = (old * self.factor).max(self.min_lr);
                if old - new > self.eps {
                    g.lr = new;
                }
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = opt.groups().iter().map(|g| g.lr).collect();
        Ok(())
    }
    fn last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }
    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        sd.scalars
            .insert("last_epoch".into(), self.last_epoch as f64);
        sd.scalars.insert("best".into(), self.best);
        sd.scalars
            .insert("num_bad_epochs".into(), self.num_bad_epochs as f64);
        sd.scalars
            .insert("cooldown_counter".into(), self.cooldown_counter as f64);
        for (g, &l) in self.last_lr.iter().enumerate() {
            sd.scalars.insert(format!("last_lr.{g}"), l);
        }
        sd
    }
    fn load_state_dict(&mut self, s: &StateDict) -> Result<()> {
        let op = Self::OP;
        let mut used = BTreeSet::new();
        let last_epoch = read_count(op, s, "last_epoch", &mut used)?;
        let best = scalar(op, s, "best", &mut used)?;
        if best.is_nan() {
            return Err(err(op, "load_state_dict: entry \"best\" is NaN"));
        }
        let num_bad_epochs = read_count(op, s, "num_bad_epochs", &mut used)?;
        let cooldown_counter = read_count(op, s, "cooldown_counter", &mut used)?;
        let last_lr = read_lrs(op, s, "last_lr", self.last_lr.len(), &mut used)?;
        check_all_used(op, s, &used)?;
        self.last_epoch = last_epoch;
        self.best = best;
        self.num_bad_epochs = num_bad_epochs;
        self.cooldown_counter = cooldown_counter;
        self.last_lr = last_lr;
        Ok(())
    }
}
