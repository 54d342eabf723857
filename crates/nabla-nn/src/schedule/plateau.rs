//! PyTorch's `ReduceLROnPlateau`: lower the rate when a metric stops improving.

use super::*;

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
