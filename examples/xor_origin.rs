//! The NumPy XOR program that nabla grew from (a 2-2-1 sigmoid network without biases,
//! 10,000 full-batch updates written with the δ recursions of backpropagation), as nabla
//! runs it. The program itself, line by line with nabla tensors, is
//! `nabla::experiment::demo::xor` (crates/nabla-experiment/src/demo/xor.rs): one copy, which
//! `nabla demo xor` runs too, with more options (`--explain`, `--autograd`, `--bias`). It
//! prints exactly what the NumPy program prints.
//!
//! Run: `cargo run --release --example xor_origin [-- --seed 1 --iterations 10000]`

use nabla::experiment::demo::xor::{self, XorOptions};
use nabla::prelude::*;

/// Trains as the seed does and returns the last forward pass's output `l2` (4×1).
pub fn run(seed: u32, iterations: usize) -> Result<Tensor> {
    let opts = XorOptions {
        seed,
        iterations,
        ..XorOptions::default()
    };
    Ok(xor::run(&opts)?.output)
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number").into()),
            None => Ok(default),
        }
    };
    let seed = u32::try_from(value("--seed", 1)?).map_err(|e| format!("--seed: {e}"))?;
    let l2 = run(seed, value("--iterations", 10_000)?)?;
    println!("Output after training:\n{l2}");
    Ok(())
}
