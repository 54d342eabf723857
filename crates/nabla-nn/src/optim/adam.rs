//! Adam (L2 weight decay) and AdamW (decoupled weight decay), with the AMSGrad variant.

use super::{check_nonneg, err, forward_core, Core, Optimizer, PState, ParamGroup, SLOTS};
use crate::StateDict;
use nabla_core::{GradStore, Result, Tensor, Var};

/// The hyperparameters Adam and AdamW share.
#[derive(Clone, Copy)]
struct AdamConfig {
    beta1: f64,
    beta2: f64,
    eps: f64,
    amsgrad: bool,
    /// AdamW: weight decay shrinks θ directly instead of adding λθ to the gradient.
    decoupled: bool,
}

impl AdamConfig {
    fn check(&self, op: &'static str) -> Result<()> {
        for (what, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(err(op, format!("invalid {what} {b} (must be in [0, 1))")));
            }
        }
        check_nonneg(op, "eps", self.eps)
    }

    /// One update of parameter `p` with gradient `g`.
    fn update(&self, p: &Tensor, g: Tensor, st: &mut PState, lr: f64, wd: f64) -> Result<Tensor> {
        let (b1, b2) = (self.beta1, self.beta2);
        let mut p = p.clone();
        let mut g = g;
        if wd != 0.0 {
            if self.decoupled {
                p = p.mul_scalar(1.0 - lr * wd)?;
            } else {
                g = p.mul_scalar(wd)?.add(&g)?;
            }
        }
        st.step += 1;
        let t = st.step as f64;
        // exp_avg (m) and exp_avg_sq (v) start at zero: the first update is the weighted term.
        let m = match st.bufs[0].take() {
            Some(m) => m.mul_scalar(b1)?.add(&g.mul_scalar(1.0 - b1)?)?,
            None => g.mul_scalar(1.0 - b1)?,
        };
        let g2 = g.mul(&g)?.mul_scalar(1.0 - b2)?;
        let v = match st.bufs[1].take() {
            Some(v) => v.mul_scalar(b2)?.add(&g2)?,
            None => g2,
        };
        let bias_correction1 = 1.0 - b1.powf(t);
        let bias_correction2_sqrt = (1.0 - b2.powf(t)).sqrt();
        let step_size = lr / bias_correction1;
        let denom = if self.amsgrad {
            let vmax = match st.bufs[2].take() {
                Some(vmax) => vmax.maximum(&v)?,
                None => v.clone(),
            };
            let d = vmax.sqrt()?;
            st.bufs[2] = Some(vmax);
            d
        } else {
            v.sqrt()?
        };
        // (√v / √(1 − β₂ᵗ)) + ε in one pass
        let denom = denom.affine(1.0 / bias_correction2_sqrt, self.eps)?;
        let new = p.sub(&m.div(&denom)?.mul_scalar(step_size)?)?;
        st.bufs[0] = Some(m);
        st.bufs[1] = Some(v);
        Ok(new)
    }
}

/// Builder methods shared by Adam and AdamW.
macro_rules! adam_builders {
    () => {
        /// Sets the moment decay rates (β₁, β₂) (default (0.9, 0.999)).
        pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
            self.cfg.beta1 = beta1;
            self.cfg.beta2 = beta2;
            self
        }
        /// Sets ε, added to the denominator (default 1e-8).
        pub fn eps(mut self, eps: f64) -> Self {
            self.cfg.eps = eps;
            self
        }
        /// Turns the AMSGrad variant on or off (default off): the denominator uses the
        /// running maximum of the second-moment estimate (state `max_exp_avg_sq`).
        pub fn amsgrad(mut self, amsgrad: bool) -> Self {
            self.cfg.amsgrad = amsgrad;
            self
        }
        /// Sets the weight decay λ of every group.
        pub fn weight_decay(mut self, weight_decay: f64) -> Self {
            self.core.set_weight_decay(weight_decay);
            self
        }

        const BUFFERS: [&'static str; SLOTS] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

        fn required_buffers(&self) -> [bool; SLOTS] {
            [true, true, self.cfg.amsgrad]
        }

        fn config(decoupled: bool) -> AdamConfig {
            AdamConfig {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                amsgrad: false,
                decoupled,
            }
        }
    };
}

