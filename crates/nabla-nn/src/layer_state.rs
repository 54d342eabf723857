//! What a layer carries from one piece of a sequence to the next, so a sequence can be fed
//! in pieces (sampling one token at a time): a recurrent layer's hidden state, a positional
//! embedding's count of positions placed, an attention layer's keys and values.

use crate::module::misfit;
use crate::recurrent::RnnState;
use nabla_core::{Result, Tensor};

/// The state one layer returns from [`crate::Module::forward_stateful`] and takes back on
/// the next piece.
#[derive(Debug, Clone)]
pub enum LayerState {
    /// A recurrent layer's hidden (and cell) state.
    Rnn(RnnState),
    /// How many positions a positional embedding has already placed: the next piece starts
    /// at that position.
    Position(usize),
    /// One key/value cache per attention layer (one for a [`crate::MultiheadAttention`],
    /// one per layer of a [`crate::TransformerEncoder`]).
    Attention(Vec<KvCache>),
}

impl LayerState {
    /// A recurrent state, or an error naming `layer` when this is another kind.
    pub fn as_rnn(&self, layer: &str) -> Result<&RnnState> {
        match self {
            LayerState::Rnn(s) => Ok(s),
            other => Err(misfit(
                layer,
                format!("needs a recurrent state, got {}", other.kind()),
            )),
        }
    }

    /// The key/value caches, or an error naming `layer` when this is another kind.
    pub fn as_attention(&self, layer: &str) -> Result<&[KvCache]> {
        match self {
            LayerState::Attention(c) => Ok(c),
            other => Err(misfit(
                layer,
                format!("needs a key/value cache, got {}", other.kind()),
            )),
        }
    }

    /// The one key/value cache of a single attention layer from an optional state (`None`:
    /// the sequence's start), or an error naming `layer` for another kind or count.
    pub fn one_cache<'a>(
        state: Option<&'a LayerState>,
        layer: &str,
    ) -> Result<Option<&'a KvCache>> {
        match state.map(|s| s.as_attention(layer)).transpose()? {
            None => Ok(None),
            Some([c]) => Ok(Some(c)),
            Some(other) => Err(misfit(
                layer,
                format!("needs one key/value cache, got {}", other.len()),
            )),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            LayerState::Rnn(_) => "a recurrent state",
            LayerState::Position(_) => "a position count",
            LayerState::Attention(_) => "a key/value cache",
        }
    }
}

/// The keys and values of the positions an attention layer has seen, `[N, H, S, E/H]`
/// each (after the input projection, split into heads), so a new position attends to them
/// without recomputing them.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// The keys, `[N, H, S, E/H]`.
    pub keys: Tensor,
    /// The values, `[N, H, S, E/H]`.
    pub values: Tensor,
}

impl KvCache {
    /// The number of positions held (`S`).
    pub fn len(&self) -> usize {
        self.keys.shape()[2]
    }
    /// Whether it holds no position.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
