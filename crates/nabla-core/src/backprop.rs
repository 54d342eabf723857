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
use smallvec::SmallVec;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

/// Hashes a [`TensorId`] (a counter, unique per tensor) with one multiplication: the ids need
/// no protection against chosen collisions, and SipHash cost more than a tiny op's arithmetic.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        // Fibonacci hashing: the high bits, which hashbrown reads, depend on every bit
        self.0 = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by tensor id.
pub(crate) type IdMap<V> = HashMap<TensorId, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<TensorId, BuildHasherDefault<IdHasher>>;

/// An op's inputs, held inline up to three.
pub(crate) type Inputs = SmallVec<[Tensor; 3]>;

/// How a tracked tensor was computed: the op (with what its rule saved) and its inputs.
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Inputs,
}

/// A tracked tensor's place in the graph. The [`Node`] is released by the backward pass as
/// soon as its rule has run (unless the graph is kept with `create_graph`), so the saved
/// tensors of a step do not outlive their use; the op's name stays for messages.
pub(crate) struct GraphNode {
    pub(crate) name: &'static str,
    /// The layer path that computed it (anomaly mode only).
    pub(crate) path: Option<Box<str>>,
    saved: Mutex<Option<Node>>,
}

impl GraphNode {
    pub(crate) fn new(op: Op, inputs: Inputs) -> Self {
        let path = crate::anomaly::is_anomaly_enabled()
            .then(|| crate::anomaly::current_path().into_boxed_str());
        GraphNode {
            name: op.name(),
            path,
            saved: Mutex::new(Some(Node { op, inputs })),
        }
    }
    /// The inputs, if not yet released (for dropping a graph iteratively).
    pub(crate) fn into_inputs(self) -> Inputs {
        self.saved
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .map_or_else(Inputs::new, |n| n.inputs)
    }
    fn lock(&self) -> MutexGuard<'_, Option<Node>> {
        // no code that can panic runs under this lock except a rule, after which the node
        // is consistent anyway
        self.saved.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn freed(&self) -> Error {
        Error::Backward(format!(
            "the graph was already backpropagated through and its saved tensors were freed (at {}); \
             compute the forward pass again, or keep the graph with backward_with(seed, true)",
            self.name
        ))
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops record themselves for backpropagation on this thread.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Whether an op on these inputs is recorded: gradients are enabled and an input tracks them.
pub(crate) fn tracks(inputs: &[&Tensor]) -> bool {
    inputs.iter().any(|t| t.0.track) && is_grad_enabled()
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
    grads: IdMap<Tensor>,
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
///
/// Fails when a node on the way was released by an earlier backward pass.
/// The backward pass's working containers, kept per thread between passes so a tiny graph
/// does not allocate them each time (each is left empty: no tensor is held).
#[derive(Default)]
struct Scratch {
    order: Vec<Tensor>,
    visited: IdSet,
    stack: Vec<(Tensor, bool)>,
    grads: IdMap<Tensor>,
}

thread_local! {
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
    /// The seed of a 0-d loss, 1 in f32 and in f64, shared by every pass (a rule never writes
    /// into a gradient that something else holds).
    static ONES: (Tensor, Tensor) = (
        Tensor::ones(&[], crate::dtype::DType::F32),
        Tensor::ones(&[], crate::dtype::DType::F64),
    );
}

/// The gradient `backward()` starts from: ones of the root's shape.
fn seed_one(root: &Tensor) -> Tensor {
    use crate::dtype::DType;
    match (root.rank(), root.dtype()) {
        (0, DType::F32) => ONES.with(|o| o.0.clone()),
        (0, DType::F64) => ONES.with(|o| o.1.clone()),
        _ => Tensor::ones(root.shape(), root.dtype()),
    }
}

fn topo_order(root: &Tensor, sc: &mut Scratch) -> Result<()> {
    let Scratch {
        order,
        visited,
        stack,
        ..
    } = sc;
    // iterative DFS: (tensor, children pushed?)
    stack.push((root.clone(), false));
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        // the tensor moves back onto the stack under its children (no second reference)
        let children: Inputs = match &t.0.node {
            Some(gn) => {
                let saved = gn.lock();
                let node = saved.as_ref().ok_or_else(|| gn.freed())?;
                node.inputs
                    .iter()
                    .rev()
                    .filter(|inp| inp.0.track && !visited.contains(&inp.id()))
                    .cloned()
                    .collect()
            }
            None => Inputs::new(),
        };
        stack.push((t, true));
        stack.extend(children.into_iter().map(|c| (c, false)));
    }
    Ok(())
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
            seed_one(root)
        }
    };
    let _mode = set_grad_enabled(create_graph);
    let _backward = crate::anomaly::in_backward();
    // (a pass nested in this one, or one that failed, takes fresh containers)
    let mut sc = SCRATCH.with(Cell::take).unwrap_or_default();
    sc.order.clear();
    sc.visited.clear();
    sc.stack.clear();
    sc.grads.clear();
    topo_order(root, &mut sc)?;
    let Scratch { order, grads, .. } = &mut *sc;
    grads.insert(root.id(), seed);
    let mut leaves = GradStore::default();
    // Popped in reverse order: each tensor (and, without create_graph, the node holding its
    // saved inputs) is released as soon as its rule has run.
    while let Some(t) = order.pop() {
        let Some(g) = grads.remove(&t.id()) else {
            continue;
        };
        let Some(gn) = &t.0.node else {
            if t.0.is_var {
                leaves.grads.insert(t.id(), g);
            }
            continue;
        };
        let (kept, taken);
        let node = if create_graph {
            kept = gn.lock();
            kept.as_ref()
        } else {
            taken = gn.lock().take();
            taken.as_ref()
        }
        .ok_or_else(|| gn.freed())?;
        // a slice's gradient goes straight into its place in the input's gradient (the rule
        // would pad it to the input's shape first: one full-size buffer per slice)
        // (the anomaly check, read only for slices, needs the rule's path)
        let slice = match node.op {
            Op::Narrow { dim, start } if !create_graph => Some((dim, start)),
            _ => None,
        };
        if let Some((dim, start)) = slice.filter(|_| !crate::anomaly::is_anomaly_enabled()) {
            let inp = &node.inputs[0];
            if inp.0.track {
                let acc = match grads.remove(&inp.id()) {
                    Some(mut prev) => {
                        add_into_slice(&mut prev, dim, start, &g)?;
                        prev
                    }
                    None => slice_into_zeros(inp.shape(), inp.dtype(), (dim, start), &g)?,
                };
                grads.insert(inp.id(), acc);
            }
            continue;
        }
        // the rule takes the gradient, which it may overwrite when no one else holds it
        let in_grads = crate::ops::backward_rule(&node.op, &node.inputs, &t, g)
            .map_err(|e| Error::Backward(format!("in the rule of {}: {e}", node.op.name())))?;
        let anomaly = crate::anomaly::is_anomaly_enabled();
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
            if anomaly {
                // after un-broadcasting: a sum over the batch can overflow too
                let shapes: Vec<Vec<usize>> =
                    node.inputs.iter().map(|t| t.shape().to_vec()).collect();
                crate::anomaly::check_backward(
                    gn.name,
                    gn.path.as_deref().unwrap_or(""),
                    &ig,
                    &shapes,
                )?;
            }
            match grads.remove(&inp.id()) {
                Some(prev) => {
                    let sum = prev.add(&ig)?;
                    if anomaly {
                        // two finite contributions can overflow when added
                        let shapes: Vec<Vec<usize>> =
                            node.inputs.iter().map(|t| t.shape().to_vec()).collect();
                        crate::anomaly::check_backward(
                            gn.name,
                            gn.path.as_deref().unwrap_or(""),
                            &sum,
                            &shapes,
                        )?;
                    }
                    grads.insert(inp.id(), sum);
                }
                None => {
                    grads.insert(inp.id(), ig);
                }
            }
        }
    }
    grads.clear();
    // (a large graph's containers are not kept: they would hold its size in memory)
    if sc.visited.capacity() <= 4096 && sc.order.capacity() <= 4096 {
        SCRATCH.with(|c| c.set(Some(sc)));
    }
    Ok(leaves)
}

