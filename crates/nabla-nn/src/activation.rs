//! Activations as modules, and `Flatten`.

use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{Result, Tensor};

/// An elementwise activation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`
    ReLU,
    /// `x` or `slope · x`
    LeakyReLU(f64),
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `tanh x`
    Tanh,
    /// GELU, exact (erf) form
    GELU,
    /// GELU, tanh approximation
    GELUTanh,
    /// `x · sigmoid(x)`
    SiLU,
    /// softmax along a dim
    Softmax(isize),
    /// log-softmax along a dim
    LogSoftmax(isize),
}

impl Activation {
    /// Applies the function.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::ReLU => x.relu(),
            Activation::LeakyReLU(s) => x.leaky_relu(s),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::GELU => x.gelu(),
            Activation::GELUTanh => x.gelu_tanh(),
            Activation::SiLU => x.silu(),
            Activation::Softmax(d) => x.softmax(d),
            Activation::LogSoftmax(d) => x.log_softmax(d),
        }
    }
}

impl Module for Activation {
    fn kind(&self) -> &'static str {
        match self {
            Activation::ReLU => "ReLU",
            Activation::LeakyReLU(_) => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::GELU | Activation::GELUTanh => "GELU",
            Activation::SiLU => "SiLU",
            Activation::Softmax(_) => "Softmax",
            Activation::LogSoftmax(_) => "LogSoftmax",
        }
    }
    fn is_relu(&self) -> bool {
        *self == Activation::ReLU
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let y = self.apply(x)?;
        if crate::health::collecting() {
            match self {
                Activation::ReLU => crate::health::record_relu(&y),
                Activation::Sigmoid => crate::health::record_saturation(&y, 0.01, 0.99),
                Activation::Tanh => crate::health::record_saturation(&y, -0.99, 0.99),
                _ => {}
            }
        }
        Ok(y)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if let Activation::Softmax(d) | Activation::LogSoftmax(d) = *self {
            // a 0-d input accepts dim 0 and -1, as PyTorch
            let r = input.len().max(1) as isize;
            if d >= r || d < -r {
                return Err(misfit(
                    self.kind(),
                    format!("dim {d} out of range for input {input:?}"),
                ));
            }
        }
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        match *self {
            Activation::LeakyReLU(s) => format!("negative_slope={s}"),
            Activation::GELUTanh => "approximate='tanh'".into(),
            Activation::Softmax(d) | Activation::LogSoftmax(d) => format!("dim={d}"),
            _ => String::new(),
        }
    }
}

/// Flattens dims `start_dim..=end_dim` (PyTorch's defaults 1 and -1: keep the batch dim).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flatten {
    /// First dim to flatten.
    pub start_dim: isize,
    /// Last dim to flatten.
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Module for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        x.flatten(self.start_dim, self.end_dim)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let r = input.len() as isize;
        let norm = |d: isize| if d < 0 { d + r } else { d };
        let (s, e) = (norm(self.start_dim), norm(self.end_dim));
        if s < 0 || e >= r || s > e {
            return Err(misfit(
                "Flatten",
                format!(
                    "dims {}..{} do not fit input {input:?}",
                    self.start_dim, self.end_dim
                ),
            ));
        }
        let (s, e) = (s as usize, e as usize);
        let mut out = input[..s].to_vec();
        out.push(input[s..=e].iter().product());
        out.extend_from_slice(&input[e + 1..]);
        Ok(out)
    }
}
