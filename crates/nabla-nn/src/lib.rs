//! # nabla-nn
//!
//! Modules (layers with named parameters), activations, losses, initializers, optimizers,
//! learning-rate schedules and gradient clipping, with PyTorch's names, defaults and
//! `state_dict` layout.
#![warn(missing_docs)]

pub mod activation;
pub mod attention;
pub mod batch_norm;
pub mod check;
pub mod clip;
pub mod config;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod fork;
pub mod health;
pub mod init;
pub mod layer_state;
pub mod linear;
pub mod loss;
pub mod module;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod positional;
pub mod rearrange;
pub mod recurrent;
pub mod rnn_cell;
pub mod schedule;
pub mod sequential;
pub mod state;
pub mod summary;
pub mod transformer;

pub use activation::{Activation, Flatten};
pub use attention::{AttendOptions, MultiheadAttention};
pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use check::{cast_module, gradcheck_module, ParamCheck};
pub use config::{Layer, LayerConfig, LayerInput};
pub use conv::{Conv1d, Conv2d, ConvTranspose2d};
pub use dropout::{Dropout, Dropout2d};
pub use embedding::Embedding;
pub use fork::Fork;
pub use init::Init;
pub use layer_state::{KvCache, LayerState};
pub use linear::Linear;
pub use loss::{CrossEntropyOptions, Reduction};
pub use module::{parameter_count, prefixed, BatchShard, ForwardCtx, Module};
pub use nabla_core::RnnNonlinearity;
pub use norm::LayerNorm;
pub use optim::IntoParams;
pub use pool::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d};
pub use positional::PositionalEmbedding;
pub use rearrange::{Mean, Permute};
pub use recurrent::{Gru, Lstm, Rnn, RnnOptions, RnnState};
pub use rnn_cell::{GruCell, LstmCell, RnnCell};
pub use sequential::Sequential;
pub use state::StateDict;
pub use summary::{LayerSummary, Summary};
pub use transformer::{EncoderLayerOptions, TransformerEncoder, TransformerEncoderLayer};

/// A trainable parameter: a [`nabla_core::Var`] (PyTorch's `nn.Parameter`).
pub type Param = nabla_core::Var;
