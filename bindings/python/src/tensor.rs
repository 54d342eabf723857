//! `nabla.Tensor`: a nabla tensor seen from Python, with PyTorch's method names, NumPy in and
//! out, and `.grad` kept on the leaves that require it.
//!
//! nabla's `backward` returns the gradients instead of storing them; here a leaf that requires
//! grad (a `Var`) owns a gradient cell, found by the var's id after each `backward()` and
//! added into, so `.grad` accumulates until `zero_grad()`, as in PyTorch.

use crate::{py_err, OrPy};
use nabla::core::{no_grad, DType, NoGradGuard, Tensor, TensorId, Var};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PySlice, PyTuple};
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
fn operand(like: &Tensor, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
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
fn dims_of(d: &Bound<'_, PyAny>) -> PyResult<Vec<isize>> {
    if let Ok(i) = d.extract::<isize>() {
        return Ok(vec![i]);
    }
    d.extract::<Vec<isize>>()
}

/// A shape given as `reshape(2, 3)` or `reshape((2, 3))`.
fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
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

macro_rules! unary {
    ($($name:ident => $f:ident;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[doc = concat!("`", stringify!($name), "` of each element.")]
                fn $name(&self) -> PyResult<PyTensor> {
                    self.value().$f().py().map(PyTensor::new)
                }
            )*
        }
    };
}

