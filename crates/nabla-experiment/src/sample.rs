//! Sampling text from a trained character-level language model.

use nabla_core::Error;
use nabla_core::{no_grad, Mt19937, Tensor};
use nabla_data::Vocab;
use nabla_nn::{ForwardCtx, LayerState, Sequential};

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOptions {
    /// The text to start from (its characters must be in the vocabulary); `None` starts from
    /// a newline (or the vocabulary's first character when it has no newline).
    pub prompt: Option<String>,
    /// Characters to generate.
    pub length: usize,
    /// Divides the logits: below 1 sharper, above 1 flatter (must be > 0).
    pub temperature: f64,
    /// Sample only among the `k` most likely characters.
    pub top_k: Option<usize>,
    /// The sampling stream's seed: the same seed gives the same text.
    pub seed: u64,
    /// The most positions the model sees at once (a transformer's `max_len`): the prompt
    /// may be at most that long, and once the text is longer each step feeds the last that
    /// many characters and reads the last position (the window slides, as nanoGPT
    /// samples). `None`: a recurrent model, fed one character at a time with its state.
    pub context: Option<usize>,
    /// With a `context`: while the text fits in it, keep the attention layers' keys and
    /// values ([`nabla_nn::LayerState`]), so each new character costs one position; `false`
    /// recomputes the whole window for every character. Both give the same logits up to
    /// rounding, so the same text for the same seed.
    pub cache: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            prompt: None,
            length: 500,
            temperature: 1.0,
            top_k: None,
            seed: 0,
            context: None,
            cache: true,
        }
    }
}

/// Draws an index from `logits / temperature` (softmax over the `top_k` largest).
fn draw(logits: &[f64], temperature: f64, top_k: Option<usize>, rng: &mut Mt19937) -> usize {
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    if let Some(k) = top_k {
        idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        idx.truncate(k.max(1));
    }
    let m = idx
        .iter()
        .map(|&i| logits[i])
        .fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = idx
        .iter()
        .map(|&i| ((logits[i] - m) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.random() * total;
    for (j, &wi) in w.iter().enumerate() {
        if u < wi {
            return idx[j];
        }
        u -= wi;
    }
    idx[idx.len() - 1]
}

/// The prompt followed by `length` characters sampled from `model` (a `[N, T]` token to
/// `[N, T, V]` logits network such as Embedding–LSTM–Linear), one character at a time with
/// the recurrent layers' states carried over.
///
/// Fails when the temperature is not a positive number, `top_k` is 0, the prompt has a
/// character outside the vocabulary (naming it), or the model fails.
pub fn sample_text(
    model: &Sequential,
    vocab: &Vocab,
    opts: &SampleOptions,
) -> Result<String, Error> {
    let mut out = String::new();
    sample_text_to(model, vocab, opts, &mut |piece| {
        out.push_str(piece);
        Ok(())
    })?;
    Ok(out)
}

/// The most characters one sample may ask for (`--length`).
pub const MAX_SAMPLE_LENGTH: usize = 1_000_000;

/// [`sample_text`], handing the prompt and then each character to `sink` as it is drawn
/// (so a long sample streams instead of growing in memory); `sink`'s error stops it.
///
/// Fails as [`sample_text`] does, and when `opts.length` is above [`MAX_SAMPLE_LENGTH`].
pub fn sample_text_to(
    model: &Sequential,
    vocab: &Vocab,
    opts: &SampleOptions,
    sink: &mut dyn FnMut(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    if opts.length > MAX_SAMPLE_LENGTH {
        return Err(Error::Config(format!(
            "--length: at most {MAX_SAMPLE_LENGTH} characters, got {}",
            opts.length
        )));
    }
    if !(opts.temperature.is_finite() && opts.temperature > 0.0) {
        return Err(Error::Config(format!(
            "--temperature must be a positive number, got {}",
            opts.temperature
        )));
    }
    if opts.top_k == Some(0) {
        return Err(Error::Config("--top-k must be at least 1".into()));
    }
    let (shown, start) = match &opts.prompt {
        Some(p) if !p.is_empty() => (p.clone(), p.clone()),
        _ => {
            let c = if vocab.id('\n').is_some() {
                '\n'
            } else {
                *vocab
                    .chars()
                    .first()
                    .ok_or_else(|| Error::Config("the vocabulary is empty".into()))?
            };
            (String::new(), c.to_string())
        }
    };
    let ids = vocab.encode(&start)?;
    if let Some(w) = opts.context {
        if ids.len() > w {
            return Err(Error::Config(format!(
                "--prompt: {} characters, more than the {w} positions the model sees at once (its max_len)",
                ids.len()
            )));
        }
    }
    let _g = no_grad();
    let mut rng = Mt19937::new(nabla_core::stream_seed(opts.seed, "sample"));
    let mut states = Vec::new();
    let mut ctx = ForwardCtx::eval();
    let mut x = Tensor::from_vec(ids.clone(), &[1, ids.len()])?;
    sink(&shown)?;
    if let Some(w) = opts.context {
        let w = w.max(1);
        let mut ids = ids;
        // the positions whose keys and values the attention layers hold
        let mut cached = 0;
        let mut states: Vec<Option<LayerState>> = Vec::new();
        for _ in 0..opts.length {
            let logits = if opts.cache && ids.len() <= w {
                // only the positions not yet cached
                let x = Tensor::from_vec(ids[cached..].to_vec(), &[1, ids.len() - cached])?;
                cached = ids.len();
                model.forward_with_states(&x, &mut states, &mut ctx)?
            } else {
                // a window of the last `w` characters, recomputed
                let from = ids.len().saturating_sub(w);
                let x = Tensor::from_vec(ids[from..].to_vec(), &[1, ids.len() - from])?;
                nabla_nn::Module::forward(model, &x, &mut ctx)?
            };
            let t = logits.shape()[1];
            let last = logits.narrow(1, t - 1, 1)?.to_vec_f64();
            let next = draw(&last, opts.temperature, opts.top_k, &mut rng) as i64;
            sink(&vocab.decode(&[next])?)?;
            ids.push(next);
        }
        return Ok(());
    }
    for _ in 0..opts.length {
        let logits = model.forward_with_states(&x, &mut states, &mut ctx)?;
        let t = logits.shape()[1];
        let last = logits.narrow(1, t - 1, 1)?.to_vec_f64();
        let next = draw(&last, opts.temperature, opts.top_k, &mut rng) as i64;
        sink(&vocab.decode(&[next])?)?;
        x = Tensor::from_vec(vec![next], &[1, 1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_temperature_and_top_k() {
        let mut rng = Mt19937::new(1);
        let logits = [0.0, 1.0, 5.0];
        // top-1 is the argmax
        assert!((0..20).all(|_| draw(&logits, 1.0, Some(1), &mut rng) == 2));
        // a very low temperature is nearly the argmax; a high one spreads out
        let cold = (0..200)
            .filter(|_| draw(&logits, 0.05, None, &mut rng) == 2)
            .count();
        let hot = (0..2000)
            .filter(|_| draw(&logits, 100.0, None, &mut rng) == 0)
            .count();
        assert_eq!(cold, 200);
        assert!((500..800).contains(&hot), "{hot}");
    }
}
