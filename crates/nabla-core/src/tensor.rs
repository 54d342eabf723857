//! The [`Tensor`]: an immutable, cheaply cloned, strided view of shared storage, with the
//! operation that produced it when gradients are being tracked.

use crate::backprop::{self, GraphNode};
use crate::dtype::DType;
pub(crate) use crate::elements::Elements;
use crate::layout::{fmt_shape, Layout};
use crate::ops::Op;
use crate::storage::{take_buffer, Storage, StorageElem};
pub use crate::tensor_id::TensorId;
use crate::{Error, Result};
use std::borrow::Cow;
use std::sync::Arc;

/// The tensor handle's reference count: no weak count, so freeing a tensor costs one atomic
/// operation less than with `std::sync::Arc`.
type Handle<T> = triomphe::Arc<T>;

pub(crate) struct Inner {
    pub(crate) id: TensorId,
    pub(crate) storage: Elements,
    pub(crate) layout: Layout,
    /// How this tensor was computed, when some input tracks gradients. Boxed: most tensors
    /// have none, and a small header is cheaper to build, move and free.
    pub(crate) node: Option<Box<GraphNode>>,
    /// Whether gradients flow to this tensor (a trainable leaf or computed from one).
    pub(crate) track: bool,
    /// Whether this is a trainable leaf (the current value of a `Var`).
    pub(crate) is_var: bool,
}

impl Inner {
    /// The storage for writing, when no other tensor can see it (a base tensor that only
    /// this view still holds counts as private).
    fn storage_mut(&mut self) -> Option<&mut Storage> {
        match &mut self.storage {
            Elements::Own(s) => Some(s),
            Elements::Shared(s) => Arc::get_mut(s),
            Elements::Base(t) => Handle::get_mut(&mut t.0).and_then(Inner::storage_mut),
        }
    }
}

impl Drop for Inner {
    /// Drops the graph behind a tensor iteratively: a chain of 100,000 ops must not overflow
    /// the stack through nested `Arc` drops.
    fn drop(&mut self) {
        let Some(node) = self.node.take() else { return };
        let mut stack = node.into_inputs();
        while let Some(t) = stack.pop() {
            if let Ok(mut inner) = Handle::try_unwrap(t.0) {
                if let Some(n) = inner.node.take() {
                    stack.extend(n.into_inputs());
                }
            }
        }
    }
}

/// An n-dimensional array of f32, f64 or i64 elements.
///
/// Cloning is cheap (an `Arc`); views such as [`Tensor::reshape`], [`Tensor::transpose`],
/// [`Tensor::broadcast_to`] and [`Tensor::narrow`] share storage. Every op that takes a tensor
/// computed from a [`crate::Var`] records itself, so [`Tensor::backward`] can apply the chain
/// rule back to the vars.
#[derive(Clone)]
pub struct Tensor(pub(crate) Handle<Inner>);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor[{}; {}",
            fmt_shape(self.shape()).trim_matches(['[', ']']),
            self.dtype()
        )?;
        if self.numel() <= 16 {
            let v = self.to_vec_f64();
            write!(f, "; {v:?}")?;
        }
        if self.0.track {
            write!(f, "; grad")?;
        }
        write!(f, "]")
    }
}

impl Tensor {
    // ----- construction -----

    pub(crate) fn from_storage(storage: Storage, shape: &[usize]) -> Tensor {
        let t = Tensor(Handle::new(Inner {
            id: TensorId::new(),
            storage: Elements::Own(storage),
            layout: Layout::contiguous(shape),
            node: None,
            track: false,
            is_var: false,
        }));
        if crate::anomaly::is_anomaly_enabled() {
            // results of fused kernels without an op of their own
            crate::anomaly::check_forward("kernel", &t, &[]);
        }
        t
    }

    /// A tensor with no graph node over `layout` of a shared `storage`.
    pub(crate) fn view_of(storage: Arc<Storage>, layout: Layout) -> Tensor {
        Tensor(Handle::new(Inner {
            id: TensorId::new(),
            storage: Elements::Shared(storage),
            layout,
            node: None,
            track: false,
            is_var: false,
        }))
    }

    /// The result of an op: records the op when gradients are enabled and an input tracks them.
    /// Inlined into the ops, whose every call passes through it.
    #[inline]
    pub(crate) fn from_op(storage: Storage, shape: &[usize], op: Op, inputs: &[&Tensor]) -> Tensor {
        let track = backprop::tracks(inputs);
        let storage = if track {
            Elements::Shared(Arc::new(storage))
        } else {
            Elements::Own(storage)
        };
        Self::make(storage, Layout::contiguous(shape), op, inputs, track)
    }

