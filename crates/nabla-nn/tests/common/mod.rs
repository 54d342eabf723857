//! Helpers shared by nabla-nn's integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use nabla_core::{Mt19937, Tensor};
use nabla_nn::{ForwardCtx, Module};

/// `m`'s training-mode output for `x`, with a fresh random stream seeded with `seed`.
pub fn train_forward(m: &dyn Module, x: &Tensor, seed: u32) -> Vec<f64> {
    m.forward(x, &mut ForwardCtx::train(&mut Mt19937::new(seed)))
        .unwrap()
        .to_vec_f64()
}
