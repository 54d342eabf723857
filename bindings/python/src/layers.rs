//! `nabla._nabla.Layer`: one `nabla_nn` module (a linear layer, a convolution, an LSTM
//! stack, ...) behind an opaque handle. The Python `nn` classes build one, keep its
//! parameters as `Tensor` leaves, and call `forward` with their training mode.

use crate::tensor::PyTensor;
use crate::OrPy;
use nabla::core::Conv2dOptions;
use nabla::nn::{
    Activation, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Dropout2d, Embedding,
    EncoderLayerOptions, ForwardCtx, Gru, LayerNorm, Linear, Lstm, Module, MultiheadAttention, Rnn,
    RnnNonlinearity, RnnOptions, RnnState, TransformerEncoder, TransformerEncoderLayer,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What kind of module a layer holds, for the forward passes that return state.
enum Held {
    Plain(Box<dyn Module>),
    Lstm(Lstm),
    Gru(Gru),
    Rnn(Rnn),
}

/// One nabla module.
#[pyclass(module = "nabla._nabla")]
pub struct Layer {
    held: Mutex<Held>,
}

impl Held {
    fn module(&self) -> &dyn Module {
        match self {
            Held::Plain(m) => m.as_ref(),
            Held::Lstm(m) => m,
            Held::Gru(m) => m,
            Held::Rnn(m) => m,
        }
    }
}

impl Layer {
    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn plain(m: impl Module + 'static) -> Layer {
    Layer {
        held: Mutex::new(Held::Plain(Box::new(m))),
    }
}

/// Runs `f` on the layer's module with a forward context of the given mode (dropout masks
/// from the global stream), with the GIL released. The locks are taken and dropped while
/// the GIL is released, so a thread waiting for them never holds the GIL.
fn with_ctx<R: Send>(
    py: Python<'_>,
    layer: &Layer,
    training: bool,
    f: impl FnOnce(&Held, &mut ForwardCtx<'_>) -> R + Send,
) -> R {
    py.detach(|| {
        let held = layer.held();
        crate::with_forward_ctx(training, |ctx| f(&held, ctx))
    })
}

#[pymethods]
impl Layer {
    /// The module's forward pass.
    fn forward(
        &self,
        py: Python<'_>,
        x: PyRef<'_, PyTensor>,
        training: bool,
    ) -> PyResult<PyTensor> {
        let x = x.value();
        with_ctx(py, self, training, |h, ctx| h.module().forward(&x, ctx))
            .py()
            .map(PyTensor::new)
    }

    /// A recurrent stack's forward pass from an optional initial state: `(output, h, c)`
    /// (`c` only for an LSTM).
    #[pyo3(signature = (x, training, h0 = None, c0 = None))]
    fn forward_state(
        &self,
        py: Python<'_>,
        x: PyRef<'_, PyTensor>,
        training: bool,
        h0: Option<PyRef<'_, PyTensor>>,
        c0: Option<PyRef<'_, PyTensor>>,
    ) -> PyResult<(PyTensor, PyTensor, Option<PyTensor>)> {
        let x = x.value();
        let state = h0.map(|h| RnnState {
            h: h.value(),
            c: c0.map(|c| c.value()),
        });
        let s = state.as_ref();
        let (y, st) = with_ctx(py, self, training, |h, ctx| match h {
            Held::Lstm(m) => m.forward_with_state(&x, s, ctx).map(Some),
            Held::Gru(m) => m.forward_with_state(&x, s, ctx).map(Some),
            Held::Rnn(m) => m.forward_with_state(&x, s, ctx).map(Some),
            Held::Plain(_) => Ok(None),
        })
        .py()?
        .ok_or_else(|| PyValueError::new_err("forward_state is for LSTM, GRU and RNN layers"))?;
        Ok((
            PyTensor::new(y),
            PyTensor::new(st.h),
            st.c.map(PyTensor::new),
        ))
    }

    /// The trainable parameters by PyTorch's names, as leaves sharing the module's values.
    fn parameters(&self) -> Vec<(String, PyTensor)> {
        self.held()
            .module()
            .parameters()
            .into_iter()
            .map(|(n, v)| (n, PyTensor::leaf(v)))
            .collect()
    }

    /// The buffers (batch norm's running statistics) by PyTorch's names.
    fn buffers(&self) -> Vec<(String, PyTensor)> {
        self.held()
            .module()
            .buffers()
            .into_iter()
            .map(|(n, v)| (n, PyTensor::buffer(v)))
            .collect()
    }

    /// Sets a buffer's value (a batch norm's running statistic) by name.
    fn set_buffer(&self, name: &str, value: PyRef<'_, PyTensor>) -> PyResult<()> {
        let b = self.held().module().buffers();
        let Some((_, v)) = b.iter().find(|(n, _)| n == name) else {
            return Err(PyValueError::new_err(format!("no buffer {name}")));
        };
        let t = value.value().to_dtype(v.dtype()).py()?;
        v.set(&t).py()
    }

    /// The module's one-line description.
    fn __repr__(&self) -> String {
        self.held().module().describe()
    }
}

/// A dense layer `y = x Wᵀ + b`.
#[pyfunction]
fn new_linear(in_features: usize, out_features: usize, bias: bool) -> PyResult<Layer> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    let l = if bias {
        Linear::new(in_features, out_features, r)
    } else {
        Linear::without_bias(in_features, out_features, r)
    };
    l.py().map(plain)
}

/// A 2-d convolution.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn new_conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
    bias: bool,
) -> PyResult<Layer> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    let opts = Conv2dOptions {
        stride,
        padding,
        dilation,
        groups,
    };
    Conv2d::with_options(in_channels, out_channels, kernel_size, opts, bias, r)
        .py()
        .map(plain)
}

