//! Dropout.

use crate::module::{ForwardCtx, Module};
use nabla_core::{DType, Error, Result, Tensor};

/// Zeroes each element with probability `p` in training and scales the rest by `1 / (1 - p)`
/// (inverted dropout, as PyTorch); the identity in evaluation. Masks come from the context's
/// dropout stream, so runs are reproducible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Fails unless `0 <= p < 1`.
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::Arg {
                op: "Dropout",
                msg: format!("p must be in [0, 1), got {p}"),
            });
        }
        Ok(Dropout { p })
    }
    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        if !ctx.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        // drawn as f64 (the same stream for any dtype), stored in x's dtype
        let rng = ctx.rng()?;
        let draws = (0..x.numel()).map(|_| if rng.random() < keep { scale } else { 0.0 });
        let mask = match x.dtype() {
            DType::F32 => Tensor::from_vec(draws.map(|v| v as f32).collect::<Vec<_>>(), x.shape())?,
            _ => Tensor::from_vec(draws.collect::<Vec<f64>>(), x.shape())?.to_dtype(x.dtype())?,
        };
        x.mul(&mask)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!("p={}", self.p)
    }
}

/// Zeroes whole channels of `[N, C, ...]` inputs with probability `p` in training (each
/// sample's channel independently) and scales the rest by `1 / (1 - p)`, as `nn.Dropout2d`;
/// the identity in evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout2d {
    p: f64,
}

impl Dropout2d {
    /// Fails unless `0 <= p < 1`.
    pub fn new(p: f64) -> Result<Self> {
        Dropout::new(p).map(|d| Dropout2d { p: d.p })
    }
    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout2d {
    fn kind(&self) -> &'static str {
        "Dropout2d"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        if !ctx.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        if x.rank() < 2 {
            return Err(Error::Shape {
                op: "Dropout2d",
                msg: format!("input {:?} has no channel dim", x.shape()),
            });
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let mut mshape = vec![1; x.rank()];
        mshape[0] = x.shape()[0];
        mshape[1] = x.shape()[1];
        let rng = ctx.rng()?;
        let draws: Vec<f64> = (0..mshape[0] * mshape[1])
            .map(|_| if rng.random() < keep { scale } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(draws, &mshape)?.to_dtype(x.dtype())?;
        x.mul(&mask)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!("p={}", self.p)
    }
}
