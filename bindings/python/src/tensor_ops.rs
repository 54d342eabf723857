//! The tensor's arithmetic, reductions, shape methods and indexing, and the functions that
//! make tensors (`cat`, `stack`, `full`, `randn`, ...): the methods of `nabla.Tensor` beyond
//! its construction, conversion and autograd (`tensor.rs`).

use crate::tensor::{dims_of, dtype_of, operand, shape_args, PyTensor};
use crate::OrPy;
use nabla::core::Tensor;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PySlice, PyTuple};

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
        reduce(&self.value(), dim, keepdim, Tensor::sum, Tensor::sum_dims)
    }
    /// The mean of all elements, or over `dim`.
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn mean(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        reduce(&self.value(), dim, keepdim, Tensor::mean, Tensor::mean_dims)
    }
    /// The largest element, or the largest over `dim` (values only).
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn max(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        reduce(&self.value(), dim, keepdim, Tensor::max, Tensor::max_dims)
    }
    /// The smallest element, or the smallest over `dim` (values only).
    #[pyo3(signature = (dim = None, keepdim = false))]
    fn min(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> PyResult<PyTensor> {
        reduce(&self.value(), dim, keepdim, Tensor::min, Tensor::min_dims)
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
    m.add_function(wrap_pyfunction!(_assign, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    Ok(())
}

/// A reduction of every element (no `dim`) or over `dim` (an int or a tuple).
fn reduce(
    t: &Tensor,
    dim: Option<&Bound<'_, PyAny>>,
    keepdim: bool,
    all: fn(&Tensor) -> nabla::core::Result<Tensor>,
    over: fn(&Tensor, &[isize], bool) -> nabla::core::Result<Tensor>,
) -> PyResult<PyTensor> {
    match dim {
        None => all(t).py(),
        Some(d) => over(t, &dims_of(d)?, keepdim).py(),
    }
    .map(PyTensor::new)
}
