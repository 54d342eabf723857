//! # nabla-nn
//!
//! Modules (layers with named parameters), activations, losses, initializers, optimizers,
//! learning-rate schedules and gradient clipping, with PyTorch's names, defaults and
//! `state_dict` layout.
#![warn(missing_docs)]

pub mod module;
pub mod state;

pub use module::{ForwardCtx, Module};
pub use state::StateDict;
pub mod clip;
pub mod optim;
pub mod schedule;
