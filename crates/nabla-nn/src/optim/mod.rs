//! Optimizers with PyTorch's update rules, defaults and state: [`Sgd`], [`Adam`], [`AdamW`],
//! [`RMSprop`] and [`Adagrad`].
//!
//! An optimizer holds [`ParamGroup`]s (parameters sharing a learning rate and a weight decay,
//! like PyTorch's `param_groups`) and per-parameter state (momentum buffers, moment estimates,
//! step counts). [`Optimizer::step`] reads each parameter's gradient from a [`GradStore`]
//! (parameters without a gradient are skipped, like `p.grad is None` in PyTorch) and updates
//! the parameter in its own dtype: SGD and Adam/AdamW in one fused pass over the elements, in
//! place ([`Var::with_mut`]); RMSprop and Adagrad with tensor ops under [`no_grad`], replacing
//! the value with [`Var::set`].
//!
//! ```
//! use nabla_core::{Tensor, Var};
//! use nabla_nn::optim::{Optimizer, Sgd};
//! let w = Var::from_vec(vec![1.0f64, -2.0], &[2]).unwrap();
//! let mut opt = Sgd::new(vec![w.clone()], 0.1).momentum(0.9);
//! for _ in 0..3 {
//!     let loss = w.as_tensor().sqr().unwrap().sum().unwrap(); // gradient 2w
//!     let grads = loss.backward().unwrap();
//!     opt.step(&grads).unwrap();
//! }
//! assert!(w.as_tensor().to_vec::<f64>().unwrap()[0].abs() < 1.0);
//! ```
//!
//! # State layout
//!
//! [`Optimizer::state_dict`] writes, for group `g` and its parameter `i`:
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `group.{g}.lr` | scalar | the group's learning rate |
//! | `group.{g}.weight_decay` | scalar | the group's weight decay |
//! | `group.{g}.params` | scalar | how many parameters the group holds |
//! | `state.{g}.{i}.step` | scalar | updates applied to the parameter (absent before the first) |
//! | `state.{g}.{i}.{buffer}` | tensor | `momentum_buffer` (SGD, RMSprop), `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (Adam, AdamW), `square_avg`, `grad_avg` (RMSprop), `sum` (Adagrad) |
//!
//! The optimizer's hyperparameters (momentum, betas, ...) are configuration, not state: they
//! come from the constructor and builders and are not saved.

mod adagrad;
mod adam;
mod config;
mod rmsprop;
mod sgd;

pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use config::OptimizerConfig;
pub use rmsprop::RMSprop;
pub use sgd::Sgd;

use crate::StateDict;
use nabla_core::{no_grad, Error, GradStore, Result, Tensor, Var};
use std::collections::{BTreeSet, HashMap};

/// Parameters that share a learning rate and a weight decay (PyTorch's `param_groups`).
///
/// Give different groups different rates with an optimizer's `with_groups` constructor
/// ("per-group learning rates"); schedulers scale every group's rate.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// The parameters, in a stable order (state names use their index).
    pub params: Vec<Var>,
    /// The learning rate (`>= 0`).
    pub lr: f64,
    /// The weight decay (`>= 0`): an L2 term added to the gradient, or, for [`AdamW`], the
    /// decoupled decay `p *= 1 - lr * weight_decay`.
    pub weight_decay: f64,
}

