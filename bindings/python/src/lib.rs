//! `nabla._nabla`: the compiled half of the `nabla` Python package. Tensors with autograd,
//! the layers of `nabla_nn` as opaque objects the Python `nn` modules hold, the optimizers,
//! checkpoints and whole runs. The Python half (`python/nabla`) gives them PyTorch's shape.

use nabla::core::{Error, Mt19937};
use pyo3::exceptions::{PyIndexError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::{Mutex, MutexGuard, PoisonError};

mod functional;
mod io;
mod layers;
mod optim;
mod tensor;
mod tensor_ops;

/// The global random stream (initialization and dropout), as `torch.manual_seed` sets it.
static RNG: Mutex<Option<Mt19937>> = Mutex::new(None);

/// The global random stream, seeded with 0 until `manual_seed` is called.
pub(crate) fn rng() -> MutexGuard<'static, Option<Mt19937>> {
    let mut g = RNG.lock().unwrap_or_else(PoisonError::into_inner);
    if g.is_none() {
        *g = Some(Mt19937::new(0));
    }
    g
}

/// Runs `f` with a forward context of the given mode whose dropout masks come from the
/// global stream (held for the call).
pub(crate) fn with_forward_ctx<R>(
    training: bool,
    f: impl FnOnce(&mut nabla::nn::ForwardCtx<'_>) -> R,
) -> R {
    let mut g = rng();
    let r = g.as_mut().expect("seeded");
    let mut ctx = if training {
        nabla::nn::ForwardCtx::train(r)
    } else {
        nabla::nn::ForwardCtx::eval_with_rng(r)
    };
    f(&mut ctx)
}

/// A nabla error as the Python exception that fits it: a wrong dtype is a `TypeError`, a
/// file that cannot be read an `OSError`, an index out of range an `IndexError`, a failed
/// backward pass a `RuntimeError`, other bad values a `ValueError`.
pub(crate) fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    match kind(&e) {
        Kind::Type => PyTypeError::new_err(msg),
        Kind::Os => PyOSError::new_err(msg),
        Kind::Runtime => PyRuntimeError::new_err(msg),
        Kind::Index => PyIndexError::new_err(msg),
        Kind::Value => PyValueError::new_err(msg),
    }
}

enum Kind {
    Type,
    Os,
    Runtime,
    Index,
    Value,
}

/// The exception kind of an error (a context's is its cause's).
fn kind(e: &Error) -> Kind {
    match e {
        Error::DType { .. } => Kind::Type,
        Error::Io(_) | Error::File { .. } | Error::Http { .. } => Kind::Os,
        Error::Backward(_) | Error::Anomaly(_) | Error::NonFinite { .. } => Kind::Runtime,
        Error::Context { source, .. } => kind(source),
        _ if e.to_string().contains("out of range") => Kind::Index,
        _ => Kind::Value,
    }
}

/// `Result<T, Error>` into `PyResult<T>`.
pub(crate) trait OrPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

/// Seeds the global random stream (weight initialization, dropout, `randn`), as
/// `torch.manual_seed`.
#[pyfunction]
fn manual_seed(seed: u64) {
    *rng() = Some(Mt19937::new(seed as u32));
}

#[pymodule]
fn _nabla(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    tensor::register(m)?;
    layers::register(m)?;
    optim::register(m)?;
    io::register(m)?;
    Ok(())
}