    /// A view (or a result) over a shared `storage`, recorded as [`Tensor::from_op`] records.
    pub(crate) fn view_op(
        storage: Arc<Storage>,
        layout: Layout,
        op: Op,
        inputs: &[&Tensor],
    ) -> Tensor {
        let track = backprop::tracks(inputs);
        Self::make(Elements::Shared(storage), layout, op, inputs, track)
    }

    /// A view of this tensor's elements over `layout`, recorded as `op`.
    pub(crate) fn view(&self, layout: Layout, op: Op) -> Tensor {
        let track = backprop::tracks(&[self]);
        Self::make(self.share_elements(), layout, op, &[self], track)
    }

    /// A handle on this tensor's elements for another tensor.
    fn share_elements(&self) -> Elements {
        match &self.0.storage {
            Elements::Own(_) => Elements::Base(self.clone()),
            Elements::Shared(s) => Elements::Shared(s.clone()),
            Elements::Base(t) => Elements::Base(t.clone()),
        }
    }

    /// A new tensor over `storage`, with a graph node for `op` when `track`.
    #[inline]
    fn make(storage: Elements, layout: Layout, op: Op, inputs: &[&Tensor], track: bool) -> Tensor {
        let name = crate::anomaly::is_anomaly_enabled().then(|| op.name());
        let node = if track {
            Some(Box::new(GraphNode::new(
                op,
                inputs.iter().map(|t| (*t).clone()).collect(),
            )))
        } else {
            None
        };
        let t = Tensor(Handle::new(Inner {
            id: TensorId::new(),
            storage,
            layout,
            node,
            track,
            is_var: false,
        }));
        if let Some(name) = name {
            crate::anomaly::check_forward(name, &t, inputs);
        }
        t
    }

    /// The value of a var: `t`'s elements under the var's id. They move over when nothing
    /// else holds `t` (so an optimizer can update them in place), and are shared otherwise.
    pub(crate) fn new_var_version(t: Tensor, id: TensorId) -> Tensor {
        let layout = t.layout().clone();
        let storage = match Handle::try_unwrap(t.0) {
            Ok(mut inner) => {
                std::mem::replace(&mut inner.storage, Elements::Own(Storage::F32(Vec::new())))
            }
            Err(shared) => Tensor(shared).share_elements(),
        };
        Tensor(Handle::new(Inner {
            id,
            storage,
            layout,
            node: None,
            track: true,
            is_var: true,
        }))
    }

