//! RMSprop, plain or centered, with optional momentum.

use super::{check_nonneg, forward_core, Core, IntoParams, Optimizer, ParamGroup, SLOTS};
use crate::StateDict;
use nabla_core::{GradStore, Result};

/// RMSprop (PyTorch's `torch.optim.RMSprop`).
///
/// For each parameter θ with gradient g, learning rate γ, smoothing α, weight decay λ,
/// momentum μ:
///
/// ```text
/// g ← g + λ θ                           (if λ ≠ 0)
/// v ← α v + (1 − α) g²                  (v starts at 0)
/// ṽ ← v − ḡ² with ḡ ← α ḡ + (1 − α) g   (centered; otherwise ṽ ← v)
/// b ← μ b + g / (√ṽ + ε); θ ← θ − γ b   (if μ > 0; b starts at 0)
/// θ ← θ − γ g / (√ṽ + ε)                (otherwise)
/// ```
///
/// Defaults: α = 0.99, ε = 1e-8, weight decay 0, momentum 0, not centered. State:
/// `square_avg`, `momentum_buffer` (μ > 0), `grad_avg` (centered) and a step count.
pub struct RMSprop {
    core: Core,
    alpha: f64,
    eps: f64,
    momentum: f64,
    centered: bool,
}

impl RMSprop {
    const BUFFERS: [&'static str; SLOTS] = ["square_avg", "momentum_buffer", "grad_avg"];

    /// RMSprop over `params` with learning rate `lr` (PyTorch's default is 1e-2).
    pub fn new(params: impl IntoParams, lr: f64) -> RMSprop {
        RMSprop::with_groups(vec![ParamGroup::new(params, lr)])
    }
    /// RMSprop over parameter groups, each with its own learning rate and weight decay.
    pub fn with_groups(groups: Vec<ParamGroup>) -> RMSprop {
        RMSprop {
            core: Core::new(groups),
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
        }
    }
    /// Sets the smoothing constant α (default 0.99).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets ε, added to the denominator (default 1e-8).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the L2 weight decay λ of every group (default 0).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.core.set_weight_decay(weight_decay);
        self
    }
    /// Sets the momentum factor μ (default 0).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Turns the centered variant on or off (default off): the second moment is corrected by
    /// the squared running mean of the gradient.
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    fn required_buffers(&self) -> [bool; SLOTS] {
        [true, self.momentum > 0.0, self.centered]
    }
}

impl Optimizer for RMSprop {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let op = self.name();
        check_nonneg(op, "alpha", self.alpha)?;
        check_nonneg(op, "eps", self.eps)?;
        check_nonneg(op, "momentum", self.momentum)?;
        let (alpha, eps, momentum, centered) = (self.alpha, self.eps, self.momentum, self.centered);
        self.core.run_step(op, grads, |p, g, st, lr, wd| {
            st.step += 1;
            let g = if wd != 0.0 {
                p.mul_scalar(wd)?.add(&g)?
            } else {
                g
            };
            let g2 = g.mul(&g)?.mul_scalar(1.0 - alpha)?;
            let sq = match st.bufs[0].take() {
                Some(v) => v.mul_scalar(alpha)?.add(&g2)?,
                None => g2,
            };
            let avg = if centered {
                let ga = match st.bufs[2].take() {
                    Some(a) => a.mul_scalar(alpha)?.add(&g.mul_scalar(1.0 - alpha)?)?,
                    None => g.mul_scalar(1.0 - alpha)?,
                };
                let avg = sq.sub(&ga.mul(&ga)?)?.sqrt()?;
                st.bufs[2] = Some(ga);
                avg
            } else {
                sq.sqrt()?
            };
            let avg = avg.add_scalar(eps)?;
            st.bufs[0] = Some(sq);
            let d = g.div(&avg)?;
            if momentum > 0.0 {
                let buf = match st.bufs[1].take() {
                    Some(b) => b.mul_scalar(momentum)?.add(&d)?,
                    None => d,
                };
                let new = p.sub(&buf.mul_scalar(lr)?)?;
                st.bufs[1] = Some(buf);
                Ok(new)
            } else {
                p.sub(&d.mul_scalar(lr)?)
            }
        })
    }
    fn name(&self) -> &'static str {
        "RMSprop"
    }
    forward_core!();
}
