//! Adam (L2 weight decay) and AdamW (decoupled weight decay), with the AMSGrad variant.

use super::{
    check_nonneg, err, forward_core, Core, IntoParams, Optimizer, PState, ParamGroup, SLOTS,
};
use crate::StateDict;
use nabla_core::parallel::{self, SharedMut};
use nabla_core::{DType, Float, GradStore, Result, StorageElem, Tensor, Var};

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

    /// One fused, in-place pass of PyTorch's Adam/AdamW update over a parameter.
    fn update_inplace<T: Float + StorageElem>(
        &self,
        var: &Var,
        g: &Tensor,
        st: &mut PState,
        lr: f64,
        wd: f64,
    ) -> Result<()> {
        st.step += 1;
        let t = st.step as f64;
        let g = g.data::<T>()?;
        let like = var.as_tensor();
        let (b1, b2) = (T::from_f64(self.beta1), T::from_f64(self.beta2));
        let (c1, c2) = (T::from_f64(1.0 - self.beta1), T::from_f64(1.0 - self.beta2));
        let step_size = T::from_f64(lr / (1.0 - self.beta1.powf(t)));
        let inv_bc2_sqrt = T::from_f64(1.0 / (1.0 - self.beta2.powf(t)).sqrt());
        let eps = T::from_f64(self.eps);
        let shrink = T::from_f64(1.0 - lr * wd);
        let (l2, decoupled) = (T::from_f64(wd), self.decoupled && wd != 0.0);
        let coupled = !self.decoupled && wd != 0.0;
        let [b0, b1s, b2s] = &mut st.bufs;
        let m = b0
            .get_or_insert_with(|| Tensor::zeros(like.shape(), like.dtype()))
            .make_mut::<T>()?;
        let v = b1s
            .get_or_insert_with(|| Tensor::zeros(like.shape(), like.dtype()))
            .make_mut::<T>()?;
        let vmax = if self.amsgrad {
            Some(
                b2s.get_or_insert_with(|| Tensor::zeros(like.shape(), like.dtype()))
                    .make_mut::<T>()?,
            )
        } else {
            None
        };
        drop(like);
        let k = AdamStep {
            b1,
            b2,
            c1,
            c2,
            step_size,
            inv_bc2_sqrt,
            eps,
            shrink,
            l2,
            decoupled,
            coupled,
        };
        var.with_mut::<T, _>(|p| {
            // elementwise, so splitting across threads cannot change a bit
            if p.len() >= super::PAR_MIN && parallel::threads() > 1 {
                let len = p.len();
                let (p, m, v) = (SharedMut::new(p), SharedMut::new(m), SharedMut::new(v));
                let vmax = vmax.map(SharedMut::new);
                parallel::for_ranges(len, super::PAR_CHUNK, |r| {
                    // SAFETY: for_ranges hands out disjoint ranges.
                    unsafe {
                        let vm = vmax.as_ref().map(|vm| vm.range(r.clone()));
                        let (p, m, v) =
                            (p.range(r.clone()), m.range(r.clone()), v.range(r.clone()));
                        adam_loop(p, m, v, vm, &g[r], k)
                    }
                });
            } else {
                adam_loop(p, m, v, vmax, &g, k)
            }
        })
    }
}

/// Per-step constants of the fused Adam loop.
#[derive(Clone, Copy)]
struct AdamStep<T> {
    b1: T,
    b2: T,
    c1: T,
    c2: T,
    step_size: T,
    inv_bc2_sqrt: T,
    eps: T,
    shrink: T,
    l2: T,
    decoupled: bool,
    coupled: bool,
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn adam_loop<T: Float>(
    p: &mut [T],
    m: &mut [T],
    v: &mut [T],
    mut vmax: Option<&mut [T]>,
    g: &[T],
    k: AdamStep<T>,
) {
    for i in 0..p.len() {
        let mut pi = p[i];
        let mut gi = g[i];
        if k.decoupled {
            pi *= k.shrink;
        } else if k.coupled {
            gi += k.l2 * pi;
        }
        let mi = k.b1 * m[i] + k.c1 * gi;
        let vi = k.b2 * v[i] + k.c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        let vd = match vmax.as_deref_mut() {
            Some(vm) => {
                let x = vm[i].max_(vi);
                vm[i] = x;
                x
            }
            None => vi,
        };
        p[i] = pi - k.step_size * (mi / (vd.sqrt() * k.inv_bc2_sqrt + k.eps));
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
                .run_step_inplace(op, grads, |var, g, st, lr, wd| match g.dtype() {
                    DType::F64 => cfg.update_inplace::<f64>(var, g, st, lr, wd),
                    _ => cfg.update_inplace::<f32>(var, g, st, lr, wd),
                })
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
    pub fn new(params: impl IntoParams, lr: f64) -> Adam {
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
    pub fn new(params: impl IntoParams, lr: f64) -> AdamW {
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
