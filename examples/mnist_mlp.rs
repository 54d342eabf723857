//! MNIST with a 784-256-128-10 MLP, written in Rust: the same run as
//! `nabla train configs/mnist-mlp.toml` (same seed, so the same accuracy).
//! Run: `cargo run --release --example mnist_mlp -- DATA_DIR [EPOCHS]`
use nabla::prelude::*;

pub fn run(dir: &str, epochs: usize, seed: u64) -> Result<Evaluation> {
    let (train, val) = load_mnist(dir, true)?
        .flatten()?
        .split_validation(0.05, seed)?;
    let test = load_mnist(dir, false)?.flatten()?;
    let mut rng = Mt19937::new(nabla::core::stream_seed(seed, "init"));
    let model = Sequential::new()
        .append(Linear::new(784, 256, &mut rng)?)
        .append(Activation::ReLU)
        .append(Dropout::new(0.1)?)
        .append(Linear::new(256, 128, &mut rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(128, 10, &mut rng)?);
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let cosine = CosineAnnealingLR::new(&mut opt, epochs, 0.0)?;
    let config = TrainConfig::default().with_epochs(epochs).with_seed(seed);
    let mut trainer = Trainer::new(model, opt, cross_entropy_loss, config).with_scheduler(cosine);
    let mut train = DataLoader::new(
        train,
        LoaderConfig::new(64).with_shuffle(true).with_seed(seed),
    )?;
    let mut val = val
        .map(|v| DataLoader::new(v, LoaderConfig::new(256)))
        .transpose()?;
    trainer.fit(&mut train, val.as_mut())?;
    trainer.evaluate(&mut DataLoader::new(test, LoaderConfig::new(256))?)
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "data/mnist".into());
    let epochs = args
        .next()
        .map_or(Ok(10), |e| e.parse())
        .map_err(|_| "EPOCHS: a number")?;
    let ev = run(&dir, epochs, 0)?;
    println!(
        "test_accuracy={:.4} test_loss={:.4}",
        ev.accuracy.unwrap_or(0.0),
        ev.loss
    );
    Ok(())
}
