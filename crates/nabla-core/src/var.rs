//! Trainable leaves: the only tensors that change (by replacing their value).

use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::storage::StorageElem;
use crate::tensor::{Tensor, TensorId};
use crate::{Error, Result};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A trainable parameter: a tensor whose gradient [`Tensor::backward`] computes.
///
/// Clones share the value. Each value a `Var` takes keeps the same [`TensorId`], so a
/// gradient store can be looked up with either the var or a tensor from [`Var::as_tensor`].
/// ```
/// use nabla_core::Var;
/// let w = Var::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
/// let loss = w.as_tensor().sqr().unwrap().sum().unwrap();
/// let grads = loss.backward().unwrap();
/// assert_eq!(w.grad(&grads).unwrap().to_vec::<f64>().unwrap(), vec![2.0, 4.0]);
/// ```
#[derive(Clone)]
pub struct Var {
    value: Arc<Mutex<Tensor>>,
    id: TensorId,
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({:?})", self.as_tensor())
    }
}

impl Var {
    /// The current value, locked; a lock poisoned by a panic in another thread (for example
    /// in a `with_mut` closure) is taken over as it is.
    fn value(&self) -> MutexGuard<'_, Tensor> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A var holding (a copy of the reference to) `t`'s values, detached from any graph.
    pub fn new(t: &Tensor) -> Var {
        let t = t
            .contiguous()
            .map(|c| c.detach())
            .unwrap_or_else(|_| t.detach());
        let id = TensorId::new();
        let v = Tensor::new_var_version(t, id);
        Var {
            value: Arc::new(Mutex::new(v)),
            id,
        }
    }
    /// A var from a vector and a shape.
    pub fn from_vec<T: StorageElem>(data: Vec<T>, shape: &[usize]) -> Result<Var> {
        Ok(Var::new(&Tensor::from_vec(data, shape)?))
    }
    /// The current value, as a tensor that records ops for backpropagation.
    pub fn as_tensor(&self) -> Tensor {
        self.value().clone()
    }
    /// The id shared by every value of this var.
    pub fn id(&self) -> TensorId {
        self.id
    }
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.as_tensor().shape().to_vec()
    }
    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.as_tensor().dtype()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.as_tensor().numel()
    }
    /// This var's gradient in a store.
    pub fn grad<'a>(&self, grads: &'a crate::GradStore) -> Option<&'a Tensor> {
        grads.get_id(self.id)
    }
    /// Replaces the value (no copy: the var takes `t`'s storage). Graphs built from the old
    /// value keep it.
    ///
    /// Fails when the shape or dtype differs from the current value.
    pub fn set(&self, t: &Tensor) -> Result<()> {
        let mut g = self.value();
        if t.shape() != g.shape() || t.dtype() != g.dtype() {
            return Err(Error::shape(
                "Var::set",
                format!(
                    "new value {} {} differs from the var's {} {}",
                    t.dtype(),
                    fmt_shape(t.shape()),
                    g.dtype(),
                    fmt_shape(g.shape())
                ),
            ));
        }
        let t = t.contiguous()?;
        *g = Tensor::new_var_version(t, self.id);
        Ok(())
    }

    /// Converts the value to another dtype in place (e.g. to f64 for a gradient check).
    pub fn cast(&self, dtype: DType) -> Result<()> {
        let mut g = self.value();
        let t = g.to_dtype(dtype)?.contiguous()?;
        *g = Tensor::new_var_version(t, self.id);
        Ok(())
    }

    /// Changes the value in place: `f` gets the elements (row-major). When a graph still holds
    /// the current value, the var first takes a private copy, so that graph keeps the old one.
    ///
    /// Fails when `T` is not the var's dtype.
    pub fn with_mut<T: StorageElem, R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let mut g = self.value();
        let slice = g.make_mut::<T>()?;
        Ok(f(slice))
    }
}