unary! {
    exp => exp; log => log; sqrt => sqrt; rsqrt => rsqrt; tanh => tanh; sigmoid => sigmoid;
    relu => relu; abs => abs; sin => sin; cos => cos; neg => neg; gelu => gelu; silu => silu;
    erf => erf; sign => sign; reciprocal => recip; square => sqr; softplus => softplus;
    gelu_tanh => gelu_tanh;
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
    fn __matmul__(&self, py: Python<'_>, o: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
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
    fn __pow__(&self, e: f64, _m: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
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

    /// The matrix product (broadcast over leading dims), as `torch.matmul`.
    fn matmul(&self, py: Python<'_>, o: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.__matmul__(py, o)
    }
    /// `self ** e`.
    fn pow(&self, e: f64) -> PyResult<PyTensor> {
        self.__pow__(e, None)
    }
    /// The elementwise maximum with another tensor.
    fn maximum(&self, o: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = self.value();
        t.maximum(&operand(&t, o)?).py().map(PyTensor::new)
    }
    /// Values clamped to `[min, max]`.
    #[pyo3(signature = (min = None, max = None))]
    fn clamp(&self, min: Option<f64>, max: Option<f64>) -> PyResult<PyTensor> {
        self.value()
            .clamp(
                min.unwrap_or(f64::NEG_INFINITY),
                max.unwrap_or(f64::INFINITY),
            )
            .py()
            .map(PyTensor::new)
    }

    /// The sum of all elements, or over `dim` (an int or a tuple).
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn sum(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let t = self.value();
        match dim {
            None => t.sum().py(),
            Some(d) => t.sum_dims(&dims_of(d)?, keepdim).py(),
        }
        .map(PyTensor::new)
    }
    /// The mean of all elements, or over `dim`.
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn mean(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let t = self.value();
        match dim {
            None => t.mean().py(),
            Some(d) => t.mean_dims(&dims_of(d)?, keepdim).py(),
        }
        .map(PyTensor::new)
    }
    /// The largest element, or the largest over `dim` (values only).
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn max(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let t = self.value();
        match dim {
            None => t.max().py(),
            Some(d) => t.max_dims(&dims_of(d)?, keepdim).py(),
        }
        .map(PyTensor::new)
    }
    /// The smallest element, or the smallest over `dim` (values only).
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn min(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        let t = self.value();
        match dim {
            None => t.min().py(),
            Some(d) => t.min_dims(&dims_of(d)?, keepdim).py(),
        }
        .map(PyTensor::new)
    }
    /// The variance (Bessel's correction by default, as PyTorch).
    #[pyo3(signature = (dim = None, keepdim = false, correction = 1))]
    fn var(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        correction: usize,
    ) -> PyResult<PyTensor> {
        let t = self.value();
        let dims = match dim {
            None => (0..t.rank() as isize).collect(),
            Some(d) => dims_of(d)?,
        };
        t.var_dims(&dims, keepdim, correction)
            .py()
            .map(PyTensor::new)
    }
    /// The index of the largest element (flattened), or along `dim`.
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn argmax(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.value().argmax(dim, keepdim).py().map(PyTensor::new)
    }
    /// The index of the smallest element (flattened), or along `dim`.
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn argmin(&self, dim: Option<isize>, keepdim: bool) -> PyResult<PyTensor> {
        self.value().argmin(dim, keepdim).py().map(PyTensor::new)
    }
    /// `log(sum(exp(x)))` over `dim`, computed without overflow.
    #[pyo3(signature = (dim, keepdim = false))]
    fn logsumexp(&self, dim: &Bound<'_, PyAny>, keepdim: bool) -> PyResult<PyTensor> {
        self.value()
            .logsumexp(&dims_of(dim)?, keepdim)
            .py()
            .map(PyTensor::new)
    }
    /// Softmax along `dim`.
    #[pyo3(signature = (dim = -1))]
    fn softmax(&self, dim: isize) -> PyResult<PyTensor> {
        self.value().softmax(dim).py().map(PyTensor::new)
    }
    /// Log-softmax along `dim`.
    #[pyo3(signature = (dim = -1))]
    fn log_softmax(&self, dim: isize) -> PyResult<PyTensor> {
        self.value().log_softmax(dim).py().map(PyTensor::new)
    }
    /// `max(x, 0) + slope · min(x, 0)`.
    #[pyo3(signature = (negative_slope = 0.01))]
    fn leaky_relu(&self, negative_slope: f64) -> PyResult<PyTensor> {
        self.value()
            .leaky_relu(negative_slope)
            .py()
            .map(PyTensor::new)
    }

    /// The same values in another shape (one dim may be -1).
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.value()
            .reshape_infer(&shape_args(shape)?)
            .py()
            .map(PyTensor::new)
    }
    /// As `reshape`.
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        self.reshape(shape)
    }
    /// Dims `dim0` and `dim1` swapped.
    fn transpose(&self, dim0: isize, dim1: isize) -> PyResult<PyTensor> {
        self.value().transpose(dim0, dim1).py().map(PyTensor::new)
    }
    /// The dims in the order given.
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let t = self.value();
        let r = t.rank() as isize;
        let d: Vec<usize> = shape_args(dims)?
            .into_iter()
            .map(|d| if d < 0 { (d + r) as usize } else { d as usize })
            .collect();
        t.permute(&d).py().map(PyTensor::new)
    }
    /// A 2-d tensor transposed.
    #[getter(T)]
    fn t_prop(&self) -> PyResult<PyTensor> {
        self.value().t().py().map(PyTensor::new)
    }
    /// As `.T`.
    fn t(&self) -> PyResult<PyTensor> {
        self.t_prop()
    }
    /// Dims `start_dim..=end_dim` as one.
    #[pyo3(signature = (start_dim = 0, end_dim = -1))]
    fn flatten(&self, start_dim: isize, end_dim: isize) -> PyResult<PyTensor> {
        self.value()
            .flatten(start_dim, end_dim)
            .py()
            .map(PyTensor::new)
    }
    /// A dim of size 1 inserted at `dim`.
    fn unsqueeze(&self, dim: isize) -> PyResult<PyTensor> {
        self.value().unsqueeze(dim).py().map(PyTensor::new)
    }
    /// Dim `dim` (of size 1) removed; without `dim`, every dim of size 1.
    #[pyo3(signature = (dim = None))]
    fn squeeze(&self, dim: Option<isize>) -> PyResult<PyTensor> {
        let t = self.value();
        match dim {
            Some(d) => t.squeeze(d).py().map(PyTensor::new),
            None => {
                let s: Vec<usize> = t.shape().iter().copied().filter(|&n| n != 1).collect();
                t.reshape(&s).py().map(PyTensor::new)
            }
        }
    }
    /// A contiguous copy (or this tensor, when it already is).
    fn contiguous(&self) -> PyResult<PyTensor> {
        self.value().contiguous().py().map(PyTensor::new)
    }
    /// `length` entries of dim `dim` from `start`.
    fn narrow(&self, dim: isize, start: usize, length: usize) -> PyResult<PyTensor> {
        let t = self.value();
        t.dim(dim).py()?; // (checks the dim)
        let d = if dim < 0 {
            dim + t.rank() as isize
        } else {
            dim
        } as usize;
        t.narrow(d, start, length).py().map(PyTensor::new)
    }
    /// The rows of dim `dim` at `index` (an int64 tensor).
    fn index_select(&self, dim: isize, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.value()
            .index_select(dim, &index.value())
            .py()
            .map(PyTensor::new)
    }
    /// Values picked along `dim` by `index`, as `torch.gather`.
    fn gather(&self, dim: isize, index: PyRef<'_, PyTensor>) -> PyResult<PyTensor> {
        self.value()
            .gather(dim, &index.value())
            .py()
            .map(PyTensor::new)
    }
    /// `value` where `mask` (same shape or broadcast) is nonzero.
    fn masked_fill(&self, mask: PyRef<'_, PyTensor>, value: f64) -> PyResult<PyTensor> {
        self.value()
            .masked_fill(&mask.value(), value)
            .py()
            .map(PyTensor::new)
    }
    /// Broadcast to `shape`.
    #[pyo3(signature = (*shape))]
    fn expand(&self, shape: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        let t = self.value();
        let want = shape_args(shape)?;
        let off = want.len().saturating_sub(t.rank());
        let s: Vec<usize> = want
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if d < 0 {
                    t.shape()[i - off]
                } else {
                    d as usize
                }
            })
            .collect();
        t.expand(&s).py().map(PyTensor::new)
    }
}

