//! Adagrad: per-element learning rates from the sum of squared gradients.

use super::{check_nonneg, forward_core, Core, IntoParams, Optimizer, ParamGroup, SLOTS};
use crate::StateDict;
use nabla_core::{GradStore, Result, Tensor};

/// Adagrad (PyTorch's `torch.optim.Adagrad`).
///
/// For each parameter θ with gradient g at step t (from 1), learning rate γ, learning-rate
/// decay η, weight decay λ:
///
/// ```text
/// γ̃ ← γ / (1 + (t − 1) η)
/// g ← g + λ θ                (if λ ≠ 0)
/// s ← s + g²                 (s starts at initial_accumulator_value)
/// θ ← θ − γ̃ g / (√s + ε)
/// ```
///
/// Defaults: lr_decay 0, weight decay 0, initial_accumulator_value 0, ε = 1e-10. State: `sum`
/// and a step count (created at a parameter's first update).
pub struct Adagrad {
    core: Core,
    lr_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
}

impl Adagrad {
    const BUFFERS: [&'static str; SLOTS] = ["sum", "", ""];

    /// Adagrad over `params` with learning rate `lr` (PyTorch's default is 1e-2).
    pub fn new(params: impl IntoParams, lr: f64) -> Adagrad {
        Adagrad::with_groups(vec![ParamGroup::new(params, lr)])
    }
    /// Adagrad over parameter groups, each with its own learning rate and weight decay.
    pub fn with_groups(groups: Vec<ParamGroup>) -> Adagrad {
        Adagrad {
            core: Core::new(groups),
            lr_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
    /// Sets the learning-rate decay η (default 0).
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }
    /// Sets the L2 weight decay λ of every group (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.core.set_weight_decay(weight_decay);
        self
    }
    /// Sets the starting value of the sum of squares (default 0).
    pub fn initial_accumulator_value(mut self, v: f64) -> Self {
        self.initial_accumulator_value = v;
        self
    }
    /// Sets ε, added to the denominator (default 1e-10).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    fn required_buffers(&self) -> [bool; SLOTS] {
        [true, false, false]
    }
}

impl Optimizer for Adagrad {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let op = self.name();
        check_nonneg(op, "lr_decay", self.lr_decay)?;
        check_nonneg(op, "eps", self.eps)?;
        check_nonneg(
            op,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        let (lr_decay, init, eps) = (self.lr_decay, self.initial_accumulator_value, self.eps);
        self.core.run_step(op, grads, |p, g, st, lr, wd| {
            st.step += 1;
            let clr = lr / (1.0 + (st.step - 1) as f64 * lr_decay);
            let g = if wd != 0.0 {
                p.mul_scalar(wd)?.add(&g)?
            } else {
                g
            };
            let g2 = g.mul(&g)?;
            let sum = match st.bufs[0].take() {
                Some(s) => s.add(&g2)?,
                None if init == 0.0 => g2,
                None => Tensor::full(init, p.shape(), p.dtype()).add(&g2)?,
            };
            let std = sum.sqrt()?.add_scalar(eps)?;
            let new = p.sub(&g.div(&std)?.mul_scalar(clr)?)?;
            st.bufs[0] = Some(sum);
            Ok(new)
        })
    }
    fn name(&self) -> &'static str {
        "Adagrad"
    }
    forward_core!();
}
