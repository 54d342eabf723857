//! # nabla-core
//!
//! Tensors (f32, f64, i64) with NumPy broadcasting and strided views, reverse-mode automatic
//! differentiation (backpropagation by the chain rule), a numerical gradient checker, fast CPU
//! kernels, and NumPy-compatible random numbers.
//!
//! ```
//! use nabla_core::{Tensor, Var, DType};
//! // y = sum(tanh(w * x + b)); dy/dw and dy/db by backpropagation
//! let w = Var::from_vec(vec![0.5f64, -1.0], &[2]).unwrap();
//! let b = Var::from_vec(vec![0.1f64, 0.2], &[2]).unwrap();
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
//! let y = w.as_tensor().mul(&x).unwrap().add(&b.as_tensor()).unwrap().tanh().unwrap().sum().unwrap();
//! let grads = y.backward().unwrap();
//! assert_eq!(w.grad(&grads).unwrap().shape(), &[2]);
//! ```
#![warn(missing_docs)]

pub mod anomaly;
mod backprop;
mod cpu;
mod dtype;
mod elements;
mod error;
mod gradcheck;
pub mod io;
mod layout;
mod ops;
pub mod parallel;
mod rng;
mod storage;
mod strided;
mod tensor;
mod tensor_id;
mod var;

pub use anomaly::detect_anomaly;
pub use backprop::{is_grad_enabled, no_grad, GradStore, NoGradGuard};
pub use dtype::{erf_f64, DType, Element, Float};
pub use error::{Error, Result};
pub use gradcheck::{assert_gradcheck, gradcheck, GradcheckOptions, GradcheckReport, Mismatch};
pub use layout::{broadcast_shapes, Layout};
pub use ops::conv::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions};
pub use ops::conv_shapes::{
    conv1d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape,
};
pub use ops::index::index_tensor;
pub use ops::pool::{
    avg_pool_output_shape, max_pool_output_shape, AvgPool1dOptions, AvgPool2dOptions,
    MaxPool1dOptions, MaxPool2dOptions,
};
pub use ops::rnn::RnnNonlinearity;
pub use ops::PRIMITIVE_OPS;
pub use rng::{stream_seed, Mt19937, MtState, Rng};
pub use storage::{pool_misses, Storage, StorageElem};
pub use tensor::{Tensor, TensorId};
pub use var::Var;
mod format;
