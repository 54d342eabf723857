//! Linear warm-up chained with cosine decay to a floor, stepped after every optimizer step:
//! the schedule nanoGPT trains with (its `get_lr`), PyTorch's `SequentialLR` of a `LinearLR`
//! and a `CosineAnnealingLR`.

use super::*;

/// `lr(s) = base · (s + 1) / (warmup + 1)` for the first `warmup` steps, then cosine decay
/// from `base` to `min_lr` until step `decay_steps`, then `min_lr`.
#[derive(Debug, Clone)]
pub struct WarmupCosine {
    progress: Progress,
    warmup: usize,
    decay_steps: usize,
    min_lr: f64,
}

impl WarmupCosine {
    /// The schedule over `opt`'s current rates (the peak).
    ///
    /// Fails when `decay_steps` is not past `warmup`, or `min_lr` is negative or not finite.
    pub fn new(
        opt: &mut dyn Optimizer,
        warmup: usize,
        decay_steps: usize,
        min_lr: f64,
    ) -> Result<WarmupCosine> {
        if decay_steps <= warmup {
            return Err(err(
                "WarmupCosine",
                format!("decay_steps {decay_steps} must be past warmup_steps {warmup}"),
            ));
        }
        if !(min_lr.is_finite() && min_lr >= 0.0) {
            return Err(err(
                "WarmupCosine",
                format!("min_lr {min_lr} must be a number >= 0"),
            ));
        }
        let mut s = WarmupCosine {
            progress: Progress::default(),
            warmup,
            decay_steps,
            min_lr,
        };
        s.progress = Progress::start("WarmupCosine", opt, |b, e| s.lr_at(b, e))?;
        Ok(s)
    }

    fn lr_at(&self, base: f64, step: usize) -> Result<f64> {
        if step < self.warmup {
            return Ok(base * (step + 1) as f64 / (self.warmup + 1) as f64);
        }
        if step >= self.decay_steps {
            return Ok(self.min_lr);
        }
        let ratio = (step - self.warmup) as f64 / (self.decay_steps - self.warmup) as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
        Ok(self.min_lr + coeff * (base - self.min_lr))
    }
}
closed_form!(WarmupCosine, "WarmupCosine");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;
    use nabla_core::Var;

    #[test]
    fn warms_up_then_decays_to_the_floor_as_nanogpt() {
        let w = Var::from_vec(vec![1.0f32], &[1]).unwrap();
        let mut opt = Sgd::new(vec![w], 1e-3);
        let mut s = WarmupCosine::new(&mut opt, 10, 110, 1e-4).unwrap();
        // nanoGPT: lr * (it + 1) / (warmup_iters + 1) at it = 0
        assert!((opt.lr() - 1e-3 / 11.0).abs() < 1e-15);
        let mut lrs = vec![opt.lr()];
        for _ in 0..120 {
            s.step(&mut opt, None).unwrap();
            lrs.push(opt.lr());
        }
        assert!((lrs[9] - 1e-3 * 10.0 / 11.0).abs() < 1e-15);
        assert!((lrs[10] - 1e-3).abs() < 1e-15, "{}", lrs[10]);
        assert!((lrs[60] - (1e-4 + 0.5 * 9e-4)).abs() < 1e-12, "{}", lrs[60]);
        assert!((lrs[110] - 1e-4).abs() < 1e-15 && (lrs[119] - 1e-4).abs() < 1e-15);
        assert!(WarmupCosine::new(&mut opt, 10, 10, 0.0).is_err());
    }
}
