//! A character GPT written in Rust, trained the way nanoGPT trains its shakespeare-char
//! model: token and learned position embeddings, pre-norm causal transformer layers, a final
//! layer norm and a head tied to the token embedding; batches of windows at random offsets;
//! AdamW without decay on biases and norm weights; linear warm-up and cosine decay, for a
//! number of steps. Then it samples with the attention layers' key/value caches and again
//! recomputing every window, and prints both times (the texts are the same).
//!
//! Run: `cargo run --release --example char_gpt -- TEXT_FILE [STEPS]` (for example
//! tiny-shakespeare's `input.txt`).

use nabla::data::TextCorpus;
use nabla::experiment::{sample_text, SampleOptions};
use nabla::nn::optim::ParamGroup;
use nabla::prelude::*;

/// The sizes of the model and its training.
#[derive(Clone, Copy)]
pub struct GptSize {
    /// Width of the embeddings and the layers.
    pub width: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Positions the model sees at once (the window length).
    pub block: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Optimizer steps.
    pub steps: u64,
}

/// Cross-entropy over every position: logits `[N, T, V]`, targets `[N, T]`.
fn per_position_ce(out: &Tensor, target: &Tensor) -> nabla::core::Result<Tensor> {
    let v = out.shape()[2];
    cross_entropy_loss(
        &out.reshape(&[target.numel(), v])?,
        &target.reshape(&[target.numel()])?,
    )
}

/// The GPT over a vocabulary of `vocab` characters, its weights drawn from `seed`.
fn gpt(vocab: usize, s: GptSize, seed: u32) -> Result<Sequential> {
    let mut rng = Mt19937::new(seed);
    let mut emb = Embedding::new(vocab, s.width, &mut rng)?;
    // nanoGPT draws its embeddings from N(0, 0.02²), so the tied head starts small
    emb.weight = Var::new(&Tensor::normal(
        &[vocab, s.width],
        0.0,
        0.02,
        DType::F32,
        &mut rng,
    )?);
    let head = Linear::tied(emb.weight.clone(), false, &mut rng)?;
    let opts = EncoderLayerOptions {
        dim_feedforward: 4 * s.width,
        dropout: 0.0,
        activation: Activation::GELU,
        norm_first: true,
        bias: false,
        causal: true,
        ..EncoderLayerOptions::default()
    };
    Ok(Sequential::new()
        .append(emb)
        .append(PositionalEmbedding::learned(s.block, s.width, &mut rng)?)
        .append(TransformerEncoder::new(
            s.width, s.heads, s.layers, opts, true, &mut rng,
        )?)
        .append(head))
}

/// What [`run`] returns.
pub struct GptRun {
    /// The validation loss, nats per character.
    pub val_loss: f64,
    /// A 300-character sample drawn with the key/value caches.
    pub sample: String,
    /// The same sample drawn recomputing every window.
    pub recomputed: String,
    /// Seconds the cached and the recomputed sampling took.
    pub seconds: (f64, f64),
}

/// Trains a GPT of size `s` on the text file `path` (the last 10% validates) and samples it.
pub fn run(path: &str, s: GptSize) -> Result<GptRun> {
    let corpus = TextCorpus::read(path)?;
    let vocab = corpus.vocab().clone();
    let (train, val) = corpus.split(s.block, 0.1)?;
    // windows at every character; each epoch draws as many as there are fixed ones
    let fixed = train.len();
    let train = train.with_stride(1)?;
    let model = gpt(vocab.len(), s, 0)?;
    // weight decay on the matrices only (not on norm weights), as nanoGPT's groups
    let (matrices, rest): (Vec<_>, Vec<_>) = model
        .parameters()
        .into_iter()
        .map(|(_, p)| p)
        .partition(|p| p.shape().len() >= 2);
    let mut opt = AdamW::with_groups(vec![
        ParamGroup::new(matrices, 1e-3).with_weight_decay(0.1),
        ParamGroup::new(rest, 1e-3).with_weight_decay(0.0),
    ])
    .betas(0.9, 0.99);
    let warmup = (s.steps / 20).max(1) as usize;
    let schedule = WarmupCosine::new(&mut opt, warmup, s.steps as usize + 1, 1e-4)?;
    let config = TrainConfig {
        epochs: usize::MAX / 2,
        max_steps: Some(s.steps),
        schedule_per_step: Some(true),
        ..TrainConfig::default()
    }
    .with_clip_grad_norm(1.0)
    .with_task(Task::LanguageModel);
    let mut trainer = Trainer::new(model, opt, per_position_ce, config).with_scheduler(schedule);
    let loader = LoaderConfig::new(s.batch)
        .with_shuffle(true)
        .with_num_samples(fixed);
    let mut train = DataLoader::new(train, loader)?;
    let mut val = DataLoader::new(val, LoaderConfig::new(64))?;
    trainer.fit(&mut train, Some(&mut val))?;
    let val_loss = trainer.evaluate(&mut val)?.loss;
    // sampling takes the Sequential (for its states): rebuild it and load the weights
    let sampler = gpt(vocab.len(), s, 0)?;
    let weights = nabla::train::checkpoint::model_tensors(trainer.model.as_ref());
    nabla::train::checkpoint::load_model_tensors(&sampler, &weights, "the trained model")?;
    let mut opts = SampleOptions {
        prompt: Some(vocab.decode(&[corpus.ids()[0]])?),
        length: 300,
        temperature: 0.8,
        context: Some(s.block),
        cache: true,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let sample = sample_text(&sampler, &vocab, &opts)?;
    let cached = t.elapsed().as_secs_f64();
    opts.cache = false;
    let t = std::time::Instant::now();
    let recomputed = sample_text(&sampler, &vocab, &opts)?;
    Ok(GptRun {
        val_loss,
        sample,
        recomputed,
        seconds: (cached, t.elapsed().as_secs_f64()),
    })
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("TEXT_FILE: the text to learn")?;
    let steps = args
        .next()
        .map_or(Ok(2000), |e| e.parse())
        .map_err(|_| "STEPS: a number")?;
    let size = GptSize {
        width: 128,
        layers: 4,
        heads: 4,
        block: 128,
        batch: 32,
        steps,
    };
    let r = run(&path, size)?;
    println!("{}", r.sample);
    println!(
        "val_loss={:.4} val_bpc={:.4}",
        r.val_loss,
        r.val_loss / std::f64::consts::LN_2
    );
    println!(
        "sampling 300 characters: {:.2} s with the key/value caches, {:.2} s recomputing each window (same text: {})",
        r.seconds.0,
        r.seconds.1,
        r.sample == r.recomputed
    );
    Ok(())
}
