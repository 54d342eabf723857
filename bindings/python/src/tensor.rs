//! `nabla.Tensor`: a nabla tensor seen from Python, with PyTorch's method names, NumPy in and
//! out, and `.grad` kept on the leaves that require it.
//!
//! nabla's `backward` returns the gradients instead of storing them; here a leaf that requires
//! grad (a `Var`) owns a gradient cell, found by the var's id after each `backward()` and
//! added into, so `.grad` accumulates until `zero_grad()`, as in PyTorch.

use crate::{py_err, OrPy};
use nabla::core::{no_grad, DType, NoGradGuard, Tensor, TensorId, Var};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyTuple};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A leaf's gradient, shared by every Python object wrapping the same var.
type GradCell = Arc<Mutex<Option<Tensor>>>;

/// The gradient cells of the live leaves, by var id (weak: a cell lives as long as a Python
/// object of its leaf).
type Cells = HashMap<TensorId, Weak<Mutex<Option<Tensor>>>>;
static CELLS: Mutex<Option<Cells>> = Mutex::new(None);

/// The cell of `var`'s gradient: the live one if another object holds it, else a new one.
fn cell_of(var: &Var) -> GradCell {
    let mut g = CELLS.lock().unwrap_or_else(PoisonError::into_inner);
    let map = g.get_or_insert_with(HashMap::new);
    if let Some(c) = map.get(&var.id()).and_then(Weak::upgrade) {
        return c;
    }
    let c: GradCell = Arc::new(Mutex::new(None));
    map.insert(var.id(), Arc::downgrade(&c));
    if map.len() > 64 && map.len().is_power_of_two() {
        map.retain(|_, w| w.strong_count() > 0);
    }
    c
}

/// A tensor. Arithmetic broadcasts as NumPy and PyTorch do; a leaf made with
/// `requires_grad=True` (or a layer's parameter) gets `.grad` from `backward()`.
#[pyclass(name = "Tensor", module = "nabla._nabla", weakref)]
pub struct PyTensor {
    t: Tensor,
    var: Option<Var>,
    grad: Option<GradCell>,
    /// A layer's buffer (a running statistic): a var that can be assigned but takes no grad.
    buffer: bool,
}

impl PyTensor {
    /// A tensor that is not a leaf requiring grad.
    pub fn new(t: Tensor) -> Self {
        PyTensor {
            t,
            var: None,
            grad: None,
            buffer: false,
        }
    }
    /// A layer's buffer: assignable in place, no gradient.
    pub fn buffer(var: Var) -> Self {
        PyTensor {
            t: var.as_tensor().detach(),
            var: Some(var),
            grad: None,
            buffer: true,
        }
    }
    /// A leaf requiring grad (a parameter).
    pub fn leaf(var: Var) -> Self {
        let grad = Some(cell_of(&var));
        PyTensor {
            t: var.as_tensor(),
            var: Some(var),
            grad,
            buffer: false,
        }
    }
    /// The current value (a var's newest, after an optimizer step).
    pub fn value(&self) -> Tensor {
        match &self.var {
            Some(v) if self.buffer => v.as_tensor().detach(),
            Some(v) => v.as_tensor(),
            None => self.t.clone(),
        }
    }
    /// The var of a leaf (a parameter or a buffer).
    pub fn leaf_var(&self) -> Option<&Var> {
        self.var.as_ref()
    }
    /// The var of a leaf that takes gradients (not a buffer).
    pub fn param_var(&self) -> Option<&Var> {
        self.var.as_ref().filter(|_| !self.buffer)
    }
    /// The leaf's gradient.
    pub fn grad_value(&self) -> Option<Tensor> {
        let c = self.grad.as_ref()?;
        c.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    /// Sets (or clears) the leaf's gradient.
    pub fn set_grad(&self, g: Option<Tensor>) {
        if let Some(c) = &self.grad {
            *c.lock().unwrap_or_else(PoisonError::into_inner) = g;
        }
    }
}

/// `other` as a tensor of `like`'s dtype: a Tensor, or a Python number.
pub(crate) fn operand(like: &Tensor, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(t) = other.cast::<PyTensor>() {
        return Ok(t.borrow().value());
    }
    if other.is_instance_of::<PyFloat>() || other.is_instance_of::<PyInt>() {
        let v: f64 = other.extract()?;
        return Ok(Tensor::full(v, &[], like.dtype()));
    }
    Err(PyTypeError::new_err(format!(
        "expected a Tensor or a number, got {}",
        other.get_type().name()?
    )))
}

/// A dtype from its NumPy/PyTorch name.
pub fn dtype_of(name: &str) -> PyResult<DType> {
    match name {
        "float32" | "f32" | "float" => Ok(DType::F32),
        "float64" | "f64" | "double" => Ok(DType::F64),
        "int64" | "i64" | "long" => Ok(DType::I64),
        _ => Err(PyTypeError::new_err(format!(
            "dtype {name}: nabla tensors are float32, float64 or int64"
        ))),
    }
}

/// The NumPy name of a dtype.
fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::I64 => "int64",
    }
}

