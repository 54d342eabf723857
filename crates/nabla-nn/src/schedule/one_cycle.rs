//! PyTorch's `OneCycleLR`: warm up to a peak rate, then anneal below the start.

use super::*;

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
