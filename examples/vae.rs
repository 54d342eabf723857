//! A variational autoencoder on MNIST, as PyTorch's `examples/vae`: an encoder
//! 784-400-(20 mean, 20 log-variance), a latent z = μ + σ·ε drawn with a seeded normal
//! stream (the reparameterization trick, so the gradient flows through μ and σ), a decoder
//! 20-400-784 ending in a sigmoid, and the loss
//! `BCE(recon, x, sum) + KL(q(z|x) ‖ N(0, I))`, trained with Adam (1e-3) on batches of 128.
//! Each epoch prints the train and test loss per image; the last line is `test_loss=…`. It
//! writes `samples.png` (64 digits decoded from z ~ N(0, I), 8×8) and `reconstructions.png`
//! (8 test digits above their reconstructions).
//!
//! Run: `cargo run --release --example vae -- --data DIR [--epochs 10] [--out DIR] [--seed 1]`

use nabla::prelude::*;
use nabla::report::image::save_image_grid;
use nabla::train::checkpoint::{load_model_tensors, model_tensors};
use std::path::{Path, PathBuf};

const LATENT: usize = 20;

/// The model: `forward` returns `[recon (784) | μ (20) | log σ² (20)]` per image.
pub struct Vae {
    encoder: Sequential,
    heads: Fork,
    decoder: Sequential,
}

impl Vae {
    pub fn new(rng: &mut Mt19937) -> Result<Self> {
        Ok(Vae {
            encoder: Sequential::new()
                .append(Linear::new(784, 400, rng)?)
                .append(Activation::ReLU),
            // two outputs from the same features: the mean and the log-variance
            heads: Fork::new()
                .append(Linear::new(400, LATENT, rng)?)
                .append(Linear::new(400, LATENT, rng)?),
            decoder: Sequential::new()
                .append(Linear::new(LATENT, 400, rng)?)
                .append(Activation::ReLU)
                .append(Linear::new(400, 784, rng)?)
                .append(Activation::Sigmoid),
        })
    }
    /// Images decoded from latent codes `z` `[N, 20]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.decoder.forward(z, &mut ForwardCtx::eval())
    }
}

impl Module for Vae {
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> nabla::core::Result<Tensor> {
        let h = self.encoder.forward(x, ctx)?;
        let [mu, logvar]: [Tensor; 2] = self
            .heads
            .forward_all(&h, ctx)?
            .try_into()
            .expect("two heads");
        // z = μ + σ ε with ε ~ N(0, I) from the context's stream (μ itself without one)
        let z = match ctx.rng() {
            Ok(rng) => {
                let eps = Tensor::randn(mu.shape(), mu.dtype(), rng)?;
                mu.add(&logvar.mul_scalar(0.5)?.exp()?.mul(&eps)?)?
            }
            Err(_) => mu.clone(),
        };
        let recon = self.decoder.forward(&z, ctx)?;
        Tensor::cat(&[&recon, &mu, &logvar], -1)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        nabla::nn::prefixed(&[
            ("encoder", &self.encoder as &dyn Module),
            ("heads", &self.heads),
            ("decoder", &self.decoder),
        ])
    }
}

/// `BCE(recon, x) + KL` summed over the batch, from the packed output.
pub fn vae_loss(out: &Tensor, x: &Tensor) -> nabla::core::Result<Tensor> {
    let recon = out.narrow(1, 0, 784)?;
    let mu = out.narrow(1, 784, LATENT)?;
    let logvar = out.narrow(1, 784 + LATENT, LATENT)?;
    let bce = binary_cross_entropy(&recon, x, Reduction::Sum)?;
    // KL(N(μ, σ²) ‖ N(0, 1)) = -½ Σ (1 + log σ² − μ² − σ²)
    let kld = logvar
        .add_scalar(1.0)?
        .sub(&mu.sqr()?)?
        .sub(&logvar.exp()?)?
        .sum()?
        .mul_scalar(-0.5)?;
    bce.add(&kld)
}

/// The training step: the batch's images are their own targets; the optimizer sees the
/// summed loss (as PyTorch's example), the report is per image.
struct VaeStep;

impl TrainStep for VaeStep {
    fn step(
        &mut self,
        p: &mut StepParts<'_>,
        batch: &Batch,
    ) -> nabla::train::trainer::Result<StepOutput> {
        let out = p.model.forward(&batch.x, &mut ForwardCtx::train(p.rng))?;
        let loss = vae_loss(&out, &batch.x)?;
        drop(out);
        let total = p.backward_and_step(loss)?;
        Ok(StepOutput {
            loss: total / batch.len() as f64,
            correct: None,
        })
    }
}

