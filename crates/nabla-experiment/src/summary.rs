//! A model's summary, like Keras' `model.summary()`: each layer of a config's model with its
//! output shape and parameters (`nabla summary`, the run report).

use crate::build::build_model;
use crate::config::ExperimentConfig;
use nabla_core::Error;
use nabla_core::Mt19937;
use nabla_nn::Summary;

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
