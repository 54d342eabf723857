//! # nabla
//!
//! A deep-learning library built on error backpropagation. This crate re-exports the parts
//! (`nabla-core` today) and holds the seed's XOR program ([`demo::xor`]).
//!
//! ```
//! use nabla::prelude::*;
//! let w = Var::from_vec(vec![0.5f64, -0.25], &[2, 1]).unwrap();
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2]).unwrap();
//! let loss = x.matmul(&w.as_tensor()).unwrap().sigmoid().unwrap().sum().unwrap();
//! let grads = loss.backward().unwrap();
//! assert_eq!(w.grad(&grads).unwrap().shape(), &[2, 1]);
//! ```
#![warn(missing_docs)]

pub mod demo;

pub use nabla_core as core;

/// Everything a training script usually needs.
pub mod prelude {
    pub use nabla_core::{
        gradcheck, no_grad, DType, Error, GradStore, GradcheckOptions, Mt19937, Result, Rng,
        Tensor, Var,
    };
}