/// The mean loss per image over `ds`, sampling z as in training (as PyTorch's example does).
fn test_loss(model: &dyn Module, ds: &TensorDataset, rng: &mut Mt19937) -> Result<f64> {
    let _g = no_grad();
    let mut loader = DataLoader::new(ds.clone(), LoaderConfig::new(128))?;
    let mut sum = 0.0;
    for batch in &mut loader {
        let batch = batch?;
        let out = model.forward(&batch.x, &mut ForwardCtx::eval_with_rng(rng))?;
        sum += vae_loss(&out, &batch.x)?.to_scalar()?;
    }
    Ok(sum / ds.len() as f64)
}

/// Trains for `epochs` epochs, writes the pictures into `out`; returns each epoch's
/// (train, test) loss per image.
pub fn run(data: &Path, epochs: usize, out: &Path, seed: u64) -> Result<Vec<(f64, f64)>> {
    let train = load_mnist(data, true)?.flatten()?;
    let test = load_mnist(data, false)?.flatten()?;
    let images_as_targets = |d: &TensorDataset| TensorDataset::new(d.x().clone(), d.x().clone());
    let mut rng = Mt19937::new(nabla::core::stream_seed(seed, "init"));
    let model = Vae::new(&mut rng)?;
    let opt = Adam::new(model.parameters(), 1e-3);
    let config = TrainConfig::default()
        .with_seed(seed)
        .with_task(Task::LossOnly)
        .with_progress(ProgressMode::Quiet);
    let mut trainer = Trainer::new(model, opt, vae_loss, config).with_step(VaeStep);
    let mut loader = DataLoader::new(
        images_as_targets(&train)?,
        LoaderConfig::new(128).with_shuffle(true).with_seed(seed),
    )?;
    let mut eval_rng = Mt19937::new(nabla::core::stream_seed(seed, "test"));
    let mut history = Vec::new();
    for epoch in 1..=epochs {
        trainer.config.epochs = epoch;
        let report = trainer.fit(&mut loader, None)?;
        let train_loss = report.history.last().map_or(f64::NAN, |h| h.train_loss);
        // the trainer holds the model as a `dyn Module`; the test pass needs the Vae's own
        // forward, which is the same
        let tl = test_loss(trainer.model.as_ref(), &test, &mut eval_rng)?;
        println!("epoch {epoch}: train loss {train_loss:.4}  test loss {tl:.4} (per image)");
        history.push((train_loss, tl));
    }
    // the trained weights, in a Vae of our own (the trainer holds its model as a dyn Module)
    let vae = Vae::new(&mut Mt19937::new(0))?;
    load_model_tensors(
        &vae,
        &model_tensors(trainer.model.as_ref()),
        "the trained VAE",
    )?;
    // pictures: 64 samples from the prior, and 8 test digits above their reconstructions
    std::fs::create_dir_all(out)?;
    let _g = no_grad();
    let mut prior = Mt19937::new(nabla::core::stream_seed(seed, "samples"));
    let z = Tensor::randn(&[64, LATENT], DType::F32, &mut prior)?;
    save_image_grid(&vae.decode(&z)?, 8, Some(28), out.join("samples.png"))?;
    let first = test.x().narrow(0, 0, 8.min(test.len()))?;
    let recon = vae
        .forward(&first, &mut ForwardCtx::eval_with_rng(&mut eval_rng))?
        .narrow(1, 0, 784)?;
    let both = Tensor::cat(&[&first, &recon], 0)?;
    save_image_grid(
        &both,
        first.shape()[0],
        Some(28),
        out.join("reconstructions.png"),
    )?;
    Ok(history)
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let data = PathBuf::from(flag("--data").ok_or("--data DIR: the MNIST folder is needed")?);
    let epochs = flag("--epochs")
        .map_or(Ok(10), |e| e.parse())
        .map_err(|_| "--epochs: a number")?;
    let seed = flag("--seed")
        .map_or(Ok(1), |e| e.parse())
        .map_err(|_| "--seed: a number")?;
    let out = PathBuf::from(flag("--out").unwrap_or_else(|| "runs/vae".into()));
    let history = run(&data, epochs, &out, seed)?;
    println!("pictures in {}", out.display());
    println!("test_loss={:.1}", history.last().map_or(f64::NAN, |h| h.1));
    Ok(())
}
