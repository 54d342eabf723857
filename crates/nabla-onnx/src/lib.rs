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

/// Protobuf's limit on one message: a model past it keeps its weights in a side file.
const PROTOBUF_LIMIT: usize = (1 << 31) - 1;

/// Writes `model` to `path` atomically: a temporary file beside it, renamed into place, so a
/// failed write leaves no partial file (and an existing file untouched). A model past
/// protobuf's 2 GiB limit is written in ONNX's external-data form instead (see
/// [`save_external`]).
///
/// Fails when the folder does not exist or cannot be written.
pub fn save(model: &proto::ModelProto, path: impl AsRef<Path>) -> Result<()> {
    let size = prost::Message::encoded_len(model);
    if size >= PROTOBUF_LIMIT {
        return save_external(model, path, 1024);
    }
    nabla_core::io::write_atomic(path.as_ref(), &to_bytes(model))
}

/// Writes `model` to `path` with every float initializer (weight) of at least `min_bytes`
/// bytes in the side file `<path>.data` (ONNX's external-data form: `location`, `offset` at a multiple of
/// 4096, `length`), so the `.onnx` file stays small; ONNX Runtime reads both from the same
/// folder. Both files are written atomically, the data first.
///
/// Fails when the folder does not exist or cannot be written.
pub fn save_external(
    model: &proto::ModelProto,
    path: impl AsRef<Path>,
    min_bytes: usize,
) -> Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .map(|n| format!("{}.data", n.to_string_lossy()))
        .ok_or_else(|| Error::Config(format!("{}: not a file name", path.display())))?;
    let mut model = model.clone();
    let mut data = Vec::new();
    if let Some(g) = model.graph.as_mut() {
        // weights only: shape and axis constants stay inline, where shape inference reads them
        for t in g
            .initializer
            .iter_mut()
            .filter(|t| t.data_type == proto::data_type::FLOAT && t.raw_data.len() >= min_bytes)
        {
            let offset = data.len().div_ceil(4096) * 4096;
            data.resize(offset, 0);
            data.extend_from_slice(&t.raw_data);
            let entry = |key: &str, value: String| proto::StringStringEntryProto {
                key: key.into(),
                value,
            };
            t.external_data = vec![
                entry("location", name.clone()),
                entry("offset", offset.to_string()),
                entry("length", t.raw_data.len().to_string()),
            ];
            t.data_location = 1;
            t.raw_data = Vec::new();
        }
    }
    nabla_core::io::write_atomic(&path.with_file_name(&name), &data)?;
    nabla_core::io::write_atomic(path, &to_bytes(&model))
}
