//! Dropout.

use crate::module::{ForwardCtx, Module};
use nabla_core::{DType, Error, Result, Tensor};

/// The values of a dropout mask of `shape` (`scale` to keep, 0 to drop, one draw per element
/// in row-major order). With a [`crate::BatchShard`] in the context and the batch along dim
/// `bdim` (its size `rows`, or a multiple of it when rows were flattened with another dim),
/// these are this pass's rows of the whole batch's mask, and the stream moves past the whole
/// batch's draws; otherwise the mask of `shape` alone.
fn mask_values(
    ctx: &mut ForwardCtx<'_>,
    shape: &[usize],
    bdim: usize,
    keep: f64,
    scale: f64,
) -> Result<Vec<f64>> {
    let shard = ctx.shard();
    let rng = ctx.rng()?;
    let numel: usize = shape.iter().product();
    let mut draw = || if rng.random() < keep { scale } else { 0.0 };
    let spans = shard.and_then(|s| {
        let n = *shape.get(bdim)?;
        (s.rows > 0 && n > 0 && n % s.rows == 0).then(|| {
            let m = n / s.rows;
            (s.offset * m, n, (s.whole - s.offset - s.rows) * m)
        })
    });
    let Some((before, mine, after)) = spans else {
        return Ok((0..numel).map(|_| draw()).collect());
    };
    let outer: usize = shape[..bdim].iter().product();
    let inner: usize = shape[bdim + 1..].iter().product();
    let mut out = Vec::with_capacity(numel);
    for _ in 0..outer {
        for _ in 0..before * inner {
            draw();
        }
        out.extend((0..mine * inner).map(|_| draw()));
        for _ in 0..after * inner {
            draw();
        }
    }
    Ok(out)
}

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
    /// The forward pass of an input whose batch is dim `bdim` (0 for a [`Module`] input;
    /// 1 for the time-major sequences between recurrent layers), which decides the rows a
    /// data-parallel shard draws (see [`crate::BatchShard`]).
    pub(crate) fn forward_batch_dim(
        &self,
        x: &Tensor,
        ctx: &mut ForwardCtx<'_>,
        bdim: usize,
    ) -> Result<Tensor> {
        if !ctx.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        // drawn as f64 (the same stream for any dtype), stored in x's dtype
        let draws = mask_values(ctx, x.shape(), bdim, keep, 1.0 / keep)?;
        let mask = match x.dtype() {
            DType::F32 => Tensor::from_vec(
                draws.into_iter().map(|v| v as f32).collect::<Vec<_>>(),
                x.shape(),
            )?,
            _ => Tensor::from_vec(draws, x.shape())?.to_dtype(x.dtype())?,
        };
        x.mul(&mask)
    }
}

impl Module for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.forward_batch_dim(x, ctx, 0)
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
        let draws = mask_values(ctx, &mshape, 0, keep, scale)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::BatchShard;
    use crate::{Lstm, RnnOptions};
    use nabla_core::Mt19937;

    /// Runs `f` on the whole batch `x` and on its `k` row slices (each with its shard), from
    /// the same stream state; the slices joined must equal the whole output and every
    /// stream must end in the same state.
    fn check_shards(x: &Tensor, k: usize, f: &dyn Fn(&Tensor, &mut ForwardCtx) -> Tensor) {
        let n = x.shape()[0];
        let mut rng = Mt19937::new(5);
        let whole = f(x, &mut ForwardCtx::train(&mut rng));
        let end = rng.state();
        let mut parts = Vec::new();
        for r in 0..k {
            let (q, rem) = (n / k, n % k);
            let offset = r * q + r.min(rem);
            let rows = q + usize::from(r < rem);
            let mut g = Mt19937::new(5);
            let shard = BatchShard {
                offset,
                rows,
                whole: n,
            };
            let mut ctx = ForwardCtx::train(&mut g).with_shard(shard).unwrap();
            parts.push(f(&x.narrow(0, offset, rows).unwrap(), &mut ctx));
            assert_eq!(g.state(), end, "rank {r}'s stream moved differently");
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        let joined = Tensor::cat(&refs, 0).unwrap();
        let (a, b) = (whole.to_vec_f64(), joined.to_vec_f64());
        assert_eq!(a.len(), b.len());
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-6 * (1.0 + u.abs()), "{u} vs {v}");
        }
    }

    #[test]
    fn shards_draw_their_rows_of_the_whole_batch_mask() {
        let mut rng = Mt19937::new(1);
        let x = Tensor::randn(&[7, 3, 4], DType::F32, &mut rng).unwrap();
        let d = Dropout::new(0.5).unwrap();
        let d2 = Dropout2d::new(0.5).unwrap();
        for k in [1, 2, 3] {
            check_shards(&x, k, &|x, ctx| d.forward(x, ctx).unwrap());
            check_shards(&x, k, &|x, ctx| d2.forward(x, ctx).unwrap());
        }
        // between the layers of an LSTM the sequences are time-major: the batch is dim 1
        let lstm = Lstm::with_options(
            4,
            5,
            RnnOptions::default()
                .with_batch_first(true)
                .with_num_layers(2)
                .with_dropout(0.5),
            &mut rng,
        )
        .unwrap();
        check_shards(&x, 3, &|x, ctx| lstm.forward(x, ctx).unwrap());
        // rows that do not fit the whole batch are refused
        let mut g = Mt19937::new(0);
        let bad = BatchShard {
            offset: 5,
            rows: 3,
            whole: 7,
        };
        assert!(ForwardCtx::train(&mut g).with_shard(bad).is_err());
    }
}