impl ParamGroup {
    /// A group with learning rate `lr` and no weight decay.
    pub fn new(params: impl IntoParams, lr: f64) -> Self {
        ParamGroup {
            params: params.into_params(),
            lr,
            weight_decay: 0.0,
        }
    }
    /// The same group with weight decay `weight_decay`.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

/// What an optimizer takes as its parameters: `model.parameters()` as it is (named pairs),
/// a `Vec<Var>`, or a slice or array of either.
///
/// ```
/// use nabla_core::Mt19937;
/// use nabla_nn::{optim::{Adam, Optimizer}, Linear, Module};
/// let mut rng = Mt19937::new(0);
/// let model = Linear::new(4, 2, &mut rng).unwrap();
/// let opt = Adam::new(model.parameters(), 1e-3);
/// assert_eq!(opt.groups()[0].params.len(), 2);
/// ```
pub trait IntoParams {
    /// The parameters, in order.
    fn into_params(self) -> Vec<Var>;
}

impl IntoParams for Vec<Var> {
    fn into_params(self) -> Vec<Var> {
        self
    }
}
impl IntoParams for Vec<(String, Var)> {
    fn into_params(self) -> Vec<Var> {
        self.into_iter().map(|(_, v)| v).collect()
    }
}
impl IntoParams for &[Var] {
    fn into_params(self) -> Vec<Var> {
        self.to_vec()
    }
}
impl IntoParams for &[(String, Var)] {
    fn into_params(self) -> Vec<Var> {
        self.iter().map(|(_, v)| v.clone()).collect()
    }
}
impl<const N: usize> IntoParams for [Var; N] {
    fn into_params(self) -> Vec<Var> {
        self.to_vec()
    }
}
impl<const N: usize> IntoParams for [&Var; N] {
    fn into_params(self) -> Vec<Var> {
        self.iter().map(|v| (*v).clone()).collect()
    }
}

/// An optimizer: updates parameters from their gradients.
pub trait Optimizer: Send {
    /// Applies one update to every parameter that has a gradient in `grads` (the others are
    /// skipped and their state is left alone).
    ///
    /// Fails, before changing anything, when a hyperparameter or a group's learning rate or
    /// weight decay is invalid (negative, NaN, a beta outside `[0, 1)`, Nesterov without
    /// momentum or with dampening), when a parameter is not a float tensor, or when a gradient's
    /// shape or dtype differs from its parameter's, or when a parameter is listed twice; the
    /// message names the optimizer, the group and the parameter index.
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The parameter groups.
    fn groups(&self) -> &[ParamGroup];
    /// The parameter groups, mutably (to change a group's rate or weight decay).
    fn groups_mut(&mut self) -> &mut [ParamGroup];
    /// The learning rate of group 0 (0 when there is no group).
    fn lr(&self) -> f64 {
        self.groups().first().map_or(0.0, |g| g.lr)
    }
    /// Sets the learning rate of every group.
    fn set_lr(&mut self, lr: f64) {
        for g in self.groups_mut() {
            g.lr = lr;
        }
    }
    /// The state: each group's learning rate and weight decay, and every parameter's step
    /// count and buffers (see the [module docs](self) for the names).
    fn state_dict(&self) -> StateDict;
    /// Restores a state saved by [`Optimizer::state_dict`] of an optimizer of the same kind
    /// built over parameters of the same shapes.
    ///
    /// Fails, changing nothing, when an entry is missing, has the wrong shape or dtype, is not
    /// a valid number, or is not expected (e.g. a state from another optimizer kind or with
    /// more groups); the message names the entry.
    fn load_state_dict(&mut self, s: &StateDict) -> Result<()>;
    /// The optimizer's name as PyTorch spells it (`SGD`, `Adam`, `AdamW`, `RMSprop`,
    /// `Adagrad`).
    fn name(&self) -> &'static str;
}

/// Implements the `Optimizer` methods that only forward to `self.core`.
macro_rules! forward_core {
    () => {
        fn groups(&self) -> &[ParamGroup] {
            &self.core.groups
        }
        fn groups_mut(&mut self) -> &mut [ParamGroup] {
            &mut self.core.groups
        }
        fn state_dict(&self) -> StateDict {
            self.core.state_dict(&Self::BUFFERS)
        }
        fn load_state_dict(&mut self, s: &StateDict) -> Result<()> {
            let required = self.required_buffers();
            self.core.load(self.name(), s, &Self::BUFFERS, required)
        }
    };
}
pub(crate) use forward_core;

/// Number of buffer slots a parameter's state has.
pub(crate) const SLOTS: usize = 3;

/// Parameters with at least this many elements are updated by all threads
/// ([`nabla_core::parallel`])...
pub(crate) const PAR_MIN: usize = 1 << 15;
/// ...in chunks of this many elements.
pub(crate) const PAR_CHUNK: usize = 1 << 13;

/// One parameter's state: its step count and up to three buffers (named per optimizer).
#[derive(Clone, Default)]
pub(crate) struct PState {
    pub(crate) step: u64,
    pub(crate) bufs: [Option<Tensor>; SLOTS],
}

/// A parameter to update: where it lives, the parameter and its (detached) gradient.
pub(crate) struct Work {
    g: usize,
    i: usize,
    /// The parameter (not a clone of its value, which would make in-place updates copy).
    var: Var,
    grad: Tensor,
}

/// What every optimizer shares: the groups and the per-parameter state.
pub(crate) struct Core {
    pub(crate) groups: Vec<ParamGroup>,
    /// `state[g][i]`, `None` before the parameter's first update.
    state: Vec<Vec<Option<PState>>>,
}

/// An error of optimizer `op`.
pub(crate) fn err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Arg {
        op,
        msg: msg.into(),
    }
}