#[pymethods]
impl PyTensor {
    /// Indexing as NumPy's basic indexing: ints (dropping the dim), slices (any step),
    /// `None` (a new dim), `...`, and a 1-d int64 tensor (rows picked along that dim).
    /// The result is a new tensor that records for backward.
    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let items: Vec<Bound<'_, PyAny>> = match index.cast::<PyTuple>() {
            Ok(t) => t.iter().collect(),
            Err(_) => vec![index.clone()],
        };
        let ellipsis = py.Ellipsis();
        let real = |i: &Bound<'_, PyAny>| !i.is_none() && !i.is(&ellipsis);
        let mut t = self.value();
        let mut d = 0usize;
        for (k, it) in items.iter().enumerate() {
            if it.is_none() {
                t = t.unsqueeze(d as isize).py()?;
                d += 1;
                continue;
            }
            if it.is(&ellipsis) {
                let after = items[k + 1..].iter().filter(|i| real(i)).count();
                d = t.rank().saturating_sub(after).max(d);
                continue;
            }
            if d >= t.rank() {
                return Err(PyIndexError::new_err(format!(
                    "too many indices for a tensor of {} dims",
                    self.value().rank()
                )));
            }
            let n = t.shape()[d];
            if let Ok(i) = it.extract::<isize>() {
                let j = if i < 0 { i + n as isize } else { i };
                if j < 0 || j >= n as isize {
                    return Err(PyIndexError::new_err(format!(
                        "index {i} is out of range for dim {d} of size {n}"
                    )));
                }
                t = t.narrow(d, j as usize, 1).py()?.squeeze(d as isize).py()?;
                continue;
            }
            if let Ok(sl) = it.cast::<PySlice>() {
                let ind = sl.indices(n as isize)?;
                let len = ind.slicelength;
                if ind.step == 1 {
                    t = t.narrow(d, ind.start.max(0) as usize, len).py()?;
                } else {
                    let rows: Vec<i64> = (0..len as isize)
                        .map(|k| (ind.start + k * ind.step) as i64)
                        .collect();
                    let idx = Tensor::from_vec(rows, &[len]).py()?;
                    t = t.index_select(d as isize, &idx).py()?;
                }
                d += 1;
                continue;
            }
            if let Ok(ti) = it.cast::<PyTensor>() {
                t = t.index_select(d as isize, &ti.borrow().value()).py()?;
                d += 1;
                continue;
            }
            return Err(PyTypeError::new_err(format!(
                "index of type {}: ints, slices, None, ... and int64 tensors index a tensor",
                it.get_type().name()?
            )));
        }
        Ok(PyTensor::new(t))
    }
}

