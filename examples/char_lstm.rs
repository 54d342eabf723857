//! A character-level language model written in Rust: Embedding–LSTM–Linear trained on a
//! text file with backpropagation through time, then sampled one character at a time.
//!
//! Run: `cargo run --release --example char_lstm -- TEXT_FILE [EPOCHS]` (for example
//! tiny-shakespeare's `input.txt`).

use nabla::data::TextCorpus;
use nabla::experiment::{sample_text, SampleOptions};
use nabla::nn::{Lstm, RnnOptions};
use nabla::prelude::*;

/// Cross-entropy over every position: logits `[N, T, V]`, targets `[N, T]`.
fn per_position_ce(out: &Tensor, target: &Tensor) -> nabla::core::Result<Tensor> {
    let v = out.shape()[2];
    cross_entropy_loss(
        &out.reshape(&[target.numel(), v])?,
        &target.reshape(&[target.numel()])?,
    )
}

/// Trains for `epochs` epochs; returns the validation loss (nats per character) and a
/// 200-character sample.
pub fn run(path: &str, epochs: usize, seq_len: usize, hidden: usize) -> Result<(f64, String)> {
    let corpus = TextCorpus::read(path)?;
    let vocab = corpus.vocab().clone();
    let (train, val) = corpus.split(seq_len, 0.1)?; // the last 10% of the text validates
    let mut rng = Mt19937::new(0);
    let model = Sequential::new()
        .append(Embedding::new(vocab.len(), 64, &mut rng)?)
        .append(Lstm::with_options(
            64,
            hidden,
            RnnOptions::default().with_batch_first(true),
            &mut rng,
        )?)
        .append(Linear::new(hidden, vocab.len(), &mut rng)?);
    let opt = Adam::new(model.parameters(), 2e-3);
    let config = TrainConfig::default()
        .with_epochs(epochs)
        .with_clip_grad_norm(1.0)
        .with_task(Task::LanguageModel);
    let mut trainer = Trainer::new(model, opt, per_position_ce, config);
    let mut train = DataLoader::new(train, LoaderConfig::new(32).with_shuffle(true))?;
    let mut val = DataLoader::new(val, LoaderConfig::new(64))?;
    trainer.fit(&mut train, Some(&mut val))?;
    let val_loss = trainer.evaluate(&mut val)?.loss;
    // sampling needs the Sequential (for its states): rebuild it and load the weights
    let sampler = Sequential::new()
        .append(Embedding::new(vocab.len(), 64, &mut rng)?)
        .append(Lstm::with_options(
            64,
            hidden,
            RnnOptions::default().with_batch_first(true),
            &mut rng,
        )?)
        .append(Linear::new(hidden, vocab.len(), &mut rng)?);
    let weights = nabla::train::checkpoint::model_tensors(trainer.model.as_ref());
    nabla::train::checkpoint::load_model_tensors(&sampler, &weights, "the trained model")?;
    let opts = SampleOptions {
        prompt: Some(vocab.decode(&[corpus.ids()[0]])?),
        length: 200,
        temperature: 0.8,
        ..Default::default()
    };
    Ok((val_loss, sample_text(&sampler, &vocab, &opts)?))
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("TEXT_FILE: the text to learn")?;
    let epochs = args
        .next()
        .map_or(Ok(5), |e| e.parse())
        .map_err(|_| "EPOCHS: a number")?;
    let (val_loss, text) = run(&path, epochs, 64, 256)?;
    println!("{text}");
    println!(
        "val_loss={val_loss:.4} val_bpc={:.4}",
        val_loss / std::f64::consts::LN_2
    );
    Ok(())
}
