//! A model's summary, like Keras' `model.summary()`: each layer of a config's model with its
//! output shape and parameters (`nabla summary`, the run report).

use crate::build::build_model;
use crate::config::{DatasetKind, ExperimentConfig};
use crate::memory::{estimate_memory, MemoryEstimate};
use nabla_core::Error;
use nabla_core::Mt19937;
use nabla_nn::{LayerConfig, Summary};
use std::path::Path;

/// What `nabla summary` shows of a config: the model's layers and the memory of one
/// training step.
#[derive(Debug, Clone)]
pub struct ConfigSummary {
    /// The layers, their output shapes and parameters.
    pub model: Summary,
    /// The memory of one training step at `train.batch_size`.
    pub memory: MemoryEstimate,
}

impl std::fmt::Display for ConfigSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.model)?;
        write!(
            f,
            "Memory of one training step (batch_size {}): about {} ({})",
            self.memory.batch_size,
            crate::memory::human(self.memory.total()),
            self.memory
        )
    }
}

/// The summary of `cfg`'s model: the input shape from `model.input_shape` (a text model's
/// from `data.seq_len`), and the data (from `data_flag`, the config or `NABLA_DATA`) read
/// only when the config leaves the input shape, or a text model's vocabulary size
/// (`num` of its embedding), open.
///
/// Fails as [`model_summary`] does, and as the data fail when they must be read.
pub fn summarize(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<ConfigSummary, Error> {
    crate::data::check_data_flag(cfg, data_flag)?;
    let text = cfg.data.dataset == DatasetKind::Text;
    let open_vocab = text
        && cfg
            .model
            .layers
            .iter()
            .any(|l| matches!(l, LayerConfig::Embedding(e) if e.num.is_none()));
    let given = match &cfg.model.input_shape {
        Some(s) => Some(s.clone()),
        None if text => Some(vec![cfg.data.seq_len()]),
        None => None,
    };
    let (input, tokens) = match given {
        Some(s) if !open_vocab => (s, None),
        _ => {
            let d = crate::data::load_data(cfg, data_flag)?;
            (d.input_shape, text.then_some(d.outputs))
        }
    };
    let mut rng = Mt19937::new(0);
    let (model, shapes) = build_model(cfg, &input, tokens, &mut rng)?;
    Ok(ConfigSummary {
        model: Summary::with_shapes(&model, &shapes),
        memory: estimate_memory(cfg, &input, tokens, 0, 0)?,
    })
}

/// The summary of the model `cfg` describes for samples of `input_shape`, built (with a fixed
/// seed; the weights do not matter) and checked as training would build it; the output
/// shapes are the layer configs' answers.
///
/// Fails as [`build_model`] does: a layer that does not fit its input, a model too large
/// for the machine's memory.
pub fn model_summary(cfg: &ExperimentConfig, input_shape: &[usize]) -> Result<Summary, Error> {
    let mut rng = Mt19937::new(0);
    let (model, shapes) = build_model(cfg, input_shape, None, &mut rng)?;
    Ok(Summary::with_shapes(&model, &shapes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_mlp_has_its_shapes_and_counts() {
        let cfg = ExperimentConfig::digits_mlp();
        let s = model_summary(&cfg, &[64]).unwrap().layers;
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "0 (Linear)");
        assert_eq!(s[0].shape_text(), "[None, 128]");
        assert_eq!(s[0].count, 64 * 128 + 128);
        assert_eq!(
            s[0].params,
            vec![
                ("0.weight".to_string(), vec![128, 64]),
                ("0.bias".to_string(), vec![128])
            ]
        );
        assert_eq!((s[1].name.as_str(), s[1].count), ("1 (ReLU)", 0));
        assert_eq!(s[2].output_shape, vec![10]);
    }
}
