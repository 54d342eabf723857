//! The memory one training step takes, estimated from the configs alone (no tensor is
//! allocated and no data is read), so a model that cannot fit is refused before anything is
//! written or allocated, with the bytes it would need.
//!
//! The estimate counts, in f32: the parameters and buffers; their gradients; the optimizer's
//! state (momentum buffers, moment estimates); the activations of one step at
//! `train.batch_size` (each layer's output and its gradient, plus what the layer keeps for
//! its backward pass: im2col columns, recurrent gates), or of one evaluation batch (up to
//! 256 samples, when the data are known) when that is larger; and the data held in memory
//! when it is known. It leaves out the
//! allocator's slack and the kernels' short-lived buffers. A config is refused when the
//! estimate exceeds the machine's memory (`MemTotal`), so a refused config would need more
//! than all of it.

use crate::build::memory_limit;
use crate::config::ExperimentConfig;
use nabla_core::Error;
use nabla_nn::{LayerConfig, LayerInput};

/// Bytes of one f32 element.
const F32: u128 = 4;
/// The batch size of evaluation passes (test and validation sets).
pub const EVAL_BATCH: usize = 256;

/// The estimated memory of one training step, in bytes, by part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryEstimate {
    /// The batch size the activations are counted at.
    pub batch_size: usize,
    /// Parameters and buffers.
    pub parameters: u128,
    /// The parameters' gradients.
    pub gradients: u128,
    /// The optimizer's state.
    pub optimizer: u128,
    /// Activations of one step (or one evaluation batch, when larger).
    pub activations: u128,
    /// The data held in memory (0 when not known).
    pub data: u128,
    /// The layer with the most parameters: where it sits, and its bytes.
    pub largest_parameters: Option<(String, u128)>,
    /// The layer with the largest activations at this batch size: where it sits, and its
    /// bytes.
    pub largest_activations: Option<(String, u128)>,
}

impl MemoryEstimate {
    /// The sum of the parts.
    pub fn total(&self) -> u128 {
        self.parameters
            .saturating_add(self.gradients)
            .saturating_add(self.optimizer)
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }

    /// Fails ([`Error::Config`]) when the estimate exceeds `limit` bytes, naming the part
    /// and the layer that take the most.
    pub fn check(&self, limit: u128) -> Result<(), Error> {
        if self.total() <= limit {
            return Ok(());
        }
        let weights = self
            .parameters
            .saturating_add(self.gradients)
            .saturating_add(self.optimizer);
        let culprit = if self.activations >= weights {
            self.largest_activations
                .as_ref()
                .map(|(at, b)| format!("{at} holds {} of activations; ", human(*b)))
        } else {
            self.largest_parameters
                .as_ref()
                .map(|(at, b)| format!("{at} holds {} of parameters; ", human(*b)))
        };
        Err(Error::Config(format!(
            "{}one training step at train.batch_size = {} needs about {} ({} bytes: {self}), \
             more than this machine's memory ({}); use a smaller model or batch_size",
            culprit.unwrap_or_default(),
            self.batch_size,
            human(self.total()),
            self.total(),
            human(limit)
        )))
    }
}

impl std::fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parameters {}, gradients {}, optimizer state {}, activations {}",
            human(self.parameters),
            human(self.gradients),
            human(self.optimizer),
            human(self.activations)
        )?;
        if self.data > 0 {
            write!(f, ", data {}", human(self.data))?;
        }
        Ok(())
    }
}

