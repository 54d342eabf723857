//! Embedding lookup tables.

use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{DType, Mt19937, Result, Tensor, Var};

/// A table of `num_embeddings` vectors of size `embedding_dim` (weight drawn from N(0, 1) as in
/// PyTorch); the input is an i64 tensor of indices of any shape, the output appends a dim.
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`
    pub weight: Var,
    num: usize,
    dim: usize,
}

impl Embedding {
    /// A new table.
    pub fn new(num_embeddings: usize, embedding_dim: usize, rng: &mut Mt19937) -> Result<Self> {
        let w = Tensor::randn(&[num_embeddings, embedding_dim], DType::F32, rng)?;
        Ok(Embedding {
            weight: Var::new(&w),
            num: num_embeddings,
            dim: embedding_dim,
        })
    }
}

impl Module for Embedding {
    fn kind(&self) -> &'static str {
        "Embedding"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let idx = if x.dtype() == DType::I64 {
            x.flatten_all()?
        } else {
            x.flatten_all()?.to_dtype(DType::I64)?
        };
        let rows = self.weight.as_tensor().index_select(0, &idx)?;
        let mut shape = x.shape().to_vec();
        shape.push(self.dim);
        rows.reshape(&shape)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        vec![("weight".into(), self.weight.clone())]
    }
    fn lookup_table(&self) -> Option<Tensor> {
        Some(self.weight.as_tensor())
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.is_empty() {
            return Err(misfit(
                "Embedding",
                "needs at least a batch dim of indices".into(),
            ));
        }
        let mut s = input.to_vec();
        s.push(self.dim);
        Ok(s)
    }
    fn describe(&self) -> String {
        format!("{}, {}", self.num, self.dim)
    }
}
