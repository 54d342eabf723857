//! Checkpoint files (`nabla.save`/`nabla.load`, the CLI's `model.safetensors` layout) and
//! whole runs from a TOML config (`nabla.Experiment`).

use crate::tensor::PyTensor;
use crate::OrPy;
use nabla::core::Tensor;
use nabla::experiment::Experiment;
use nabla::train::ProgressMode;
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Writes tensors by name as a safetensors file (atomically: a failed write leaves no
/// partial file).
#[pyfunction]
fn save(
    py: Python<'_>,
    tensors: Vec<(String, PyRef<'_, PyTensor>)>,
    path: PathBuf,
) -> PyResult<()> {
    let map: BTreeMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, t)| (k, t.value().detach()))
        .collect();
    py.detach(|| nabla::core::io::save_safetensors(&map, &path))
        .py()
}

/// Reads the tensors of a safetensors file, or of a checkpoint folder's `model.safetensors`
/// (a `nabla train` run's `checkpoints/ckpt-N`).
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(String, PyTensor)>> {
    if !path.exists() {
        return Err(PyFileNotFoundError::new_err(format!(
            "{}: no such file or folder",
            path.display()
        )));
    }
    let w = py
        .detach(|| nabla::train::checkpoint::read_model_weights(&path))
        .py()?;
    Ok(w.tensors
        .into_iter()
        .map(|(k, t)| (k, PyTensor::new(t)))
        .collect())
}

/// A run described by a TOML config, as `nabla train CONFIG` runs it.
#[pyclass(module = "nabla._nabla", name = "_Experiment")]
pub struct PyExperiment {
    inner: Option<Experiment>,
}

#[pymethods]
impl PyExperiment {
    #[new]
    #[pyo3(signature = (path, out_dir = None, data = None, epochs = None, seed = None, progress = true))]
    fn new(
        path: PathBuf,
        out_dir: Option<PathBuf>,
        data: Option<PathBuf>,
        epochs: Option<usize>,
        seed: Option<u64>,
        progress: bool,
    ) -> PyResult<Self> {
        if !path.exists() {
            return Err(PyFileNotFoundError::new_err(format!(
                "{}: no such file",
                path.display()
            )));
        }
        let mut e = Experiment::from_toml_file(&path).py()?;
        if let Some(d) = out_dir {
            e = e.with_out_dir(d);
        }
        if let Some(d) = data {
            e = e.with_data_dir(d);
        }
        if let Some(n) = epochs {
            e = e.with_epochs(n);
        }
        if let Some(s) = seed {
            e = e.with_seed(s);
        }
        e = e.with_progress(if progress {
            ProgressMode::Auto
        } else {
            ProgressMode::Quiet
        });
        Ok(PyExperiment { inner: Some(e) })
    }

    /// Trains; returns `(run folder, summary.json's text)`. The training runs without the
    /// GIL on its own thread; Ctrl-C stops it at the end of the current step (its last
    /// checkpoint kept) and raises `KeyboardInterrupt`.
    fn fit(&mut self, py: Python<'_>) -> PyResult<(String, String)> {
        let Some(e) = self.inner.take() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this experiment was already fitted; make a new one",
            ));
        };
        let stop = Arc::new(AtomicBool::new(false));
        let e = e.with_stop_flag(stop.clone());
        let worker = std::thread::spawn(move || e.fit());
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(Duration::from_millis(20)));
            if let Err(err) = py.check_signals() {
                // stop at the end of the step, then raise (KeyboardInterrupt for Ctrl-C)
                stop.store(true, Ordering::Relaxed);
                py.detach(|| {
                    let _ = worker.join();
                });
                return Err(err);
            }
        }
        let r = worker
            .join()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("the training thread panicked"))?
            .py()?;
        Ok((r.dir.display().to_string(), r.summary.to_string()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_class::<PyExperiment>()?;
    crate::functional::register(m)
}
