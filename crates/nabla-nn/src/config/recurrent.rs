//! Configs of the recurrent layers (LSTM, GRU, Elman RNN), batch first: `[N, T, features]`
//! in, every step's output `[N, T, hidden × directions]` out.

use super::sizes::Nonlinearity;
use super::sizes::{one, yes};
use super::{Layer, LayerCounts, LayerInput};
use crate::module::Module;
use crate::{Gru, Lstm, Rnn, RnnOptions};
use nabla_core::Mt19937;
use serde::{Deserialize, Serialize};

/// `{ type = "lstm", hidden = 256, num_layers = 2 }` (and `gru`, with the same keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentConfig {
    /// Hidden size.
    pub hidden: usize,
    /// Stacked layers (default 1).
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Dropout between stacked layers (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Both directions, features concatenated (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// With biases (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl RecurrentConfig {
    /// `hidden` units, one layer, one direction, with biases.
    pub fn new(hidden: usize) -> Self {
        RecurrentConfig {
            hidden,
            num_layers: 1,
            dropout: 0.0,
            bidirectional: false,
            bias: true,
        }
    }
    /// With `n` stacked layers.
    pub fn with_num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    fn options(&self) -> RnnOptions {
        RnnOptions::default()
            .with_num_layers(self.num_layers)
            .with_dropout(self.dropout)
            .with_bidirectional(self.bidirectional)
            .with_bias(self.bias)
            .with_batch_first(true)
    }
}

/// `{ type = "rnn", hidden = 64, nonlinearity = "relu" }`: the keys of [`RecurrentConfig`]
/// and the nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    /// Hidden size.
    pub hidden: usize,
    /// `"tanh"` (default) or `"relu"`.
    #[serde(default)]
    pub nonlinearity: Nonlinearity,
    /// Stacked layers (default 1).
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Dropout between stacked layers (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Both directions (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// With biases (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

impl RnnConfig {
    fn keys(&self) -> RecurrentConfig {
        RecurrentConfig {
            hidden: self.hidden,
            num_layers: self.num_layers,
            dropout: self.dropout,
            bidirectional: self.bidirectional,
            bias: self.bias,
        }
    }
}

/// A recurrent config as the layer it builds.
pub(crate) enum Kind<'a> {
    Lstm(&'a RecurrentConfig),
    Gru(&'a RecurrentConfig),
    Rnn(&'a RnnConfig),
}

impl Kind<'_> {
    fn keys(&self) -> RecurrentConfig {
        match self {
            Kind::Lstm(c) | Kind::Gru(c) => **c,
            Kind::Rnn(c) => c.keys(),
        }
    }
    /// Gates per unit: 4 for an LSTM, 3 for a GRU, 1 for an RNN.
    fn gates(&self) -> u128 {
        match self {
            Kind::Lstm(_) => 4,
            Kind::Gru(_) => 3,
            Kind::Rnn(_) => 1,
        }
    }
}

impl Layer for Kind<'_> {
    fn validate(&self) -> Result<(), String> {
        let c = self.keys();
        if c.hidden == 0 || c.num_layers == 0 || !(0.0..1.0).contains(&c.dropout) {
            return Err(format!(
                "hidden and num_layers must be at least 1 and dropout in [0, 1), got hidden = {}, num_layers = {}, dropout = {}",
                c.hidden, c.num_layers, c.dropout
            ));
        }
        Ok(())
    }
    fn output_shape(&self, x: &LayerInput<'_>) -> Result<Vec<usize>, String> {
        x.need_rank(3, "[T, features]")?;
        let c = self.keys();
        let d = if c.bidirectional { 2 } else { 1 };
        let width = c.hidden.checked_mul(d).ok_or("hidden is too large")?;
        Ok(vec![x.shape[0], x.shape[1], width])
    }
    fn counts(&self, x: &LayerInput<'_>) -> Result<LayerCounts, String> {
        let c = self.keys();
        let d: u128 = if c.bidirectional { 2 } else { 1 };
        let (h, i0, g) = (c.hidden as u128, x.last() as u128, self.gates());
        let b: u128 = if c.bias { 2 } else { 0 };
        // the first layer reads the input, the others the layer below (closed form: a
        // num_layers of 1e12 is refused by the memory check, not counted one by one)
        let layer = |inp: u128| {
            d.saturating_mul(g)
                .saturating_mul(h)
                .saturating_mul(inp.saturating_add(h).saturating_add(b))
        };
        let params = layer(i0)
            .saturating_add(layer(d.saturating_mul(h)).saturating_mul(c.num_layers as u128 - 1));
        Ok(LayerCounts::params(params))
    }
    fn build(&self, x: &LayerInput<'_>, rng: &mut Mt19937) -> Result<Box<dyn Module>, String> {
        x.need_rank(3, "[T, features]")?;
        let c = self.keys();
        let (input, opts) = (x.shape[2], c.options());
        let m: nabla_core::Result<Box<dyn Module>> = match self {
            Kind::Lstm(_) => {
                Lstm::with_options(input, c.hidden, opts, rng).map(|m| Box::new(m) as _)
            }
            Kind::Gru(_) => Gru::with_options(input, c.hidden, opts, rng).map(|m| Box::new(m) as _),
            Kind::Rnn(r) => Rnn::with_options(input, c.hidden, r.nonlinearity.into(), opts, rng)
                .map(|m| Box::new(m) as _),
        };
        m.map_err(|e| e.to_string())
    }
    fn scratch(&self, x: &LayerInput<'_>) -> Result<u128, String> {
        // per step, layer and direction: the gates and the hidden (and cell) state
        let c = self.keys();
        let d: u128 = if c.bidirectional { 2 } else { 1 };
        let t = x.shape.get(1).copied().unwrap_or(1) as u128;
        let per_step = (self.gates() + 2).saturating_mul(c.hidden as u128);
        Ok(t.saturating_mul(d * c.num_layers as u128)
            .saturating_mul(per_step))
    }
    fn lookahead(&self) -> Option<String> {
        self.keys().bidirectional.then(|| {
            "bidirectional = true also reads the sequence from its end, so each position \
             sees the ones after it"
                .to_string()
        })
    }
}
