//! # nabla-onnx
//!
//! Exports a nabla model as an [ONNX](https://onnx.ai) file that ONNX Runtime (or TensorRT,
//! OpenVINO, a browser) runs: the graph computes what the model's forward pass returns
//! (logits, no softmax appended), its weights are initializers, and the batch axis (and a
//! token model's sequence axis) is dynamic. Dense, convolutional, normalization, pooling,
//! embedding, recurrent, positional and transformer layers export. The export is driven by the model's layer configs, so every model built from
//! configs (by the CLI or in Rust) exports; a layer with no ONNX form is refused, naming it.
//!
//! ```
//! # fn main() -> nabla_core::Result<()> {
//! use nabla_core::{Error, Mt19937};
//! use nabla_nn::config::LinearConfig;
//! use nabla_nn::{LayerConfig, LayerInput, Sequential};
//! // a model built from its layer configs (as `nabla train` builds one)
//! let layers = vec![
//!     LayerConfig::Linear(LinearConfig::new(16)),
//!     LayerConfig::Relu,
//!     LayerConfig::Linear(LinearConfig::new(3)),
//! ];
//! let (mut model, mut shape, mut rng) = (Sequential::new(), vec![1, 8], Mt19937::new(0));
//! for l in &layers {
//!     let input = LayerInput::new(&shape);
//!     model.push(l.layer().build(&input, &mut rng).map_err(Error::Config)?);
//!     shape = l.layer().output_shape(&input).map_err(Error::Config)?;
//! }
//! let opts = nabla_onnx::ExportOptions { input_shape: vec![8], ..Default::default() };
//! let exported = nabla_onnx::export(&layers, &model, &opts)?;
//! assert_eq!(exported.output_shape, vec![None, Some(3)]); // [batch, 3]
//! let bytes = nabla_onnx::to_bytes(&exported.model); // or nabla_onnx::save(.., "model.onnx")
//! assert!(bytes.len() > 4 * (8 * 16 + 16 * 3));
//! # Ok(()) }
//! ```
//!
//! The protocol-buffer messages are written by hand ([`proto`]), so building needs no
//! `protoc`.
#![warn(missing_docs)]

mod export;
mod graph;
pub mod proto;

pub use export::{export, ExportOptions, Exported, DEFAULT_OPSET, MAX_OPSET, MIN_OPSET};

use nabla_core::{Error, Result};
use std::path::Path;

/// The model's bytes, as an `.onnx` file holds them.
pub fn to_bytes(model: &proto::ModelProto) -> Vec<u8> {
    prost::Message::encode_to_vec(model)
}

/// Writes `model` to `path` atomically: a temporary file beside it, renamed into place, so a
/// failed write leaves no partial file (and an existing file untouched).
///
/// Fails when the folder does not exist or cannot be written, or the model is past
/// protobuf's 2 GiB limit.
pub fn save(model: &proto::ModelProto, path: impl AsRef<Path>) -> Result<()> {
    let bytes = to_bytes(model);
    if bytes.len() >= (1 << 31) {
        return Err(Error::Config(format!(
            "{}: the model is {} bytes, past protobuf's 2 GiB limit",
            path.as_ref().display(),
            bytes.len()
        )));
    }
    nabla_core::io::write_atomic(path.as_ref(), &bytes)
}
