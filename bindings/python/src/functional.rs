//! The ops `nabla.nn.functional` needs beyond the tensor methods: losses, `linear`,
//! convolution, pooling, layer norm and dropout.

use crate::tensor::PyTensor;
use crate::OrPy;
use nabla::core::{AvgPool2dOptions, Conv2dOptions, MaxPool2dOptions, Tensor};
use nabla::nn::{loss, CrossEntropyOptions, Reduction};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn reduction(r: &str) -> PyResult<Reduction> {
    match r {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        _ => Err(PyValueError::new_err(format!(
            "reduction={r:?}: \"mean\", \"sum\" or \"none\""
        ))),
    }
}

fn opt(t: &Option<PyRef<'_, PyTensor>>) -> Option<Tensor> {
    t.as_ref().map(|t| t.value())
}

/// Cross-entropy of logits `[N, C]` (or `[N, C, ...]`) with class indices or probabilities.
#[pyfunction]
#[pyo3(signature = (input, target, reduction = "mean", ignore_index = -100, label_smoothing = 0.0))]
fn cross_entropy(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    reduction: &str,
    ignore_index: i64,
    label_smoothing: f64,
) -> PyResult<PyTensor> {
    let opts = CrossEntropyOptions {
        reduction: self::reduction(reduction)?,
        ignore_index,
        label_smoothing,
    };
    let (x, y) = (input.value(), target.value());
    py.detach(|| loss::cross_entropy(&x, &y, opts))
        .py()
        .map(PyTensor::new)
}

/// Negative log-likelihood of log-probabilities `[N, C]` with class indices `[N]`.
#[pyfunction]
#[pyo3(signature = (input, target, reduction = "mean", ignore_index = -100))]
fn nll_loss(
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    reduction: &str,
    ignore_index: i64,
) -> PyResult<PyTensor> {
    loss::nll_loss(
        &input.value(),
        &target.value(),
        ignore_index,
        self::reduction(reduction)?,
    )
    .py()
    .map(PyTensor::new)
}

/// Regression losses by name: `mse`, `l1`, `huber` (`delta`), `smooth_l1` (`delta` as beta),
/// `bce` (probabilities), `bce_with_logits`.
#[pyfunction]
#[pyo3(signature = (kind, input, target, reduction = "mean", delta = 1.0))]
fn pointwise_loss(
    kind: &str,
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    reduction: &str,
    delta: f64,
) -> PyResult<PyTensor> {
    let (x, y, r) = (input.value(), target.value(), self::reduction(reduction)?);
    match kind {
        "mse" => loss::mse_loss(&x, &y, r),
        "l1" => loss::l1_loss(&x, &y, r),
        "huber" => loss::huber_loss(&x, &y, delta, r),
        "smooth_l1" => loss::smooth_l1_loss(&x, &y, delta, r),
        "bce" => loss::binary_cross_entropy(&x, &y, r),
        "bce_with_logits" => loss::binary_cross_entropy_with_logits(&x, &y, r),
        k => return Err(PyValueError::new_err(format!("loss {k}"))),
    }
    .py()
    .map(PyTensor::new)
}

/// `x Wᵀ + b`.
#[pyfunction]
#[pyo3(signature = (input, weight, bias = None))]
fn linear(
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
) -> PyResult<PyTensor> {
    input
        .value()
        .linear(&weight.value(), opt(&bias).as_ref())
        .py()
        .map(PyTensor::new)
}

/// A 2-d convolution with explicit padding.
#[pyfunction]
#[pyo3(signature = (input, weight, bias, stride, padding, dilation, groups))]
#[allow(clippy::too_many_arguments)]
fn conv2d(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> PyResult<PyTensor> {
    let opts = Conv2dOptions {
        stride,
        padding,
        dilation,
        groups,
    };
    let (x, w, b) = (input.value(), weight.value(), opt(&bias));
    py.detach(|| x.conv2d(&w, b.as_ref(), opts))
        .py()
        .map(PyTensor::new)
}

/// 2-d max pooling.
#[pyfunction]
fn max_pool2d(
    input: PyRef<'_, PyTensor>,
    kernel_size: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    ceil_mode: bool,
) -> PyResult<PyTensor> {
    let opts = MaxPool2dOptions {
        kernel: kernel_size,
        stride,
        padding,
        dilation,
        ceil_mode,
    };
    input.value().max_pool2d(opts).py().map(PyTensor::new)
}

/// 2-d average pooling.
#[pyfunction]
fn avg_pool2d(
    input: PyRef<'_, PyTensor>,
    kernel_size: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    ceil_mode: bool,
    count_include_pad: bool,
) -> PyResult<PyTensor> {
    let opts = AvgPool2dOptions {
        kernel: kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
    };
    input.value().avg_pool2d(opts).py().map(PyTensor::new)
}

/// Adaptive average pooling to `output_size`.
#[pyfunction]
fn adaptive_avg_pool2d(
    input: PyRef<'_, PyTensor>,
    output_size: (usize, usize),
) -> PyResult<PyTensor> {
    input
        .value()
        .adaptive_avg_pool2d(output_size)
        .py()
        .map(PyTensor::new)
}

/// Layer normalization over the last `len(normalized_shape)` dims.
#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight = None, bias = None, eps = 1e-5))]
fn layer_norm(
    input: PyRef<'_, PyTensor>,
    normalized_shape: Vec<usize>,
    weight: Option<PyRef<'_, PyTensor>>,
    bias: Option<PyRef<'_, PyTensor>>,
    eps: f64,
) -> PyResult<PyTensor> {
    let (w, b) = (opt(&weight), opt(&bias));
    input
        .value()
        .layer_norm(&normalized_shape, w.as_ref(), b.as_ref(), eps)
        .py()
        .map(PyTensor::new)
}

/// Dropout: in training, zeroes each element with probability `p` (from the global stream)
/// and scales the rest by `1 / (1 - p)`.
#[pyfunction]
#[pyo3(signature = (input, p = 0.5, training = true))]
fn dropout(input: PyRef<'_, PyTensor>, p: f64, training: bool) -> PyResult<PyTensor> {
    let d = nabla::nn::Dropout::new(p).py()?;
    let x = input.value();
    crate::with_forward_ctx(training, |ctx| nabla::nn::Module::forward(&d, &x, ctx))
        .py()
        .map(PyTensor::new)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(nll_loss, m)?)?;
    m.add_function(wrap_pyfunction!(pointwise_loss, m)?)?;
    m.add_function(wrap_pyfunction!(linear, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(adaptive_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(dropout, m)?)?;
    Ok(())
}
