//! A model's summary, like Keras' `model.summary()`: each layer of a config's model with its
//! output shape and parameters (`nabla summary`, the run report).

use super::build::build_model;
use super::config::ExperimentConfig;
use crate::Error;
use nabla_core::Mt19937;
use nabla_nn::Module;

/// One layer of a model summary.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    /// `0 (Linear)`: the index in the `Sequential` and the layer's kind.
    pub name: String,
    /// The output shape of one sample (the batch dim left out).
    pub output_shape: Vec<usize>,
    /// The layer's parameter tensors: `state_dict` name (`0.weight`) and shape.
    pub params: Vec<(String, Vec<usize>)>,
    /// Its number of parameters.
    pub count: usize,
}

impl LayerSummary {
    /// `[None, 256]` (Keras' notation: the batch dim is `None`).
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = std::iter::once("None".to_string())
            .chain(self.output_shape.iter().map(|d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The layers of the model `cfg` describes for samples of `input_shape`, built (with a fixed
/// seed; the weights do not matter) and checked as training would build it.
///
/// Fails as [`build_model`] does: a layer that does not fit its input, a model too large
/// for the machine's memory.
pub fn model_summary(
    cfg: &ExperimentConfig,
    input_shape: &[usize],
) -> Result<Vec<LayerSummary>, Error> {
    let mut rng = Mt19937::new(0);
    let (model, shapes) = build_model(cfg, input_shape, None, &mut rng)?;
    Ok(model
        .children()
        .iter()
        .zip(&shapes)
        .enumerate()
        .map(|(i, ((child, m), s))| {
            let params: Vec<(String, Vec<usize>)> = m
                .parameters()
                .iter()
                .map(|(n, v)| (format!("{child}.{n}"), v.shape()))
                .collect();
            LayerSummary {
                name: format!("{i} ({})", m.kind()),
                output_shape: s.get(1..).unwrap_or_default().to_vec(),
                count: m.parameters().iter().map(|(_, v)| v.numel()).sum(),
                params,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_mlp_has_its_shapes_and_counts() {
        let cfg = ExperimentConfig::digits_mlp();
        let s = model_summary(&cfg, &[64]).unwrap();
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