macro_rules! adam_optimizer {
    () => {
        fn step(&mut self, grads: &GradStore) -> Result<()> {
            let op = self.name();
            let cfg = self.cfg;
            cfg.check(op)?;
            self.core
                .run_step(op, grads, |p, g, st, lr, wd| cfg.update(p, g, st, lr, wd))
        }
        forward_core!();
    };
}

/// Adam (PyTorch's `torch.optim.Adam`), weight decay as an L2 term on the gradient.
///
/// For each parameter θ with gradient g at step t (from 1), learning rate γ, weight decay λ:
///
/// ```text
/// g ← g + λ θ                                   (if λ ≠ 0)
/// m ← β₁ m + (1 − β₁) g
/// v ← β₂ v + (1 − β₂) g²
/// v_max ← max(v_max, v)                         (AMSGrad; then v_max replaces v below)
/// θ ← θ − γ / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Defaults: betas (0.9, 0.999), ε = 1e-8, weight decay 0, no AMSGrad. State: `exp_avg`,
/// `exp_avg_sq`, `max_exp_avg_sq` (AMSGrad) and a step count.
/// ```
/// use nabla_core::Var;
/// use nabla_nn::optim::{Adam, Optimizer};
/// let w = Var::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let opt = Adam::new(vec![w], 1e-3).betas(0.9, 0.99).amsgrad(true);
/// assert_eq!(opt.lr(), 1e-3);
/// ```
pub struct Adam {
    core: Core,
    cfg: AdamConfig,
}

impl Adam {
    /// Adam over `params` with learning rate `lr` (PyTorch's default is 1e-3).
    pub fn new(params: Vec<Var>, lr: f64) -> Adam {
        Adam::with_groups(vec![ParamGroup::new(params, lr)])
    }
    /// Adam over parameter groups, each with its own learning rate and weight decay.
    pub fn with_groups(groups: Vec<ParamGroup>) -> Adam {
        Adam {
            core: Core::new(groups),
            cfg: Self::config(false),
        }
    }
    adam_builders!();
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }
    adam_optimizer!();
}

/// AdamW (PyTorch's `torch.optim.AdamW`): Adam with decoupled weight decay.
///
/// As [`Adam`], but instead of adding λθ to the gradient every step first shrinks the
/// parameter: `θ ← θ (1 − γ λ)`.
///
/// Defaults: betas (0.9, 0.999), ε = 1e-8, weight decay 0.01 (set by [`AdamW::new`];
/// [`AdamW::with_groups`] keeps each group's own), no AMSGrad.
/// ```
/// use nabla_core::Var;
/// use nabla_nn::optim::{AdamW, Optimizer};
/// let w = Var::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let opt = AdamW::new(vec![w], 1e-3);
/// assert_eq!(opt.groups()[0].weight_decay, 0.01);
/// ```
pub struct AdamW {
    core: Core,
    cfg: AdamConfig,
}

impl AdamW {
    /// AdamW over `params` with learning rate `lr` and weight decay 0.01.
    pub fn new(params: Vec<Var>, lr: f64) -> AdamW {
        AdamW::with_groups(vec![ParamGroup::new(params, lr).with_weight_decay(0.01)])
    }
    /// AdamW over parameter groups, each with its own learning rate and weight decay (as
    /// given: [`ParamGroup::new`] has weight decay 0).
    pub fn with_groups(groups: Vec<ParamGroup>) -> AdamW {
        AdamW {
            core: Core::new(groups),
            cfg: Self::config(true),
        }
    }
    adam_builders!();
}

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        "AdamW"
    }
    adam_optimizer!();
}
