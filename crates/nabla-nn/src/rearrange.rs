//! Layers that rearrange or reduce a tensor's dims, for models built from configs: a
//! permutation of the dims (`Permute`, as `torch.permute`) and a mean over one dim (`Mean`,
//! as `torch.mean(dim)`), which a vision transformer needs between its patch embedding, its
//! encoder and its head.

use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{Error, Result, Tensor};

/// The input's dims in the order `dims` (the batch dim included, and kept first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permute {
    dims: Vec<usize>,
}

impl Permute {
    /// Fails unless `dims` is a permutation of `0..dims.len()` that keeps dim 0 (the batch)
    /// first.
    pub fn new(dims: &[usize]) -> Result<Self> {
        let mut seen = vec![false; dims.len()];
        for &d in dims {
            if d >= dims.len() || std::mem::replace(&mut seen[d], true) {
                return Err(Error::arg(
                    "Permute",
                    format!("dims {dims:?} is not a permutation of 0..{}", dims.len()),
                ));
            }
        }
        if dims.first() != Some(&0) {
            return Err(Error::arg(
                "Permute",
                format!("dims {dims:?} must keep the batch (dim 0) first"),
            ));
        }
        Ok(Permute {
            dims: dims.to_vec(),
        })
    }
}

impl Module for Permute {
    fn kind(&self) -> &'static str {
        "Permute"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        // contiguous, so the layers after it read rows
        x.permute(&self.dims)?.contiguous()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != self.dims.len() {
            return Err(misfit(
                "Permute",
                format!(
                    "input {input:?} has rank {}, dims {:?} rank {}",
                    input.len(),
                    self.dims,
                    self.dims.len()
                ),
            ));
        }
        Ok(self.dims.iter().map(|&d| input[d]).collect())
    }
    fn describe(&self) -> String {
        format!("dims={:?}", self.dims)
    }
}

/// The mean over one dim (not the batch), keeping it as size 1 or dropping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mean {
    dim: isize,
    keepdim: bool,
}

impl Mean {
    /// The mean over `dim` (negative counts from the end).
    pub fn new(dim: isize, keepdim: bool) -> Self {
        Mean { dim, keepdim }
    }

    fn resolve(&self, rank: usize) -> Result<usize> {
        let d = if self.dim < 0 {
            rank as isize + self.dim
        } else {
            self.dim
        };
        if d <= 0 || d as usize >= rank {
            return Err(misfit(
                "Mean",
                format!(
                    "dim {} is not a dim after the batch of a rank-{rank} input",
                    self.dim
                ),
            ));
        }
        Ok(d as usize)
    }
}

impl Module for Mean {
    fn kind(&self) -> &'static str {
        "Mean"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let d = self.resolve(x.rank())?;
        x.mean_dims(&[d as isize], self.keepdim)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let d = self.resolve(input.len())?;
        let mut s = input.to_vec();
        if self.keepdim {
            s[d] = 1;
        } else {
            s.remove(d);
        }
        Ok(s)
    }
    fn describe(&self) -> String {
        format!("dim={}, keepdim={}", self.dim, self.keepdim)
    }
}
