//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

use super::{check_nonneg, err, forward_core, Core, Optimizer, ParamGroup, SLOTS};
use crate::StateDict;
use nabla_core::{GradStore, Result, Var};

/// Stochastic gradient descent (PyTorch's `torch.optim.SGD`).
///
/// For each parameter θ with gradient g, learning rate γ, weight decay λ, momentum μ and
/// dampening τ:
///
/// ```text
/// g ← g + λ θ                          (if λ ≠ 0)
/// b ← g on the first step, else μ b + (1 − τ) g      (if μ ≠ 0)
/// g ← g + μ b if nesterov, else b                     (if μ ≠ 0)
/// θ ← θ − γ g
/// ```
///
/// Defaults: momentum 0, dampening 0, no Nesterov, weight decay 0. State:
/// `momentum_buffer` (when μ ≠ 0) and a step count.
/// ```
/// use nabla_core::Var;
/// use nabla_nn::optim::{Optimizer, Sgd};
/// let w = Var::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let opt = Sgd::new(vec![w], 0.1).momentum(0.9).nesterov(true).weight_decay(1e-4);
/// assert_eq!(opt.name(), "SGD");
/// ```
pub struct Sgd {
    core: Core,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
}

impl Sgd {
    const BUFFERS: [&'static str; SLOTS] = ["momentum_buffer", "", ""];

    /// Plain SGD over `params` with learning rate `lr`.
    pub fn new(params: Vec<Var>, lr: f64) -> Sgd {
        Sgd::with_groups(vec![ParamGroup::new(params, lr)])
    }
    /// SGD over parameter groups, each with its own learning rate and weight decay.
    pub fn with_groups(groups: Vec<ParamGroup>) -> Sgd {
        Sgd {
            core: Core::new(groups),
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        }
    }
    /// Sets the momentum factor μ (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets the dampening τ of the momentum (default 0).
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }
    /// Turns Nesterov momentum on or off (default off); it needs momentum > 0 and zero
    /// dampening, which [`Optimizer::step`] checks.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Sets the L2 weight decay λ of every group (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.core.set_weight_decay(weight_decay);
        self
    }

    fn required_buffers(&self) -> [bool; SLOTS] {
        [self.momentum != 0.0, false, false]
    }

    fn check(&self) -> Result<()> {
        let op = self.name();
        check_nonneg(op, "momentum", self.momentum)?;
        if !self.dampening.is_finite() {
            return Err(err(op, format!("invalid dampening {}", self.dampening)));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(err(
                op,
                format!(
                    "Nesterov momentum requires a momentum > 0 and zero dampening (got momentum {}, dampening {})",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.check()?;
        let (momentum, dampening, nesterov) = (self.momentum, self.dampening, self.nesterov);
        self.core.run_step("SGD", grads, |p, g, st, lr, wd| {
            let mut d = if wd != 0.0 {
                p.mul_scalar(wd)?.add(&g)?
            } else {
                g
            };
            if momentum != 0.0 {
                let buf = match st.bufs[0].take() {
                    Some(b) if dampening == 0.0 => b.mul_scalar(momentum)?.add(&d)?,
                    Some(b) => b
                        .mul_scalar(momentum)?
                        .add(&d.mul_scalar(1.0 - dampening)?)?,
                    None => d.contiguous()?,
                };
                d = if nesterov {
                    d.add(&buf.mul_scalar(momentum)?)?
                } else {
                    buf.clone()
                };
                st.bufs[0] = Some(buf);
            }
            st.step += 1;
            p.sub(&d.mul_scalar(lr)?)
        })
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    forward_core!();
}