/// Concatenates tensors along `dim`.
#[pyfunction]
#[pyo3(signature = (tensors, dim = 0))]
fn cat(tensors: Vec<PyRef<'_, PyTensor>>, dim: isize) -> PyResult<PyTensor> {
    let ts: Vec<Tensor> = tensors.iter().map(|t| t.value()).collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    Tensor::cat(&refs, dim).py().map(PyTensor::new)
}

/// Stacks tensors of one shape along a new dim `dim`.
#[pyfunction]
#[pyo3(signature = (tensors, dim = 0))]
fn stack(tensors: Vec<PyRef<'_, PyTensor>>, dim: isize) -> PyResult<PyTensor> {
    let ts: Vec<Tensor> = tensors.iter().map(|t| t.value()).collect();
    let refs: Vec<&Tensor> = ts.iter().collect();
    Tensor::stack(&refs, dim).py().map(PyTensor::new)
}

/// A tensor of `shape` filled with `value`.
#[pyfunction]
#[pyo3(signature = (shape, value, dtype = "float32"))]
fn full(shape: Vec<usize>, value: f64, dtype: &str) -> PyResult<PyTensor> {
    Ok(PyTensor::new(Tensor::full(value, &shape, dtype_of(dtype)?)))
}

/// Normal (0, 1) samples from the global stream.
#[pyfunction]
#[pyo3(signature = (shape, dtype = "float32"))]
fn randn(shape: Vec<usize>, dtype: &str) -> PyResult<PyTensor> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    Tensor::randn(&shape, dtype_of(dtype)?, r)
        .py()
        .map(PyTensor::new)
}

/// Uniform [0, 1) samples from the global stream.
#[pyfunction]
#[pyo3(signature = (shape, dtype = "float32"))]
fn rand(shape: Vec<usize>, dtype: &str) -> PyResult<PyTensor> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    Tensor::rand(&shape, dtype_of(dtype)?, r)
        .py()
        .map(PyTensor::new)
}

/// `start, start + step, ...` below `end`.
#[pyfunction]
#[pyo3(signature = (start, end, step = 1.0, dtype = "int64"))]
fn arange(start: f64, end: f64, step: f64, dtype: &str) -> PyResult<PyTensor> {
    Tensor::arange(start, end, step, dtype_of(dtype)?)
        .py()
        .map(PyTensor::new)
}

/// `where(cond, a, b)`: `a` where `cond` is nonzero, else `b`.
#[pyfunction]
#[pyo3(name = "where")]
fn where_(
    cond: PyRef<'_, PyTensor>,
    a: PyRef<'_, PyTensor>,
    b: PyRef<'_, PyTensor>,
) -> PyResult<PyTensor> {
    Tensor::where_cond(&cond.value(), &a.value(), &b.value())
        .py()
        .map(PyTensor::new)
}

/// Sets a leaf's value in place (a parameter or a buffer; the compiled module holding it
/// sees the new value). The value is converted to the leaf's dtype.
#[pyfunction]
fn _assign(target: PyRef<'_, PyTensor>, value: PyRef<'_, PyTensor>) -> PyResult<()> {
    let Some(v) = target.leaf_var() else {
        return Err(PyRuntimeError::new_err(
            "only a leaf (a parameter or buffer) can be assigned",
        ));
    };
    let t = value.value().detach().to_dtype(v.dtype()).py()?;
    v.set(&t).py()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_function(wrap_pyfunction!(_assign, m)?)?;
    m.add_function(wrap_pyfunction!(_enter_no_grad, m)?)?;
    m.add_function(wrap_pyfunction!(_exit_no_grad, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    let _ = py_err;
    Ok(())
}
