//! `nabla._nabla.Optimizer`: one of nabla's optimizers over Python leaves. `step()` reads
//! each parameter's `.grad` (as PyTorch's optimizers do) and updates its value in place.

use crate::tensor::PyTensor;
use crate::OrPy;
use nabla::core::{GradStore, Var};
use nabla::nn::optim::{Optimizer as _, OptimizerConfig};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// An optimizer built from its config (`{"name": "adam", "lr": ..}`, the keys of a config
/// file's `train.optimizer`), so its values are checked as the CLI checks them.
#[pyclass(module = "nabla._nabla")]
pub struct Optimizer {
    inner: std::sync::Mutex<Box<dyn nabla::nn::optim::Optimizer>>,
    params: Vec<Py<PyTensor>>,
}

#[pymethods]
impl Optimizer {
    #[new]
    fn new(py: Python<'_>, config_json: &str, params: Vec<Py<PyTensor>>) -> PyResult<Self> {
        let cfg: OptimizerConfig =
            serde_json::from_str(config_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
        cfg.validate().map_err(PyValueError::new_err)?;
        let mut vars: Vec<Var> = Vec::with_capacity(params.len());
        for p in &params {
            match p.borrow(py).param_var() {
                Some(v) => vars.push(v.clone()),
                None => {
                    return Err(PyTypeError::new_err(
                        "optimizer parameters must be leaves that require grad (a layer's \
                         parameters, or tensors made with requires_grad=True)",
                    ))
                }
            }
        }
        if vars.is_empty() {
            return Err(PyValueError::new_err(
                "optimizer got an empty parameter list",
            ));
        }
        Ok(Optimizer {
            inner: std::sync::Mutex::new(cfg.build(vars)),
            params,
        })
    }

    /// One update from the parameters' `.grad` (those without one are left alone).
    fn step(&mut self, py: Python<'_>) -> PyResult<()> {
        let mut grads = GradStore::default();
        for p in &self.params {
            let p = p.borrow(py);
            if let Some(g) = p.grad_value() {
                grads.insert(&p.value(), g);
            }
        }
        let inner = &self.inner;
        py.detach(|| lock(inner).step(&grads)).py()
    }

    /// Clears every parameter's `.grad` (PyTorch's default, `set_to_none=True`).
    fn zero_grad(&self, py: Python<'_>) {
        for p in &self.params {
            p.borrow(py).set_grad(None);
        }
    }

    /// The learning rate (of the first parameter group).
    #[getter]
    fn lr(&self) -> f64 {
        lock(&self.inner).lr()
    }

    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        if !(lr >= 0.0 && lr.is_finite()) {
            return Err(PyValueError::new_err(format!("lr must be >= 0, got {lr}")));
        }
        lock(&self.inner).set_lr(lr);
        Ok(())
    }

    /// The optimizer's name ("Adam", "SGD", ...).
    fn name(&self) -> &'static str {
        lock(&self.inner).name()
    }
}

type Boxed = Box<dyn nabla::nn::optim::Optimizer>;

fn lock(m: &std::sync::Mutex<Boxed>) -> std::sync::MutexGuard<'_, Boxed> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Optimizer>()
}
