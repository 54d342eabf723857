//! The [`Module`] trait: a layer or a network of layers.

use nabla_core::{Error, Mt19937, Result, Tensor, Var};

/// What a forward pass needs besides its input: the mode and the dropout stream.
pub struct ForwardCtx<'a> {
    /// Training mode (dropout active, batch norm uses and updates batch statistics).
    pub training: bool,
    /// The random stream for dropout masks.
    pub rng: &'a mut Mt19937,
}

impl<'a> ForwardCtx<'a> {
    /// A training-mode context.
    pub fn train(rng: &'a mut Mt19937) -> Self {
        ForwardCtx {
            training: true,
            rng,
        }
    }
    /// An evaluation-mode context.
    pub fn eval(rng: &'a mut Mt19937) -> Self {
        ForwardCtx {
            training: false,
            rng,
        }
    }
}

/// A layer, or a network of layers.
///
/// Parameters and buffers are reported with PyTorch's `state_dict` names in a stable order, so
/// a checkpoint maps onto the equivalent PyTorch model.
pub trait Module: Send {
    /// The layer type as PyTorch names it (`Linear`, `ReLU`, `Sequential`, ...).
    fn kind(&self) -> &'static str;
    /// The forward pass.
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor>;
    /// Trainable parameters with their names (e.g. `weight`, `bias`; `0.weight` inside a
    /// `Sequential`), in a stable order.
    fn parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// Non-trainable state saved with the model (e.g. `running_mean`).
    fn buffers(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// The output shape for an input shape (the batch dim included), or an error naming this
    /// layer and both shapes when the input does not fit.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>>;
    /// A one-line description of the configuration (`in_features=784, out_features=128`).
    fn describe(&self) -> String {
        String::new()
    }
    /// The child modules with their names (for summaries); empty for leaf layers.
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }
}

/// Number of trainable scalars in a module.
pub fn parameter_count(m: &dyn Module) -> usize {
    m.parameters().iter().map(|(_, v)| v.numel()).sum()
}

/// An error for an input that does not fit a layer.
pub fn misfit(layer: &str, msg: String) -> Error {
    Error::Shape {
        op: "forward",
        msg: format!("{layer}: {msg}"),
    }
}