/// Batch normalization over `[N, C]` / `[N, C, L]` (`rank = 1`) or `[N, C, H, W]`.
#[pyfunction]
fn new_batch_norm(
    rank: usize,
    num_features: usize,
    eps: f64,
    momentum: f64,
    affine: bool,
) -> Layer {
    if rank == 1 {
        plain(BatchNorm1d::with_options(
            num_features,
            eps,
            momentum,
            affine,
        ))
    } else {
        plain(BatchNorm2d::with_options(
            num_features,
            eps,
            momentum,
            affine,
        ))
    }
}

/// Dropout of elements (`channels = false`) or of whole channels.
#[pyfunction]
fn new_dropout(p: f64, channels: bool) -> PyResult<Layer> {
    if channels {
        Dropout2d::new(p).py().map(plain)
    } else {
        Dropout::new(p).py().map(plain)
    }
}

/// A table of `num_embeddings` vectors of `embedding_dim`, drawn from N(0, 1).
#[pyfunction]
fn new_embedding(num_embeddings: usize, embedding_dim: usize) -> PyResult<Layer> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    Embedding::new(num_embeddings, embedding_dim, r)
        .py()
        .map(plain)
}

/// Layer normalization over the last dims.
#[pyfunction]
fn new_layer_norm(
    normalized_shape: Vec<usize>,
    eps: f64,
    elementwise_affine: bool,
    bias: bool,
) -> Layer {
    plain(LayerNorm::with_options(&normalized_shape, eps, elementwise_affine).with_bias(bias))
}

/// An LSTM, GRU or Elman RNN stack (`kind` "lstm", "gru", "rnn_tanh", "rnn_relu").
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn new_recurrent(
    kind: &str,
    input_size: usize,
    hidden_size: usize,
    num_layers: usize,
    bias: bool,
    batch_first: bool,
    dropout: f64,
    bidirectional: bool,
) -> PyResult<Layer> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    let opts = RnnOptions {
        num_layers,
        bidirectional,
        dropout,
        batch_first,
        bias,
    };
    let held = match kind {
        "lstm" => Held::Lstm(Lstm::with_options(input_size, hidden_size, opts, r).py()?),
        "gru" => Held::Gru(Gru::with_options(input_size, hidden_size, opts, r).py()?),
        "rnn_tanh" | "rnn_relu" => {
            let nl = if kind == "rnn_relu" {
                RnnNonlinearity::Relu
            } else {
                RnnNonlinearity::Tanh
            };
            Held::Rnn(Rnn::with_options(input_size, hidden_size, nl, opts, r).py()?)
        }
        k => return Err(PyValueError::new_err(format!("recurrent kind {k}"))),
    };
    Ok(Layer {
        held: Mutex::new(held),
    })
}

/// Multi-head self-attention over `[N, T, E]`.
#[pyfunction]
fn new_multihead_attention(
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    bias: bool,
    causal: bool,
) -> PyResult<Layer> {
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    MultiheadAttention::with_options(embed_dim, num_heads, dropout, bias, r)
        .py()
        .map(|m| plain(m.causal(causal)))
}

/// The activation of a transformer's feed-forward block by name.
fn activation(name: &str) -> PyResult<Activation> {
    match name {
        "relu" => Ok(Activation::ReLU),
        "gelu" => Ok(Activation::GELU),
        a => Err(PyValueError::new_err(format!(
            "activation {a:?}: \"relu\" or \"gelu\""
        ))),
    }
}

/// A transformer encoder layer (`num_layers = 0`) or a stack of them, over `[N, T, E]`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn new_transformer_encoder(
    d_model: usize,
    nhead: usize,
    num_layers: usize,
    dim_feedforward: usize,
    dropout: f64,
    activation_name: &str,
    layer_norm_eps: f64,
    norm_first: bool,
    bias: bool,
    causal: bool,
    final_norm: bool,
) -> PyResult<Layer> {
    let opts = EncoderLayerOptions {
        dim_feedforward,
        dropout,
        activation: activation(activation_name)?,
        layer_norm_eps,
        norm_first,
        bias,
        causal,
    };
    let mut g = crate::rng();
    let r = g.as_mut().expect("seeded");
    if num_layers == 0 {
        return TransformerEncoderLayer::new(d_model, nhead, opts, r)
            .py()
            .map(plain);
    }
    TransformerEncoder::new(d_model, nhead, num_layers, opts, final_norm, r)
        .py()
        .map(plain)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Layer>()?;
    m.add_function(wrap_pyfunction!(new_linear, m)?)?;
    m.add_function(wrap_pyfunction!(new_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(new_batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(new_dropout, m)?)?;
    m.add_function(wrap_pyfunction!(new_embedding, m)?)?;
    m.add_function(wrap_pyfunction!(new_layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(new_recurrent, m)?)?;
    m.add_function(wrap_pyfunction!(new_multihead_attention, m)?)?;
    m.add_function(wrap_pyfunction!(new_transformer_encoder, m)?)?;
    Ok(())
}
