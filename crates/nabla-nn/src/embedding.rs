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

/// The indices `x` (any shape, any dtype) as a flat i64 tensor, as a lookup takes them.
pub(crate) fn flat_indices(x: &Tensor) -> Result<Tensor> {
    let flat = x.flatten_all()?;
    if flat.dtype() == DType::I64 {
        Ok(flat)
    } else {
        flat.to_dtype(DType::I64)
    }
}

impl Module for Embedding {
    fn kind(&self) -> &'static str {
        "Embedding"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let idx = flat_indices(x)?;
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