/// A tensor from a NumPy array of float32, float64 or int64 (any strides: copied in
/// row-major order).
pub fn from_array(a: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    fn take<T: numpy::Element + nabla::core::StorageElem + Copy>(
        a: PyReadonlyArrayDyn<'_, T>,
    ) -> PyResult<Tensor> {
        let shape = a.shape().to_vec();
        // (a Fortran-ordered array is contiguous too, but not in row-major order)
        let view = a.as_array();
        let v: Vec<T> = match view.as_slice() {
            Some(s) => s.to_vec(),
            None => view.iter().copied().collect(),
        };
        Tensor::from_vec(v, &shape).py()
    }
    if let Ok(x) = a.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return take(x);
    }
    if let Ok(x) = a.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return take(x);
    }
    if let Ok(x) = a.extract::<PyReadonlyArrayDyn<'_, i64>>() {
        return take(x);
    }
    let what = match a.getattr("dtype") {
        Ok(d) => format!("an array of dtype {}", d.str()?),
        Err(_) => format!("a {}", a.get_type().name()?),
    };
    Err(PyTypeError::new_err(format!(
        "got {what}: nabla tensors are float32, float64 or int64 (convert with .astype)"
    )))
}

/// Dims from Python: an int or a tuple/list of ints (negative counts from the end).
pub(crate) fn dims_of(d: &Bound<'_, PyAny>) -> PyResult<Vec<isize>> {
    if let Ok(i) = d.extract::<isize>() {
        return Ok(vec![i]);
    }
    d.extract::<Vec<isize>>()
}

/// A shape given as `reshape(2, 3)` or `reshape((2, 3))`.
pub(crate) fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
    if args.len() == 1 {
        let a = args.get_item(0)?;
        if let Ok(v) = a.extract::<Vec<isize>>() {
            return Ok(v);
        }
    }
    args.extract::<Vec<isize>>()
}

thread_local! {
    /// The guards of the `no_grad` blocks entered on this thread, innermost last.
    static NO_GRAD: RefCell<Vec<NoGradGuard>> = const { RefCell::new(Vec::new()) };
}

/// Enters a `no_grad` block on this thread.
#[pyfunction]
fn _enter_no_grad() {
    NO_GRAD.with(|g| g.borrow_mut().push(no_grad()));
}

/// Leaves the innermost `no_grad` block.
#[pyfunction]
fn _exit_no_grad() {
    NO_GRAD.with(|g| drop(g.borrow_mut().pop()));
}

/// Whether ops record themselves for backward on this thread.
#[pyfunction]
fn is_grad_enabled() -> bool {
    nabla::core::is_grad_enabled()
}

#[pymethods]
impl PyTensor {
    /// A copy of a NumPy array of float32, float64 or int64, of any rank and strides
    /// (`nabla.from_numpy` and `nabla.tensor` call this; nabla tensors own their memory).
    #[staticmethod]
    #[pyo3(signature = (array, requires_grad = false))]
    fn _from_numpy(array: &Bound<'_, PyAny>, requires_grad: bool) -> PyResult<PyTensor> {
        let t = from_array(array)?;
        if requires_grad {
            if !t.dtype().is_float() {
                return Err(PyRuntimeError::new_err(
                    "only float tensors can require grad (this one is int64)",
                ));
            }
            return Ok(PyTensor::leaf(Var::new(&t)));
        }
        Ok(PyTensor::new(t))
    }

