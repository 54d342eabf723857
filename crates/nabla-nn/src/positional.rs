//! Positional embeddings for sequences `[N, T, E]`: learned (a `[max_len, E]` table, as
//! GPT-2's `wpe`) or sinusoidal (the fixed sines and cosines of "Attention Is All You Need").
//! Either is added to the input; a sequence longer than `max_len` is refused.

use crate::layer_state::LayerState;
use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{DType, Error, Mt19937, Result, Tensor, Var};

/// Learned or fixed positions, added to `[N, T, E]` inputs.
pub struct PositionalEmbedding {
    /// The learned table `[max_len, E]` (`None`: sinusoidal).
    pub weight: Option<Var>,
    max_len: usize,
    dim: usize,
}

impl PositionalEmbedding {
    /// A learned table of `max_len` positions of width `dim`, drawn from N(0, 0.02²) as
    /// GPT-2 (and nanoGPT) initialize theirs.
    ///
    /// Fails when a size is 0.
    pub fn learned(max_len: usize, dim: usize, rng: &mut Mt19937) -> Result<Self> {
        check(max_len, dim)?;
        let w = Tensor::normal(&[max_len, dim], 0.0, 0.02, DType::F32, rng)?;
        Ok(PositionalEmbedding {
            weight: Some(Var::new(&w)),
            max_len,
            dim,
        })
    }

    /// Fixed sinusoidal positions: `sin(p / 10000^(2i/E))` at even features `2i`, `cos` at
    /// odd ones; no parameters.
    ///
    /// Fails when a size is 0.
    pub fn sinusoidal(max_len: usize, dim: usize) -> Result<Self> {
        check(max_len, dim)?;
        Ok(PositionalEmbedding {
            weight: None,
            max_len,
            dim,
        })
    }

    /// The most positions it takes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `x [N, T, E]` plus the positions `start .. start + T` (a piece of a longer sequence
    /// whose first `start` positions came before).
    ///
    /// Fails when `x` is not `[N, T, E]` or `start + T` is above `max_len`.
    pub fn forward_at(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let shape = x.shape();
        let t = if shape.len() == 3 { shape[1] } else { 0 };
        let mut whole = shape.to_vec();
        if whole.len() == 3 {
            whole[1] = start + t;
        }
        self.output_shape(&whole)?;
        let pos = match &self.weight {
            Some(w) => w.as_tensor().narrow(0, start, t)?,
            None => self.table(start, t, x.dtype())?,
        };
        x.add(&pos)
    }

    /// The sinusoidal table's rows `start .. start + t`.
    fn table(&self, start: usize, t: usize, dtype: DType) -> Result<Tensor> {
        let e = self.dim;
        let v: Vec<f64> = (start..start + t)
            .flat_map(|p| {
                (0..e).map(move |j| {
                    let freq = (10000f64).powf(-((j / 2 * 2) as f64) / e as f64);
                    let a = p as f64 * freq;
                    if j % 2 == 0 {
                        a.sin()
                    } else {
                        a.cos()
                    }
                })
            })
            .collect();
        Tensor::from_vec(v, &[t, e])?.to_dtype(dtype)
    }
}

fn check(max_len: usize, dim: usize) -> Result<()> {
    if max_len == 0 || dim == 0 {
        return Err(Error::arg(
            "PositionalEmbedding",
            format!("max_len and dim must be at least 1, got {max_len} and {dim}"),
        ));
    }
    Ok(())
}

impl Module for PositionalEmbedding {
    fn kind(&self) -> &'static str {
        "PositionalEmbedding"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.forward_at(x, 0)
    }
    /// The positions after the ones the state counts; the new state counts these too.
    fn forward_stateful(
        &self,
        x: &Tensor,
        state: Option<&LayerState>,
        _ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, LayerState)>> {
        let start = match state {
            None => 0,
            Some(LayerState::Position(p)) => *p,
            Some(_) => {
                return Some(Err(misfit(
                    "PositionalEmbedding",
                    "needs a position count as its state".into(),
                )))
            }
        };
        let t = x.shape().get(1).copied().unwrap_or(0);
        Some(
            self.forward_at(x, start)
                .map(|y| (y, LayerState::Position(start + t))),
        )
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        self.weight
            .iter()
            .map(|w| ("weight".to_string(), w.clone()))
            .collect()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match input {
            [_, t, e] if *e == self.dim && *t <= self.max_len => Ok(input.to_vec()),
            [_, t, e] if *e == self.dim => Err(misfit(
                "PositionalEmbedding",
                format!(
                    "a sequence of {t} positions is longer than max_len = {}",
                    self.max_len
                ),
            )),
            _ => Err(misfit(
                "PositionalEmbedding",
                format!("input {input:?} is not [N, T, {}]", self.dim),
            )),
        }
    }
    fn describe(&self) -> String {
        format!(
            "max_len={}, dim={}, {}",
            self.max_len,
            self.dim,
            if self.weight.is_some() {
                "learned"
            } else {
                "sinusoidal"
            }
        )
    }
}
