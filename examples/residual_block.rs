//! A layer nabla does not ship, written by the user: a residual block `x + fc2(relu(fc1(x)))`
//! as a custom `Module`, with only `nabla::` paths, placed in a `Sequential` and trained on
//! the bundled 8×8 digits by the `Trainer`. The README shows this program.
//!
//! Run: `cargo run --release --example residual_block`

use nabla::prelude::*;

/// `x + fc2(relu(fc1(x)))`: a residual block, a layer nabla does not ship.
struct Residual {
    fc1: Linear,
    fc2: Linear,
}

impl Module for Residual {
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let h = self.fc1.forward(x, ctx)?.relu()?;
        self.fc2.forward(&h, ctx)?.add(x)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        nabla::nn::prefixed(&[("fc1", &self.fc1), ("fc2", &self.fc2)])
    }
}

impl Residual {
    fn new(width: usize, hidden: usize, rng: &mut Mt19937) -> Result<Residual> {
        Ok(Residual {
            fc1: Linear::new(width, hidden, rng)?,
            fc2: Linear::new(hidden, width, rng)?,
        })
    }
}

/// Trains `Linear(64, 32) → Residual(32) → ReLU → Linear(32, 10)` on the digits for
/// `epochs` epochs and returns the test evaluation and the model's parameter names.
pub fn run(epochs: usize, seed: u64) -> Result<(Evaluation, Vec<String>)> {
    let (train, test) = nabla::data::digits()?.split([0.8, 0.2], seed)?;
    let mut rng = Mt19937::new(nabla::core::stream_seed(seed, "init"));
    let model = Sequential::new()
        .append(Linear::new(64, 32, &mut rng)?)
        .append(Residual::new(32, 64, &mut rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(32, 10, &mut rng)?);
    let names = model.parameters().into_iter().map(|(n, _)| n).collect();
    let opt = Adam::new(model.parameters(), 1e-2);
    let config = TrainConfig::default()
        .with_epochs(epochs)
        .with_seed(seed)
        .with_progress(ProgressMode::Quiet);
    let mut trainer = Trainer::new(model, opt, cross_entropy_loss, config);
    let mut train = DataLoader::new(
        train,
        LoaderConfig::new(32).with_shuffle(true).with_seed(seed),
    )?;
    trainer.fit(&mut train, None)?;
    let ev = trainer.evaluate(&mut DataLoader::new(test, LoaderConfig::new(256))?)?;
    Ok((ev, names))
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let (ev, names) = run(10, 0)?;
    println!("parameters: {}", names.join(", "));
    println!(
        "test_accuracy={:.4} test_loss={:.4}",
        ev.accuracy.unwrap_or(f64::NAN),
        ev.loss
    );
    Ok(())
}