/// Bytes as `12.3 MiB`, `1.5 GiB`, `3.0 TiB` (or `1e30 bytes` beyond).
pub fn human(b: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else if v >= 1e5 {
        format!("{:.1e} bytes", b as f64)
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn elements(shape: &[usize]) -> u128 {
    shape
        .iter()
        .fold(1u128, |a, &d| a.saturating_mul(d as u128))
}

/// A layer's place for messages: `model.layers[2] (conv2d)`.
fn at(i: usize, l: &LayerConfig) -> String {
    format!("model.layers[{i}] ({})", l.type_name())
}

/// The memory estimate of one training step of `cfg`'s model on samples of `input_shape`
/// (batch excluded), with `data_bytes` of data in memory and evaluation batches of
/// `eval_batch` samples (0: no evaluation pass counted); `outputs` as for
/// [`crate::build_model`] (the vocabulary of a text model).
///
/// Fails ([`Error::Config`]) naming the layer when an input does not fit a layer.
pub fn estimate_memory(
    cfg: &ExperimentConfig,
    input_shape: &[usize],
    outputs: Option<usize>,
    data_bytes: u128,
    eval_batch: usize,
) -> Result<MemoryEstimate, Error> {
    let batch = cfg.train.batch_size.max(1) as u128;
    let mut shape: Vec<usize> = std::iter::once(1)
        .chain(input_shape.iter().copied())
        .collect();
    let mut params: u128 = 0;
    // per sample: every layer's output and scratch (kept for backward), and the largest
    // input + output + scratch of one layer (what an evaluation pass holds at once)
    let mut kept = elements(&shape);
    let mut widest: u128 = 0;
    let mut top_params: Option<(String, u128)> = None;
    let mut top_acts: Option<(String, u128)> = None;
    for (i, l) in cfg.model.layers.iter().enumerate() {
        let layer = l.layer();
        let input = LayerInput {
            shape: &shape,
            tokens: outputs,
        };
        let fail = |e: String| Error::Config(format!("{}: {e}", at(i, l)));
        let counts = layer.counts(&input).map_err(fail)?;
        let out = layer
            .output_shape(&input)
            .map_err(|e| fail(format!("input {shape:?} does not fit: {e}")))?;
        if out
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(fail(format!(
                "its output {out:?} has more elements than any machine holds"
            )));
        }
        let scratch = layer.scratch(&input).map_err(fail)?;
        let eval_scratch = layer.eval_scratch(&input).map_err(fail)?;
        let p = counts.params.saturating_add(counts.buffers);
        params = params.saturating_add(p);
        let acts = elements(&out).saturating_add(scratch);
        kept = kept.saturating_add(acts);
        widest = widest.max(
            elements(&shape)
                .saturating_add(elements(&out))
                .saturating_add(eval_scratch),
        );
        let bytes = p.saturating_mul(F32);
        if top_params.as_ref().is_none_or(|t| bytes > t.1) {
            top_params = Some((at(i, l), bytes));
        }
        // forward values and their gradients
        let bytes = acts.saturating_mul(batch).saturating_mul(2 * F32);
        if top_acts.as_ref().is_none_or(|t| bytes > t.1) {
            top_acts = Some((at(i, l), bytes));
        }
        shape = out;
    }
    let trainable = params; // buffers get no gradient, counted anyway: a small overcount
    let train_acts = kept.saturating_mul(batch).saturating_mul(2 * F32);
    let eval_acts = widest
        .saturating_mul(eval_batch as u128)
        .saturating_mul(F32);
    Ok(MemoryEstimate {
        batch_size: cfg.train.batch_size,
        parameters: params.saturating_mul(F32),
        gradients: trainable.saturating_mul(F32),
        optimizer: trainable
            .saturating_mul(cfg.train.optimizer.state_per_parameter())
            .saturating_mul(F32),
        activations: train_acts.max(eval_acts),
        data: data_bytes,
        largest_parameters: top_params,
        largest_activations: top_acts,
    })
}

/// [`estimate_memory`], refused ([`Error::Config`]) when it exceeds this machine's memory.
pub fn check_memory(
    cfg: &ExperimentConfig,
    input_shape: &[usize],
    outputs: Option<usize>,
    data_bytes: u128,
    eval_batch: usize,
) -> Result<MemoryEstimate, Error> {
    let e = estimate_memory(cfg, input_shape, outputs, data_bytes, eval_batch)?;
    e.check(memory_limit() as u128)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> ExperimentConfig {
        ExperimentConfig::from_toml_str(text, "t.toml").unwrap()
    }

    #[test]
    fn the_digits_mlp_counts_every_part() {
        let c = ExperimentConfig::digits_mlp();
        let e = estimate_memory(&c, &[64], Some(10), 1000, EVAL_BATCH).unwrap();
        let p = (64 * 128 + 128 + 128 * 10 + 10) as u128 * 4;
        assert_eq!(e.parameters, p);
        assert_eq!(e.gradients, p);
        assert_eq!(e.data, 1000);
        assert!(e.activations > 0 && e.total() > 3 * p, "{e:?}");
        assert!(e.check(1 << 40).is_ok());
        let msg = e.check(1000).unwrap_err().to_string();
        assert!(
            msg.contains("train.batch_size") && msg.contains("more than"),
            "{msg}"
        );
    }

    #[test]
    fn huge_activations_are_refused_naming_the_layer() {
        let c = cfg(r#"
            [data]
            dataset = "digits"
            [model]
            input_shape = [1, 8, 8]
            layers = [
              { type = "conv2d", out = 4, kernel_size = 3 },
              { type = "conv_transpose2d", out = 4, kernel_size = 3, stride = 1000000 },
              { type = "flatten" },
              { type = "linear", out = 10 },
            ]
        "#);
        let e = check_memory(&c, &[1, 8, 8], Some(10), 0, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.layers[") && e.contains("activations"),
            "{e}"
        );
    }
}
