//! A training loop written by hand, without the Trainer: batches from a DataLoader, a
//! forward pass, the loss, backpropagation, gradient clipping and an optimizer step, then
//! evaluation. On the bundled 8×8 digits, so it needs no data.
//!
//! Run: `cargo run --release --example custom_loop [-- EPOCHS]`

use nabla::prelude::*;

/// Trains a 64-64-10 MLP for `epochs` epochs; returns the test accuracy and each epoch's
/// mean training loss.
pub fn run(epochs: usize, seed: u64) -> Result<(f64, Vec<f64>)> {
    let (train, test) = digits()?.split_test(0.2, seed)?;
    let mut rng = Mt19937::new(seed as u32);
    let model = Sequential::new()
        .append(Linear::new(64, 64, &mut rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(64, 10, &mut rng)?);
    let params: Vec<Var> = model.parameters().into_iter().map(|(_, v)| v).collect();
    let mut opt = Sgd::new(&params[..], 0.1).momentum(0.9);
    let mut loader = DataLoader::new(
        train,
        LoaderConfig::new(32).with_shuffle(true).with_seed(seed),
    )?;
    let mut losses = Vec::new();
    for epoch in 1..=epochs {
        let (mut sum, mut n) = (0.0, 0);
        for batch in &mut loader {
            let batch = batch?;
            let out = model.forward(&batch.x, &mut ForwardCtx::train(&mut rng))?; // forward
            let loss = cross_entropy_loss(&out, &batch.y)?; // loss
            sum += loss.to_scalar()? * batch.len() as f64;
            n += batch.len();
            let mut grads = loss.backward()?; // backward: ∂loss/∂w for every parameter
            drop((loss, out)); // free the graph, so the update happens in place
            let norm = clip_grad_norm(&mut grads, &params, 1.0)?; // clip
            if !norm.is_finite() {
                return Err(format!("epoch {epoch}: the gradient norm is {norm}").into());
            }
            opt.step(&grads)?; // step
        }
        losses.push(sum / n as f64);
        println!("epoch {epoch}: train loss {:.4}", sum / n as f64);
    }
    // evaluation: no gradients, no random stream
    let _g = no_grad();
    let out = model.forward(test.x(), &mut ForwardCtx::eval())?;
    Ok((accuracy(&out, test.y())?, losses))
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let epochs = match std::env::args().nth(1) {
        Some(e) => e.parse().map_err(|_| "EPOCHS: a number")?,
        None => 20,
    };
    let (acc, _) = run(epochs, 0)?;
    println!("test_accuracy={acc:.4}");
    Ok(())
}