/// Writes `g` into its place `[.., start..start + len, ..]` along `dim` of `dst` (a packed
/// tensor of shape `shape`, `g` having `len` at `dim`): added to what is there, or, when
/// `fresh`, copied, with zeros everywhere else (one pass over a new buffer).
fn place_slice<T: crate::storage::StorageElem + std::ops::AddAssign + Copy>(
    dst: &mut [T],
    shape: &[usize],
    (dim, start): (usize, usize),
    g: &Tensor,
    fresh: bool,
) -> Result<()> {
    let (len, total) = (g.shape()[dim], shape[dim]);
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let src = g.data::<T>()?;
    let row = len * inner;
    for o in 0..outer {
        let whole = &mut dst[o * total * inner..(o + 1) * total * inner];
        let (before, rest) = whole.split_at_mut(start * inner);
        let (d, after) = rest.split_at_mut(row);
        let s = &src[o * row..][..row];
        if fresh {
            before.fill(T::ZERO);
            d.copy_from_slice(s);
            after.fill(T::ZERO);
        } else {
            d.iter_mut().zip(s).for_each(|(a, &b)| *a += b);
        }
    }
    Ok(())
}

/// `acc[.., start..start + len, ..] += g` along `dim` (`g` has `acc`'s shape but `len` at
/// `dim`), in place (a copy first when `acc`'s storage is shared).
fn add_into_slice(acc: &mut Tensor, dim: usize, start: usize, g: &Tensor) -> Result<()> {
    let shape = acc.shape().to_vec();
    match acc.dtype() {
        crate::DType::F32 => place_slice(acc.make_mut::<f32>()?, &shape, (dim, start), g, false),
        crate::DType::F64 => place_slice(acc.make_mut::<f64>()?, &shape, (dim, start), g, false),
        d => Err(Error::dtype("backward", format!("a gradient of dtype {d}"))),
    }
}

