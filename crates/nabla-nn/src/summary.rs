//! A model's summary, like Keras' `model.summary()`: each child layer with its output shape
//! and parameters, and the totals. The same table for a model built in Rust
//! ([`Summary::of`]), from a TOML config (`nabla summary`) and in the run report.

use crate::Module;
use nabla_core::{Result, Var};
use std::fmt;

/// One layer of a model summary.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    /// `0 (Linear)`: the layer's name in its parent and its kind.
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

/// A model's layers with their output shapes and parameter counts; displays as the table
/// Keras' `model.summary()` prints.
///
/// ```
/// use nabla_nn::{Activation, Linear, Module, Sequential};
/// let mut rng = nabla_core::Mt19937::new(0);
/// let model = Sequential::new()
///     .append(Linear::new(64, 128, &mut rng)?)
///     .append(Activation::ReLU)
///     .append(Linear::new(128, 10, &mut rng)?);
/// let s = model.summary(&[64])?;
/// assert_eq!(s.total(), 64 * 128 + 128 + 128 * 10 + 10);
/// assert_eq!(s.layers[2].shape_text(), "[None, 10]");
/// let table = s.to_string();
/// assert!(table.contains("1 (ReLU)") && table.contains("Total params: 9610"), "{table}");
/// # Ok::<(), nabla_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The layers, in order.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// The summary of `model` for samples of `input_shape` (the batch dim left out): one row
    /// per child (a `Sequential`'s layers), or one row for a module without children.
    ///
    /// Fails when a layer does not fit its input, naming the layer and both shapes.
    pub fn of<M: Module + ?Sized>(model: &M, input_shape: &[usize]) -> Result<Summary> {
        let mut shape: Vec<usize> = std::iter::once(1)
            .chain(input_shape.iter().copied())
            .collect();
        let rows = model.children();
        if rows.is_empty() {
            let out = model.output_shape(&shape)?;
            let params: Vec<(String, Vec<usize>)> = model
                .parameters()
                .iter()
                .map(|(n, v)| (n.clone(), v.shape()))
                .collect();
            return Ok(Summary {
                layers: vec![LayerSummary {
                    name: format!("0 ({})", model.kind()),
                    output_shape: out.get(1..).unwrap_or_default().to_vec(),
                    count: params
                        .iter()
                        .map(|(_, s)| s.iter().product::<usize>())
                        .sum(),
                    params,
                }],
            });
        }
        let mut layers = Vec::with_capacity(rows.len());
        for (i, (child, m)) in rows.iter().enumerate() {
            shape = m
                .output_shape(&shape)
                .map_err(|e| e.context(format!("layer {i} ({})", m.kind())))?;
            let params: Vec<(String, Vec<usize>)> = m
                .parameters()
                .iter()
                .map(|(n, v)| (format!("{child}.{n}"), v.shape()))
                .collect();
            layers.push(LayerSummary {
                name: format!("{i} ({})", m.kind()),
                output_shape: shape.get(1..).unwrap_or_default().to_vec(),
                count: m.parameters().iter().map(|(_, v)| v.numel()).sum(),
                params,
            });
        }
        Ok(Summary { layers })
    }

    /// The summary of a model's children whose output shapes (batch first) are already known,
    /// e.g. from their layer configs (see [`crate::LayerConfig::output_shape`]), so nothing
    /// runs; one shape per child.
    pub fn with_shapes<M: Module + ?Sized>(model: &M, shapes: &[Vec<usize>]) -> Summary {
        // a weight shared by two layers (a tied head) counts once, at the first
        let mut seen = std::collections::HashSet::new();
        let layers = model
            .children()
            .iter()
            .zip(shapes)
            .enumerate()
            .map(|(i, ((child, m), shape))| {
                let own: Vec<(String, Var)> = m
                    .parameters()
                    .into_iter()
                    .filter(|(_, v)| seen.insert(v.as_tensor().id()))
                    .collect();
                LayerSummary {
                    name: format!("{i} ({})", m.kind()),
                    output_shape: shape.get(1..).unwrap_or_default().to_vec(),
                    params: own
                        .iter()
                        .map(|(n, v)| (format!("{child}.{n}"), v.shape()))
                        .collect(),
                    count: own.iter().map(|(_, v)| v.numel()).sum(),
                }
            })
            .collect();
        Summary { layers }
    }

    /// The number of parameters of every layer.
    pub fn total(&self) -> usize {
        self.layers.iter().map(|l| l.count).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28}{:<22}{:>12}",
            "Layer (type)", "Output Shape", "Param #"
        )?;
        writeln!(f, "{}", "=".repeat(62))?;
        for l in &self.layers {
            writeln!(f, "{:<28}{:<22}{:>12}", l.name, l.shape_text(), l.count)?;
        }
        writeln!(f, "{}", "=".repeat(62))?;
        writeln!(f, "Total params: {}", self.total())?;
        write!(f, "Trainable params: {}", self.total())
    }
}
