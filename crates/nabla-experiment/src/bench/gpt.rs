//! W9 and W10: a character GPT's train step as nanoGPT builds it (karpathy/nanoGPT
//! `model.py`, the model of `../shared/peers/python/bench.py`'s `TinyGPT`): token and learned
//! position embeddings, pre-norm blocks with bias-free layer norms and linear layers, causal
//! self-attention through the fused attention primitive, exact GELU, a final layer norm and
//! a head tied to the token embedding; dropout 0; AdamW (lr 1e-3, betas 0.9/0.99, weight
//! decay 0.1); cross-entropy over every position; tokens/s.

use super::{emit, measure, Sink};
use nabla_core::{Mt19937, Result, Tensor};
use nabla_nn::loss::{cross_entropy, CrossEntropyOptions};
use nabla_nn::optim::{AdamW, Optimizer};
use nabla_nn::{
    Activation, Embedding, EncoderLayerOptions, ForwardCtx, Linear, Module, PositionalEmbedding,
    Sequential, TransformerEncoder,
};

/// The vocabulary of tiny-shakespeare's characters.
const VOCAB: usize = 65;

/// One GPT workload: layers, heads, width, positions, batch.
pub(super) struct Gpt {
    pub name: &'static str,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
    pub seq: usize,
    pub batch: usize,
}

/// W9: nanoGPT's CPU recipe.
pub(super) const W9: Gpt = Gpt {
    name: "W9",
    layers: 4,
    heads: 4,
    width: 128,
    seq: 64,
    batch: 12,
};

/// W10: nanoGPT's shakespeare-char model at batch 8.
pub(super) const W10: Gpt = Gpt {
    name: "W10",
    layers: 6,
    heads: 6,
    width: 384,
    seq: 256,
    batch: 8,
};

/// The model of `g`.
pub(super) fn model(g: &Gpt, rng: &mut Mt19937) -> Result<Sequential> {
    let wte = Embedding::new(VOCAB, g.width, rng)?;
    let head = Linear::tied(wte.weight.clone(), false, rng)?;
    let opts = EncoderLayerOptions {
        dim_feedforward: 4 * g.width,
        dropout: 0.0,
        activation: Activation::GELU,
        norm_first: true,
        bias: false,
        causal: true,
        ..EncoderLayerOptions::default()
    };
    Ok(Sequential::new()
        .append(wte)
        .append(PositionalEmbedding::learned(g.seq, g.width, rng)?)
        .append(TransformerEncoder::new(
            g.width, g.heads, g.layers, opts, true, rng,
        )?)
        .append(head))
}

/// Measures `g`'s train step.
pub(super) fn run(g: &Gpt, threads: usize, report: Sink) -> Result<()> {
    let mut rng = Mt19937::new(0);
    let m = model(g, &mut rng)?;
    let mut opt = AdamW::new(m.parameters(), 1e-3)
        .betas(0.9, 0.99)
        .weight_decay(0.1);
    let (b, t) = (g.batch, g.seq);
    let ids = |rng: &mut Mt19937| -> Result<Tensor> {
        let v: Vec<i64> = (0..b * t).map(|_| rng.below(VOCAB as u64) as i64).collect();
        Tensor::from_vec(v, &[b, t])
    };
    let (x, y) = (ids(&mut rng)?, ids(&mut rng)?.reshape(&[b * t])?);
    let mut times = measure(|| {
        let out = m.forward(&x, &mut ForwardCtx::train(&mut rng))?;
        let loss = cross_entropy(
            &out.reshape(&[b * t, VOCAB])?,
            &y,
            CrossEntropyOptions::default(),
        )?;
        let grads = loss.backward()?;
        drop((loss, out));
        opt.step(&grads)
    })?;
    emit(
        g.name,
        vec![
            ("layers", g.layers),
            ("heads", g.heads),
            ("embd", g.width),
            ("seq", t),
            ("batch", b),
        ],
        threads,
        &mut times,
        (b * t) as f64,
        "tokens/s",
        report,
    );
    Ok(())
}