    /// A tensor from a vector and a shape.
    ///
    /// Fails when the vector's length is not the product of the shape, or when the shape's
    /// strides overflow (a shape with a zero dimension and others whose product overflows:
    /// no element, but no layout either).
    /// ```
    /// use nabla_core::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert!(Tensor::from_vec(Vec::<f32>::new(), &[0, 1 << 40, 1 << 40]).is_err());
    /// ```
    pub fn from_vec<T: StorageElem>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        // the strides multiply the dimensions with zeros counted as 1
        if shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)))
            .is_none()
        {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "shape {} is too large: the product of its dimensions overflows",
                    fmt_shape(shape)
                ),
            ));
        }
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "{} elements do not fill shape {} ({} elements)",
                    data.len(),
                    fmt_shape(shape),
                    n
                ),
            ));
        }
        Ok(Self::from_storage(T::into_storage(data), shape))
    }

    /// A tensor from a slice and a shape (copies).
    pub fn from_slice<T: StorageElem>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A 0-dimensional tensor holding one value.
    pub fn scalar<T: StorageElem>(v: T) -> Tensor {
        Self::from_storage(T::into_storage(vec![v]), &[])
    }

    /// A tensor filled with one value of the given dtype.
    pub fn full(value: f64, shape: &[usize], dtype: DType) -> Tensor {
        let n = shape.iter().product();
        let s = match dtype {
            DType::F32 => {
                let mut v = take_buffer::<f32>(n);
                v.fill(value as f32);
                Storage::F32(v)
            }
            DType::F64 => {
                let mut v = take_buffer::<f64>(n);
                v.fill(value);
                Storage::F64(v)
            }
            DType::I64 => {
                let mut v = take_buffer::<i64>(n);
                v.fill(value as i64);
                Storage::I64(v)
            }
        };
        Self::from_storage(s, shape)
    }

    /// Zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Self::full(0.0, shape, dtype)
    }

    /// Ones.
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Self::full(1.0, shape, dtype)
    }

    /// Zeros with the shape and dtype of `self`.
    pub fn zeros_like(&self) -> Tensor {
        Self::zeros(self.shape(), self.dtype())
    }

    /// Ones with the shape and dtype of `self`.
    pub fn ones_like(&self) -> Tensor {
        Self::ones(self.shape(), self.dtype())
    }

    /// `start, start + step, ...` up to (not including) `end`, like `torch.arange`.
    ///
    /// Fails when `step` is zero or has the wrong sign for the range.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || (end - start) * step < 0.0 {
            return Err(Error::arg(
                "arange",
                format!("bad range start={start} end={end} step={step}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_vec(v, &[n])?.to_dtype(dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive, like `torch.linspace`.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        let v: Vec<f64> = match steps {
            0 => vec![],
            1 => vec![start],
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                (0..steps)
                    .map(|i| {
                        if i == steps - 1 {
                            end
                        } else {
                            start + i as f64 * step
                        }
                    })
                    .collect()
            }
        };
        Tensor::from_vec(v, &[steps])?.to_dtype(dtype)
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize, dtype: DType) -> Tensor {
        let mut v = vec![0.0f64; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_storage(Storage::F64(v), &[n, n])
            .to_dtype(dtype)
            .unwrap_or_else(|_| Tensor::zeros(&[n, n], dtype))
    }

    // ----- accessors -----

    /// The unique id (gradients are keyed by it).
    pub fn id(&self) -> TensorId {
        self.0.id
    }
    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.0.layout.shape()
    }
    /// Size of one dimension (negative counts from the end).
    pub fn dim(&self, d: isize) -> Result<usize> {
        let a = crate::layout::norm_axis("dim", d, self.rank())?;
        Ok(self.shape()[a])
    }
    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape().len()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.storage().dtype()
    }
    /// The strided layout.
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub(crate) fn storage(&self) -> &Storage {
        self.0.storage.get()
    }
    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.track
    }
    /// Whether this is a trainable leaf (the value of a [`crate::Var`]).
    pub fn is_var(&self) -> bool {
        self.0.is_var
    }
    /// Whether the elements are packed in row-major order.
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// The name of the op that produced this tensor, if it is tracked.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.name)
    }

    /// The same values, cut from the graph: no gradient flows through the result.
    pub fn detach(&self) -> Tensor {
        if !self.0.track {
            return self.clone();
        }
        Tensor(Handle::new(Inner {
            id: TensorId::new(),
            storage: self.share_elements(),
            layout: self.0.layout.clone(),
            node: None,
            track: false,
            is_var: false,
        }))
    }

    /// The elements in row-major order, borrowed when contiguous.
    ///
    /// Fails when `T` is not the tensor's dtype.
    pub fn data<T: StorageElem>(&self) -> Result<Cow<'_, [T]>> {
        let s = T::slice(self.storage()).ok_or_else(|| {
            Error::dtype(
                "data",
                format!("tensor is {}, asked for {}", self.dtype(), T::DTYPE),
            )
        })?;
        Ok(match self.0.layout.contiguous_range() {
            Some(r) => Cow::Borrowed(&s[r]),
            None => {
                let mut v = take_buffer::<T>(self.numel());
                crate::strided::gather(s, &self.0.layout, &mut v);
                Cow::Owned(v)
            }
        })
    }

    /// The elements in row-major order in a buffer from the storage pool (so a tensor made
    /// from it hands the buffer back when dropped), for ops that copy and then modify.
    pub(crate) fn data_pooled<T: StorageElem>(&self) -> Result<Vec<T>> {
        Ok(match self.data::<T>()? {
            Cow::Owned(v) => v,
            Cow::Borrowed(s) => {
                let mut v = take_buffer::<T>(s.len());
                v.copy_from_slice(s);
                v
            }
        })
    }

    /// The elements in row-major order as a vector of `T` (which must be the dtype).
    pub fn to_vec<T: StorageElem>(&self) -> Result<Vec<T>> {
        Ok(self.data::<T>()?.into_owned())
    }

    /// The elements converted to f64, in row-major order.
    pub fn to_vec_f64(&self) -> Vec<f64> {
        match self.dtype() {
            DType::F32 => self
                .data::<f32>()
                .map(|d| d.iter().map(|&x| x as f64).collect()),
            DType::F64 => self.data::<f64>().map(|d| d.into_owned()),
            DType::I64 => self
                .data::<i64>()
                .map(|d| d.iter().map(|&x| x as f64).collect()),
        }
        .unwrap_or_default()
    }

    /// The single value of a one-element tensor, as f64.
    pub fn to_scalar(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "to_scalar",
                format!(
                    "tensor of shape {} has {} elements, not 1",
                    fmt_shape(self.shape()),
                    self.numel()
                ),
            ));
        }
        Ok(self.to_vec_f64()[0])
    }

    /// The values as a nested 2-d vector of f64 (rows), for display and tests.
    pub fn to_vec2_f64(&self) -> Result<Vec<Vec<f64>>> {
        if self.rank() != 2 {
            return Err(Error::shape(
                "to_vec2",
                format!("expected rank 2, got {}", fmt_shape(self.shape())),
            ));
        }
        let v = self.to_vec_f64();
        let c = self.shape()[1];
        Ok((0..self.shape()[0])
            .map(|i| v[i * c..(i + 1) * c].to_vec())
            .collect())
    }

    /// A weak handle on a recorded result's elements, for tests that check when every
    /// tensor holding them (the result, its graph's saved copies) is gone.
    #[cfg(test)]
    pub(crate) fn shared_storage_weak(&self) -> std::sync::Weak<Storage> {
        match &self.0.storage {
            Elements::Shared(s) => Arc::downgrade(s),
            _ => panic!("not a recorded result"),
        }
    }

    /// Whether [`Tensor::make_mut`] would write in place, without a copy: no other tensor
    /// shares the storage, which is packed, and no op recorded this tensor.
    pub(crate) fn is_private(&mut self) -> bool {
        let n = self.numel();
        let l = &self.0.layout;
        self.0.node.is_none()
            && l.is_contiguous()
            && l.offset() == 0
            && self.storage().len() == n
            && Handle::get_mut(&mut self.0).is_some_and(|i| i.storage_mut().is_some())
    }

    /// The elements for writing in place, row-major. Copy-on-write: when the storage is shared
    /// (a view, a clone, a graph still holding it) or the tensor is the result of a tracked op,
    /// `self` first becomes a private packed copy (keeping its id), so no other tensor sees the
    /// change. Kernels such as fused optimizer updates use it to avoid new buffers.
    ///
    /// Fails when `T` is not the tensor's dtype.
    pub fn make_mut<T: StorageElem>(&mut self) -> Result<&mut [T]> {
        if T::DTYPE != self.dtype() {
            return Err(Error::dtype(
                "make_mut",
                format!("tensor is {}, asked for {}", self.dtype(), T::DTYPE),
            ));
        }
        if !self.is_private() {
            let data = self.data_pooled::<T>()?;
            let (id, track, is_var) = (self.0.id, self.0.track, self.0.is_var);
            self.0 = Handle::new(Inner {
                id,
                storage: Elements::Own(T::into_storage(data)),
                layout: Layout::contiguous(self.shape()),
                node: None,
                track: track && is_var,
                is_var,
            });
        }
        let inner = Handle::get_mut(&mut self.0)
            .ok_or_else(|| Error::arg("make_mut", "tensor is shared"))?;
        let st = inner
            .storage_mut()
            .ok_or_else(|| Error::arg("make_mut", "storage is shared"))?;
        T::vec_mut(st)
            .map(|v| v.as_mut_slice())
            .ok_or_else(|| Error::dtype("make_mut", "storage dtype"))
    }

    pub(crate) fn typed_storage<T: StorageElem>(&self) -> &[T] {
        T::slice(self.storage()).unwrap_or(&[])
    }

    pub(crate) fn check_same_dtype(&self, op: &'static str, o: &Tensor) -> Result<()> {
        if self.dtype() != o.dtype() {
            return Err(Error::dtype(
                op,
                format!(
                    "dtypes differ: lhs {} {} and rhs {} {}",
                    self.dtype(),
                    fmt_shape(self.shape()),
                    o.dtype(),
                    fmt_shape(o.shape())
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn check_float(&self, op: &'static str) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                op,
                format!(
                    "needs a float tensor, got {} {}",
                    self.dtype(),
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