/// The gradient of a tensor of shape `shape` whose only contribution so far is `g`, the
/// gradient of its slice `start..start + len` along `dim`: zeros elsewhere.
fn slice_into_zeros(
    shape: &[usize],
    dtype: crate::DType,
    at: (usize, usize),
    g: &Tensor,
) -> Result<Tensor> {
    fn run<T: crate::storage::StorageElem + std::ops::AddAssign + Copy>(
        shape: &[usize],
        at: (usize, usize),
        g: &Tensor,
    ) -> Result<Tensor> {
        let mut buf = crate::storage::take_buffer::<T>(shape.iter().product());
        place_slice(&mut buf, shape, at, g, true)?;
        Ok(Tensor::from_storage(T::into_storage(buf), shape))
    }
    match dtype {
        crate::DType::F32 => run::<f32>(shape, at, g),
        crate::DType::F64 => run::<f64>(shape, at, g),
        d => Err(Error::dtype("backward", format!("a gradient of dtype {d}"))),
    }
}

impl Tensor {
    /// Backpropagates from this scalar tensor to every trainable leaf it depends on. Each
    /// node's saved tensors are released as soon as its rule has run, so the graph can be
    /// backpropagated through once (as in PyTorch without `retain_graph`); to go through it
    /// again, use [`Tensor::backward_with`] with `create_graph`.
    ///
    /// Fails when the tensor has more than one element, depends on no [`crate::Var`], or its
    /// graph was already freed by an earlier backward.
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
    /// `create_graph` the gradients are themselves differentiable (second order) and the
    /// graph is kept (it can be backpropagated through again).
    pub fn backward_with(&self, seed: Option<Tensor>, create_graph: bool) -> Result<GradStore> {
        backward_impl(self, seed, create_graph)
    }
}

#[cfg(test)]
mod tests {
    use crate::Var;

    /// DESIGN §9: the engine drops each node's saved tensors once its rule has run, so an
    /// intermediate activation is freed by `backward` even while the loss (the root of the
    /// graph) is still alive; a second backward then fails with a message, and with
    /// `create_graph` the graph is kept.
    #[test]
    fn saved_tensors_are_released_once_their_rule_has_run() {
        let w = Var::from_vec(vec![0.5f64; 4096], &[4096]).unwrap();
        let make = || {
            let h = w.as_tensor().exp().unwrap(); // saved by sin's rule (and exp's output)
            let weak = h.shared_storage_weak();
            let loss = h.sin().unwrap().sum().unwrap();
            (weak, loss)
        };
        let (weak, loss) = make();
        assert!(weak.upgrade().is_some(), "the graph holds the activation");
        let g = loss.backward().unwrap();
        assert!(w.grad(&g).is_some());
        assert!(
            weak.upgrade().is_none(),
            "backward kept the activation although its rule has run"
        );
        assert_eq!(
            loss.op_name(),
            Some("reshape"),
            "the name outlives the node"
        );
        let e = loss
            .backward()
            .err()
            .expect("a second backward fails")
            .to_string();
        assert!(e.contains("freed") && e.contains("reshape"), "{e}");

        let (weak, loss) = make();
        let g1 = loss.backward_with(None, true).unwrap();
        assert!(weak.upgrade().is_some(), "create_graph keeps the graph");
        let g2 = loss.backward().unwrap();
        let (a, b) = (w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
        assert_eq!(a.to_vec_f64(), b.to_vec_f64());
        drop(g1); // its gradients' graph refers to the activation
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn slices_add_their_gradients_into_place() {
        // overlapping slices along dim 1, another use of x, and a slice of a slice; the
        // same with create_graph (the padding rule) must agree
        let x =
            crate::Var::from_vec((0..24).map(f64::from).collect::<Vec<_>>(), &[2, 4, 3]).unwrap();
        let f = || {
            let t = x.as_tensor();
            let a = t.narrow(1, 0, 3).unwrap().mul_scalar(2.0).unwrap();
            let b = t.narrow(1, 1, 3).unwrap().powf(2.0).unwrap();
            let c = t
                .narrow(2, 1, 2)
                .unwrap()
                .narrow(1, 3, 1)
                .unwrap()
                .exp()
                .unwrap();
            let d = t.mul(&t).unwrap();
            a.sum()
                .unwrap()
                .add(&b.sum().unwrap())
                .unwrap()
                .add(&c.mul_scalar(1e-9).unwrap().sum().unwrap())
                .unwrap()
                .add(&d.sum().unwrap())
                .unwrap()
        };
        let fast = x.grad(&f().backward().unwrap()).unwrap().to_vec_f64();
        let rule = x
            .grad(&f().backward_with(None, true).unwrap())
            .unwrap()
            .to_vec_f64();
        assert_eq!(fast, rule);
        // by hand at x[1, 3, 2] = 23: only b, c and d reach it
        let want = 2.0 * 23.0 + 1e-9 * 23f64.exp() + 2.0 * 23.0;
        assert!((fast[23] - want).abs() < 1e-9 * want, "{} {want}", fast[23]);
        // x[0, 0, 0] = 0: a (2) and d (0)
        assert_eq!(fast[0], 2.0);
    }
}