/// Fails unless `v` is finite and `>= 0`.
pub(crate) fn check_nonneg(op: &'static str, what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(err(
            op,
            format!("invalid {what} {v} (must be finite and >= 0)"),
        ))
    }
}

impl Core {
    pub(crate) fn new(groups: Vec<ParamGroup>) -> Core {
        let state = groups.iter().map(|g| vec![None; g.params.len()]).collect();
        Core { groups, state }
    }

    /// Sets every group's weight decay.
    pub(crate) fn set_weight_decay(&mut self, wd: f64) {
        for g in &mut self.groups {
            g.weight_decay = wd;
        }
    }

    /// Validates the groups and gradients and lists the parameters to update.
    fn collect(&mut self, op: &'static str, grads: &GradStore) -> Result<Vec<Work>> {
        let mut work = Vec::new();
        let mut seen = HashMap::new();
        for (g, group) in self.groups.iter().enumerate() {
            check_nonneg(op, &format!("learning rate of group {g}:"), group.lr)?;
            check_nonneg(
                op,
                &format!("weight decay of group {g}:"),
                group.weight_decay,
            )?;
            for (i, var) in group.params.iter().enumerate() {
                if let Some((g0, i0)) = seen.insert(var.id(), (g, i)) {
                    return Err(err(
                        op,
                        format!("group {g} param {i} is the same parameter as group {g0} param {i0}; list each parameter once"),
                    ));
                }
                let Some(grad) = var.grad(grads) else {
                    continue;
                };
                let param = var.as_tensor();
                if !param.dtype().is_float() {
                    return Err(err(
                        op,
                        format!(
                            "group {g} param {i}: needs a float parameter, got {}",
                            param.dtype()
                        ),
                    ));
                }
                if grad.shape() != param.shape() || grad.dtype() != param.dtype() {
                    return Err(err(
                        op,
                        format!(
                            "group {g} param {i}: gradient {} {:?} differs from the parameter's {} {:?}",
                            grad.dtype(),
                            grad.shape(),
                            param.dtype(),
                            param.shape()
                        ),
                    ));
                }
                work.push(Work {
                    g,
                    i,
                    var: var.clone(),
                    grad: grad.detach(),
                });
            }
        }
        // The state must fit the parameters (a var may have been cast since the last step).
        for w in &work {
            if let Some(Some(st)) = self.state.get_mut(w.g).and_then(|r| r.get_mut(w.i)) {
                for b in st.bufs.iter_mut().flatten() {
                    if b.shape() != w.var.shape() {
                        return Err(err(
                            op,
                            format!(
                                "group {} param {}: state buffer shape {:?} differs from the parameter's {:?} (was the parameter replaced?)",
                                w.g,
                                w.i,
                                b.shape(),
                                w.var.shape()
                            ),
                        ));
                    }
                    if b.dtype() != w.var.dtype() {
                        *b = b.to_dtype(w.var.dtype())?;
                    }
                }
            }
        }
        Ok(work)
    }

    /// The state slot of group `g`'s parameter `i`, created empty when absent.
    fn slot(&mut self, g: usize, i: usize) -> &mut PState {
        if self.state.len() <= g {
            self.state.resize_with(g + 1, Vec::new);
        }
        let row = &mut self.state[g];
        if row.len() <= i {
            row.resize(i + 1, None);
        }
        row[i].get_or_insert_with(PState::default)
    }

