//! The NumPy XOR program that nabla grew from (a 2-2-1 sigmoid network without biases,
//! 10,000 full-batch updates written with the δ recursions of backpropagation), line by line
//! with nabla tensors. It prints exactly what the NumPy program prints. `nabla demo xor`
//! runs the same program with more options (`--explain`, `--autograd`, `--bias`).
//!
//! Run: `cargo run --release --example xor_seed [-- --seed 1 --iterations 10000]`

use nabla::prelude::*;

/// The seed's `sigmoid`: `1 / (1 + exp(-x))`.
fn sigmoid(x: &Tensor) -> Result<Tensor> {
    x.neg()?.exp()?.add_scalar(1.0)?.recip()
}

/// The seed's `sigmoid_derivative` of an activation `a`: `a (1 - a)`.
fn sigmoid_derivative(a: &Tensor) -> Result<Tensor> {
    a.mul(&a.neg()?.add_scalar(1.0)?)
}

/// Trains as the seed does and returns the last forward pass's output `l2` (4×1).
pub fn run(seed: u32, iterations: usize) -> Result<Tensor> {
    let x = Tensor::from_vec(vec![0.0f64, 0., 0., 1., 1., 0., 1., 1.], &[4, 2])?;
    let y = Tensor::from_vec(vec![0.0f64, 1., 1., 0.], &[4, 1])?;
    // np.random.seed(seed); w = 2 * np.random.random(shape) - 1
    let mut rng = Mt19937::new(seed);
    let mut w0 = Tensor::rand(&[2, 2], DType::F64, &mut rng)?.affine(2.0, -1.0)?;
    let mut w1 = Tensor::rand(&[2, 1], DType::F64, &mut rng)?.affine(2.0, -1.0)?;
    let mut l2 = Tensor::zeros(&[4, 1], DType::F64);
    for _ in 0..iterations {
        let l0 = &x;
        let l1 = sigmoid(&l0.matmul(&w0)?)?;
        l2 = sigmoid(&l1.matmul(&w1)?)?;
        let l2_error = y.sub(&l2)?;
        let l2_delta = l2_error.mul(&sigmoid_derivative(&l2)?)?; // -δ²
        let l1_error = l2_delta.matmul(&w1.t()?)?;
        let l1_delta = l1_error.mul(&sigmoid_derivative(&l1)?)?; // -δ¹
        w1 = w1.add(&l1.t()?.matmul(&l2_delta)?)?; // W² -= ∂C/∂W²
        w0 = w0.add(&l0.t()?.matmul(&l1_delta)?)?; // W¹ -= ∂C/∂W¹
    }
    Ok(l2)
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
    let l2 = run(value("--seed", 1)? as u32, value("--iterations", 10_000)?)?;
    println!("Output after training:\n{l2}");
    Ok(())
}
