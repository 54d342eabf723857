//! Reverse-mode automatic differentiation: the chain rule applied from a scalar loss back to
//! every trainable leaf.
//!
//! The engine sorts the graph iteratively (deep graphs cannot overflow the stack), walks it in
//! reverse, asks each op for its vector-Jacobian product, sums a gradient back to its input's
//! shape when the op broadcast, adds up the gradients of a tensor used more than once, and drops
//! every intermediate gradient as soon as it has been passed on.

use crate::ops::Op;
use crate::tensor::{Tensor, TensorId};
use crate::{Error, Result};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// How a tracked tensor was computed.
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<Tensor>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops record themselves for backpropagation on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record nothing (like `torch.no_grad()`).
///
/// ```
/// use nabla_core::{no_grad, Tensor, Var};
/// let w = Var::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
/// let y = {
///     let _g = no_grad();
///     w.as_tensor().exp().unwrap()
/// };
/// assert!(!y.requires_grad());
/// ```
#[must_use = "gradients are disabled only while the guard lives"]
pub struct NoGradGuard {
    prev: bool,
}

/// Disables gradient recording until the returned guard is dropped.
pub fn no_grad() -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    NoGradGuard { prev }
}

pub(crate) fn set_grad_enabled(on: bool) -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(on));
    NoGradGuard { prev }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// The gradients that [`Tensor::backward`] computed, keyed by the leaves' ids.
#[derive(Default, Clone)]
pub struct GradStore {
    grads: HashMap<TensorId, Tensor>,
}

impl GradStore {
    /// The gradient of a tensor (usually a `Var`'s value), if it received one.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.grads.get(&t.id())
    }
    /// The gradient for an id.
    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.grads.get(&id)
    }
    /// Removes and returns a gradient.
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.grads.remove(&t.id())
    }
    /// Sets a gradient (e.g. after clipping).
    pub fn insert(&mut self, t: &Tensor, g: Tensor) {
        self.grads.insert(t.id(), g);
    }
    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.grads.len()
    }
    /// Whether it holds no gradient.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
    /// Iterates over (id, gradient).
    pub fn iter(&self) -> impl Iterator<Item = (&TensorId, &Tensor)> {
        self.grads.iter()
    }
}

/// Tracked tensors reachable from `root`, inputs before the tensors computed from them.
fn topo_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // iterative DFS: (tensor, children pushed?)
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = &t.0.node {
            for inp in node.inputs.iter().rev() {
                if inp.0.track && !visited.contains(&inp.id()) {
                    stack.push((inp.clone(), false));
                }
            }
        }
    }
    order
}

/// Sums `g` down to `shape` (undoing a broadcast).
pub(crate) fn sum_to(g: Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g);
    }
    let extra = g.rank() - shape.len();
    let mut axes: Vec<usize> = (0..extra).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[extra + i] != 1 {
            axes.push(extra + i);
        }
    }
    let s = g.sum_axes_keepdim(&axes, true)?;
    s.reshape(shape)
}

pub(crate) fn backward_impl(
    root: &Tensor,
    seed: Option<Tensor>,
    create_graph: bool,
) -> Result<GradStore> {
    if !root.0.track {
        return Err(Error::Backward(
            "the tensor does not depend on any trainable Var (or was computed under no_grad), so there is nothing to differentiate"
                .into(),
        ));
    }
    let seed = match seed {
        Some(s) => {
            if s.shape() != root.shape() {
                return Err(Error::Backward(format!(
                    "seed gradient shape {:?} differs from the tensor's {:?}",
                    s.shape(),
                    root.shape()
                )));
            }
            s
        }
        None => {
            if root.numel() != 1 {
                return Err(Error::Backward(format!(
                    "backward() needs a scalar (one element), got shape {:?}; reduce it first (e.g. sum or mean) or use backward_with",
                    root.shape()
                )));
            }
            Tensor::ones(root.shape(), root.dtype())
        }
    };
    let _mode = set_grad_enabled(create_graph);
    let order = topo_order(root);
    let mut grads: HashMap<TensorId, Tensor> = HashMap::new();
    grads.insert(root.id(), seed);
    let mut leaves = GradStore::default();
    for t in order.iter().rev() {
        let Some(g) = grads.remove(&t.id()) else {
            continue;
        };
        let Some(node) = &t.0.node else {
            if t.0.is_var {
                leaves.grads.insert(t.id(), g);
            }
            continue;
        };
        let in_grads = crate::ops::backward_rule(&node.op, &node.inputs, t, &g)
            .map_err(|e| Error::Backward(format!("in the rule of {}: {e}", node.op.name())))?;
        drop(g);
        for (inp, ig) in node.inputs.iter().zip(in_grads) {
            let Some(ig) = ig else { continue };
            if !inp.0.track {
                continue;
            }
            let ig = sum_to(ig, inp.shape())?;
            let ig = if ig.dtype() != inp.dtype() {
                ig.to_dtype(inp.dtype())?
            } else {
                ig
            };
            match grads.remove(&inp.id()) {
                Some(prev) => {
                    grads.insert(inp.id(), prev.add(&ig)?);
                }
                None => {
                    grads.insert(inp.id(), ig);
                }
            }
        }
    }
    Ok(leaves)
}

impl Tensor {
    /// Backpropagates from this scalar tensor to every trainable leaf it depends on.
    ///
    /// Fails when the tensor has more than one element or depends on no [`crate::Var`].
    /// ```
    /// use nabla_core::{Tensor, Var};
    /// let x = Var::from_vec(vec![3.0f64], &[1]).unwrap();
    /// let y = x.as_tensor().powf(2.0).unwrap().sum().unwrap(); // y = x^2
    /// let g = y.backward().unwrap();
    /// assert_eq!(g.get(&x.as_tensor()).unwrap().to_vec::<f64>().unwrap(), vec![6.0]);
    /// ```
    pub fn backward(&self) -> Result<GradStore> {
        backward_impl(self, None, false)
    }

    /// Backpropagates with an explicit seed gradient (same shape as `self`), and with
    /// `create_graph` the gradients are themselves differentiable (second order).
    pub fn backward_with(&self, seed: Option<Tensor>, create_graph: bool) -> Result<GradStore> {
        backward_impl(self, seed, create_graph)
    }
}