    /// Runs one step: validates, then for every parameter with a gradient calls
    /// `update(param, grad, state, lr, weight_decay)` under `no_grad` and stores the result.
    pub(crate) fn run_step(
        &mut self,
        op: &'static str,
        grads: &GradStore,
        mut update: impl FnMut(&Tensor, Tensor, &mut PState, f64, f64) -> Result<Tensor>,
    ) -> Result<()> {
        self.run_step_inplace(op, grads, |var, g, st, lr, wd| {
            let new = update(&var.as_tensor(), g.clone(), st, lr, wd)?;
            var.set(&new)
        })
    }

    /// Like [`Core::run_step`], but `update` changes the parameter in place (through
    /// [`Var::with_mut`]) and its buffers with [`Tensor::make_mut`]: one fused pass, no new
    /// buffers once the graph of the step is gone.
    pub(crate) fn run_step_inplace(
        &mut self,
        op: &'static str,
        grads: &GradStore,
        mut update: impl FnMut(&Var, &Tensor, &mut PState, f64, f64) -> Result<()>,
    ) -> Result<()> {
        let work = self.collect(op, grads)?;
        let _guard = no_grad();
        for Work { g, i, var, grad } in work {
            // `collect` built the work list from these groups
            let (lr, wd) = (self.groups[g].lr, self.groups[g].weight_decay);
            let st = self.slot(g, i);
            update(&var, &grad, st, lr, wd)?;
        }
        Ok(())
    }

    /// A zero buffer shaped like `like` in slot `k` of `st` (created on first use), for
    /// writing in place.
    pub(crate) fn buffer<'a>(st: &'a mut PState, k: usize, like: &Tensor) -> &'a mut Tensor {
        st.bufs[k].get_or_insert_with(|| Tensor::zeros(like.shape(), like.dtype()))
    }

    /// The state, with buffer slot `k` saved as `names[k]`.
    pub(crate) fn state_dict(&self, names: &[&'static str; SLOTS]) -> StateDict {
        let mut sd = StateDict::new();
        for (g, group) in self.groups.iter().enumerate() {
            sd.scalars.insert(format!("group.{g}.lr"), group.lr);
            sd.scalars
                .insert(format!("group.{g}.weight_decay"), group.weight_decay);
            sd.scalars
                .insert(format!("group.{g}.params"), group.params.len() as f64);
            let Some(row) = self.state.get(g) else {
                continue;
            };
            for (i, st) in row.iter().enumerate().take(group.params.len()) {
                let Some(st) = st else { continue };
                sd.scalars
                    .insert(format!("state.{g}.{i}.step"), st.step as f64);
                for (name, buf) in names.iter().zip(&st.bufs) {
                    if let (false, Some(t)) = (name.is_empty(), buf) {
                        sd.tensors
                            .insert(format!("state.{g}.{i}.{name}"), t.clone());
                    }
                }
            }
        }
        sd
    }

    /// Restores a state; slot `k` is read from `names[k]`, and must be present when
    /// `required[k]` (for parameters that have a step count).
    pub(crate) fn load(
        &mut self,
        op: &'static str,
        s: &StateDict,
        names: &[&'static str; SLOTS],
        required: [bool; SLOTS],
    ) -> Result<()> {
        let mut used: BTreeSet<String> = BTreeSet::new();
        let mut hyper = Vec::with_capacity(self.groups.len());
        let mut state = Vec::with_capacity(self.groups.len());
        for (g, group) in self.groups.iter().enumerate() {
            let lr = nonneg_entry(op, s, &format!("group.{g}.lr"), &mut used)?;
            let wd = nonneg_entry(op, s, &format!("group.{g}.weight_decay"), &mut used)?;
            let n = scalar(op, s, &format!("group.{g}.params"), &mut used)?;
            if n != group.params.len() as f64 {
                return Err(err(
                    op,
                    format!(
                        "load_state_dict: entry \"group.{g}.params\" says {n} parameters but group {g} has {}",
                        group.params.len()
                    ),
                ));
            }
            let mut row = Vec::with_capacity(group.params.len());
            for (i, var) in group.params.iter().enumerate() {
                let key = format!("state.{g}.{i}.step");
                if !s.scalars.contains_key(&key) {
                    row.push(None);
                    continue;
                }
                let step = scalar(op, s, &key, &mut used)?;
                if !(step >= 0.0 && step.fract() == 0.0 && step < 9.0e15) {
                    return Err(err(
                        op,
                        format!("load_state_dict: entry \"{key}\" = {step} is not a step count"),
                    ));
                }
                let mut st = PState {
                    step: step as u64,
                    bufs: Default::default(),
                };
                for k in 0..SLOTS {
                    if names[k].is_empty() {
                        continue;
                    }
                    let key = format!("state.{g}.{i}.{}", names[k]);
                    match s.tensors.get(&key) {
                        Some(t) => {
                            check_like(op, &key, t, var)?;
                            used.insert(key);
                            st.bufs[k] = Some(t.detach());
                        }
                        None if required[k] => {
                            return Err(err(
                                op,
                                format!("load_state_dict: missing entry \"{key}\""),
                            ))
                        }
                        None => {}
                    }
                }
                row.push(Some(st));
            }
            hyper.push((lr, wd));
            state.push(row);
        }
        check_all_used(op, s, &used)?;
        for (group, (lr, wd)) in self.groups.iter_mut().zip(hyper) {
            group.lr = lr;
            group.weight_decay = wd;
        }
        self.state = state;
        Ok(())
    }
}

/// Reads a scalar entry, marking it used; fails naming it when missing.
pub(crate) fn scalar(
    op: &'static str,
    s: &StateDict,
    key: &str,
    used: &mut BTreeSet<String>,
) -> Result<f64> {
    match s.scalars.get(key) {
        Some(&v) => {
            used.insert(key.to_string());
            Ok(v)
        }
        None => Err(err(op, format!("load_state_dict: missing entry \"{key}\""))),
    }
}

/// Reads a scalar entry that must be finite and `>= 0`.
fn nonneg_entry(
    op: &'static str,
    s: &StateDict,
    key: &str,
    used: &mut BTreeSet<String>,
) -> Result<f64> {
    let v = scalar(op, s, key, used)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(err(
            op,
            format!("load_state_dict: entry \"{key}\" = {v} is invalid (must be finite and >= 0)"),
        ))
    }
}