    /// The values as a new NumPy array of the tensor's dtype and shape.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.value();
        let shape = t.shape().to_vec();
        Ok(match t.dtype() {
            DType::F32 => PyArray1::from_vec(py, t.to_vec::<f32>().py()?)
                .reshape(shape)?
                .into_any(),
            DType::F64 => PyArray1::from_vec(py, t.to_vec::<f64>().py()?)
                .reshape(shape)?
                .into_any(),
            DType::I64 => PyArray1::from_vec(py, t.to_vec::<i64>().py()?)
                .reshape(shape)?
                .into_any(),
        })
    }

    /// The shape, as a tuple.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.value().shape())
    }

    /// The size of dim `dim`, or the shape.
    #[pyo3(signature = (dim = None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(self.shape(py)?.into_any()),
            Some(d) => Ok(self.value().dim(d).py()?.into_pyobject(py)?.into_any()),
        }
    }

    /// The number of dims.
    #[getter]
    fn ndim(&self) -> usize {
        self.value().rank()
    }

    /// The number of elements.
    fn numel(&self) -> usize {
        self.value().numel()
    }

    /// The dtype's NumPy name: `float32`, `float64` or `int64`.
    #[getter]
    fn dtype(&self) -> &'static str {
        dtype_name(self.value().dtype())
    }

    /// Whether backward reaches this tensor (a leaf that requires grad, or a result of one).
    #[getter]
    fn requires_grad(&self) -> bool {
        (self.var.is_some() && !self.buffer) || self.t.requires_grad()
    }

    /// Whether this is a leaf (not the result of an op that records for backward).
    #[getter]
    fn is_leaf(&self) -> bool {
        self.var.is_some() || !self.t.requires_grad()
    }

    /// The gradient that `backward()` accumulated into this leaf (None before, or after
    /// `zero_grad()`).
    #[getter]
    fn grad(&self) -> Option<PyTensor> {
        self.grad_value().map(PyTensor::new)
    }

    #[setter(grad)]
    fn set_grad_py(&self, g: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        if self.grad.is_none() {
            return Err(PyRuntimeError::new_err(
                "only a leaf that requires grad holds .grad",
            ));
        }
        self.set_grad(g.map(|g| g.value()));
        Ok(())
    }

    /// This leaf, requiring grad from now on (in place, as PyTorch's `requires_grad_`).
    #[pyo3(signature = (requires_grad = true))]
    fn requires_grad_(
        mut slf: PyRefMut<'_, Self>,
        requires_grad: bool,
    ) -> PyResult<PyRefMut<'_, Self>> {
        if requires_grad && slf.var.is_none() {
            if slf.t.requires_grad() {
                return Err(PyRuntimeError::new_err(
                    "requires_grad_ is for leaves; this tensor is the result of an op (use detach())",
                ));
            }
            if !slf.t.dtype().is_float() {
                return Err(PyRuntimeError::new_err(
                    "only float tensors can require grad",
                ));
            }
            let v = Var::new(&slf.t);
            slf.grad = Some(cell_of(&v));
            slf.t = v.as_tensor();
            slf.var = Some(v);
        } else if !requires_grad {
            if let Some(v) = slf.var.take() {
                slf.t = v.as_tensor().detach();
                slf.grad = None;
            }
        }
        Ok(slf)
    }

    /// The same values, cut from the graph (no gradient flows through).
    fn detach(&self) -> PyTensor {
        PyTensor::new(self.value().detach())
    }

    /// Backpropagates from this scalar: adds each leaf's gradient into its `.grad`. The
    /// graph's saved tensors are freed, as PyTorch's `retain_graph=False`.
    #[pyo3(signature = (gradient = None))]
    fn backward(&self, py: Python<'_>, gradient: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        let t = self.value();
        if !t.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "this tensor does not require grad: nothing that requires grad led to it",
            ));
        }
        let seed = gradient.map(|g| g.value());
        if seed.is_none() && t.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "grad can be implicitly created only for scalar outputs (this one has shape {:?}); \
                 reduce it first (e.g. .sum()) or pass gradient=",
                t.shape()
            )));
        }
        let grads = py.detach(|| t.backward_with(seed, false)).py()?;
        let g = CELLS.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(map) = g.as_ref() else { return Ok(()) };
        for (id, grad) in grads.iter() {
            let Some(cell) = map.get(id).and_then(Weak::upgrade) else {
                continue;
            };
            let mut slot = cell.lock().unwrap_or_else(PoisonError::into_inner);
            *slot = Some(match slot.take() {
                Some(old) => old.add(grad).py()?,
                None => grad.detach(),
            });
        }
        Ok(())
    }

    /// The one value of a one-element tensor, as a Python number.
    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.value();
        if t.numel() != 1 {
            return Err(PyValueError::new_err(format!(
                "item() needs one element, this tensor has {}",
                t.numel()
            )));
        }
        Ok(match t.dtype() {
            DType::I64 => t.to_vec::<i64>().py()?[0].into_pyobject(py)?.into_any(),
            _ => t.to_vec_f64()[0].into_pyobject(py)?.into_any(),
        })
    }

    /// The values as (nested) Python lists.
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.numpy(py)?.call_method0("tolist")
    }

    /// A copy in another dtype (`"float32"`, `"float64"`, `"int64"`).
    fn to(&self, dtype: &str) -> PyResult<PyTensor> {
        self.value()
            .to_dtype(dtype_of(dtype)?)
            .py()
            .map(PyTensor::new)
    }

    fn float(&self) -> PyResult<PyTensor> {
        self.to("float32")
    }

    fn double(&self) -> PyResult<PyTensor> {
        self.to("float64")
    }

    fn long(&self) -> PyResult<PyTensor> {
        self.to("int64")
    }

    fn __add__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        t.add(&operand(&t, o)?).py().map(PyTensor::new)
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.__add__(o)
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        t.sub(&operand(&t, o)?).py().map(PyTensor::new)
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        operand(&t, o)?.sub(&t).py().map(PyTensor::new)
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        t.mul(&operand(&t, o)?).py().map(PyTensor::new)
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        self.__mul__(o)
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        t.div(&operand(&t, o)?).py().map(PyTensor::new)
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        operand(&t, o)?.div(&t).py().map(PyTensor::new)
    }
    pub(crate) fn __matmul__(&self, py: Python<'_>, o: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        let (a, b) = (self.value(), o.value());
        // large products release the GIL (a small one costs less than the release)
        if a.numel().max(b.numel()) >= 1 << 16 {
            return py.detach(|| a.matmul(&b)).py().map(PyTensor::new);
        }
        a.matmul(&b).py().map(PyTensor::new)
    }
    fn __neg__(&self) -> PyResult<PyTensor> {
        self.value().neg().py().map(PyTensor::new)
    }
    pub(crate) fn __pow__(&self, e: f64, _m: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let t = self.value();
        if e == 2.0 {
            return t.sqr().py().map(PyTensor::new);
        }
        t.powf(e).py().map(PyTensor::new)
    }
    fn __len__(&self) -> PyResult<usize> {
        let t = self.value();
        t.shape()
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }
    fn __repr__(&self) -> String {
        let t = self.value();
        let body = t.to_numpy_string();
        let extra = if self.var.is_some() && !self.buffer {
            ", requires_grad=True".to_string()
        } else if t.requires_grad() {
            format!(", grad_fn={}", t.op_name().unwrap_or("op"))
        } else {
            String::new()
        };
        let dt = if t.dtype() == DType::F32 {
            String::new()
        } else {
            format!(", dtype={}", dtype_name(t.dtype()))
        };
        format!("tensor({body}{dt}{extra})")
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_function(wrap_pyfunction!(_enter_no_grad, m)?)?;
    m.add_function(wrap_pyfunction!(_exit_no_grad, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    let _ = py_err;
    crate::tensor_ops::register(m)
}
