//! Helpers shared by nabla-core's integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use nabla_core::Tensor;

/// An f64 tensor of `shape` holding `v`.
pub fn t(v: Vec<f64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape).unwrap()
}

/// The bits of every element (as f64), for bitwise comparisons.
pub fn bits(t: &Tensor) -> Vec<u64> {
    t.to_vec_f64().iter().map(|x| x.to_bits()).collect()
}

/// `f` run in a fresh rayon pool of `threads` threads.
pub fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}