/// Fails unless tensor entry `key` has `var`'s shape and dtype.
fn check_like(op: &'static str, key: &str, t: &Tensor, var: &Var) -> Result<()> {
    let p = var.as_tensor();
    if t.shape() != p.shape() || t.dtype() != p.dtype() {
        return Err(err(
            op,
            format!(
                "load_state_dict: entry \"{key}\" is {} {:?} but the parameter is {} {:?}",
                t.dtype(),
                t.shape(),
                p.dtype(),
                p.shape()
            ),
        ));
    }
    Ok(())
}

/// Fails naming the first entry of `s` that is not in `used`.
pub(crate) fn check_all_used(
    op: &'static str,
    s: &StateDict,
    used: &BTreeSet<String>,
) -> Result<()> {
    let extra = s
        .tensors
        .keys()
        .chain(s.scalars.keys())
        .find(|k| !used.contains(k.as_str()));
    match extra {
        Some(k) => Err(err(
            op,
            format!("load_state_dict: unexpected entry \"{k}\" (a state of another optimizer or of other parameter groups?)"),
        )),
        None => Ok(()),
    }
}

impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        (**self).step(grads)
    }
    fn groups(&self) -> &[ParamGroup] {
        (**self).groups()
    }
    fn groups_mut(&mut self) -> &mut [ParamGroup] {
        (**self).groups_mut()
    }
    fn lr(&self) -> f64 {
        (**self).lr()
    }
    fn set_lr(&mut self, lr: f64) {
        (**self).set_lr(lr)
    }
    fn state_dict(&self) -> StateDict {
        (**self).state_dict()
    }
    fn load_state_dict(&mut self, s: &StateDict) -> Result<()> {
        (**self).load_state_dict(s)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}
