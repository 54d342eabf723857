//! Training XOR with autograd: a 2-8-1 network with biases, tanh and sigmoid, plain gradient
//! descent on the mean squared error. The README shows this program.
//!
//! Run: `cargo run --release --example xor_autograd`

use nabla::prelude::*;

/// Trains the network and returns its predictions for the four patterns (4×1).
pub fn run() -> Result<Tensor> {
    let x = Tensor::from_vec(vec![0.0f32, 0., 0., 1., 1., 0., 1., 1.], &[4, 2])?;
    let y = Tensor::from_vec(vec![0.0f32, 1., 1., 0.], &[4, 1])?;
    let mut rng = Mt19937::new(0);
    let w1 = Var::new(&Tensor::uniform(&[2, 8], -1.0, 1.0, DType::F32, &mut rng)?);
    let b1 = Var::new(&Tensor::zeros(&[8], DType::F32));
    let w2 = Var::new(&Tensor::uniform(&[8, 1], -1.0, 1.0, DType::F32, &mut rng)?);
    let b2 = Var::new(&Tensor::zeros(&[1], DType::F32));
    let params = [&w1, &b1, &w2, &b2];
    for step in 0..2000 {
        let h = x.matmul(&w1.as_tensor())?.add(&b1.as_tensor())?.tanh()?;
        let p = h.matmul(&w2.as_tensor())?.add(&b2.as_tensor())?.sigmoid()?;
        let loss = p.sub(&y)?.sqr()?.mean()?;
        let grads = loss.backward()?;
        for v in params {
            if let Some(g) = v.grad(&grads) {
                v.set(&v.as_tensor().sub(&g.mul_scalar(2.0)?)?)?;
            }
        }
        if step % 500 == 0 {
            println!("step {step:4}  loss {:.6}", loss.to_scalar()?);
        }
    }
    let _guard = no_grad();
    let h = x.matmul(&w1.as_tensor())?.add(&b1.as_tensor())?.tanh()?;
    let p = h.matmul(&w2.as_tensor())?.add(&b2.as_tensor())?.sigmoid()?;
    Ok(p)
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let p = run()?;
    println!("predictions for [0,0] [0,1] [1,0] [1,1]:\n{p}");
    Ok(())
}
