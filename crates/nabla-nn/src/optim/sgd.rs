//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

use super::PState;
use super::{check_nonneg, err, forward_core, Core, IntoParams, Optimizer, ParamGroup, SLOTS};
use crate::StateDict;
use nabla_core::parallel::{self, SharedMut};
use nabla_core::{DType, Float, GradStore, Result, StorageElem, Tensor, Var};

#[derive(Clone, Copy)]
struct Hyper {
    lr: f64,
    wd: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
}

/// One fused, in-place pass of PyTorch's SGD update over a parameter.
fn sgd_update<T: Float + StorageElem>(
    var: &Var,
    g: &Tensor,
    st: &mut PState,
    h: Hyper,
) -> Result<()> {
    let g = g.data::<T>()?;
    let (lr, wd, m) = (
        T::from_f64(h.lr),
        T::from_f64(h.wd),
        T::from_f64(h.momentum),
    );
    let keep = T::from_f64(1.0 - h.dampening);
    let decay = h.wd != 0.0;
    if h.momentum == 0.0 {
        return var.with_mut::<T, _>(|p| {
            for (p, &g) in p.iter_mut().zip(g.iter()) {
                let d = if decay { g + wd * *p } else { g };
                *p = *p - lr * d;
            }
        });
    }
    let first = st.bufs[0].is_none();
    let buf = Core::buffer(st, 0, &var.as_tensor()).make_mut::<T>()?;
    let k = MomentumStep {
        lr,
        wd,
        m,
        keep,
        decay,
        first,
        nesterov: h.nesterov,
    };
    var.with_mut::<T, _>(|p| {
        // elementwise, so splitting across threads cannot change a bit
        if p.len() >= super::PAR_MIN && parallel::threads() > 1 {
            let (len, p, b) = (p.len(), SharedMut::new(p), SharedMut::new(buf));
            parallel::for_ranges(len, super::PAR_CHUNK, |r| {
                // SAFETY: for_ranges hands out disjoint ranges.
                let (p, b) = unsafe { (p.range(r.clone()), b.range(r.clone())) };
                momentum_loop(p, b, &g[r], k)
            });
        } else {
            momentum_loop(p, buf, &g, k)
        }
    })
}

#[derive(Clone, Copy)]
struct MomentumStep<T> {
    lr: T,
    wd: T,
    m: T,
    keep: T,
    decay: bool,
    first: bool,
    nesterov: bool,
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn momentum_loop<T: Float>(p: &mut [T], buf: &mut [T], g: &[T], k: MomentumStep<T>) {
    for ((p, b), &g) in p.iter_mut().zip(buf.iter_mut()).zip(g.iter()) {
        let d = if k.decay { g + k.wd * *p } else { g };
        let nb = if k.first { d } else { k.m * *b + k.keep * d };
        *b = nb;
        let step = if k.nesterov { d + k.m * nb } else { nb };
        *p = *p - k.lr * step;
    }
}

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
    pub fn new(params: impl IntoParams, lr: f64) -> Sgd {
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
        self.core
            .run_step_inplace("SGD", grads, |var, g, st, lr, wd| {
                st.step += 1;
                let h = Hyper {
                    lr,
                    wd,
                    momentum,
                    dampening,
                    nesterov,
                };
                match g.dtype() {
                    DType::F64 => sgd_update::<f64>(var, g, st, h),
                    _ => sgd_update::<f32>(var, g, st, h),
                }
            })
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    forward_core!();
}
