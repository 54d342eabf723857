//! Several heads on one input: a model with more than one output.

use crate::module::{ForwardCtx, Module};
use nabla_core::{Error, Result, Tensor, Var};

/// Applies each branch to the same input ([`Fork::forward_all`] returns every output); as a
/// [`Module`] inside a [`Sequential`](crate::Sequential) it concatenates the outputs along
/// the last dim (`Tensor::narrow` or `Tensor::chunk` take them apart again). Parameters are named
/// `"{branch}.{name}"`.
///
/// A VAE's encoder ends in one: a mean head and a log-variance head on the same features.
///
/// ```
/// use nabla_core::{Mt19937, Tensor, DType};
/// use nabla_nn::{Fork, ForwardCtx, Linear, Module};
/// let mut rng = Mt19937::new(0);
/// let heads = Fork::new()
///     .append(Linear::new(8, 2, &mut rng).unwrap())
///     .append(Linear::new(8, 3, &mut rng).unwrap());
/// let x = Tensor::zeros(&[4, 8], DType::F32);
/// let outs = heads.forward_all(&x, &mut ForwardCtx::eval()).unwrap();
/// assert_eq!((outs[0].shape(), outs[1].shape()), (&[4, 2][..], &[4, 3][..]));
/// let packed = heads.forward(&x, &mut ForwardCtx::eval()).unwrap();
/// assert_eq!(packed.shape(), &[4, 5]);
/// assert_eq!(packed.narrow(1, 2, 3).unwrap().shape(), &[4, 3]);
/// assert_eq!(heads.parameters()[2].0, "1.weight");
/// ```
#[derive(Default)]
pub struct Fork {
    branches: Vec<Box<dyn Module>>,
}

impl Fork {
    /// No branch yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a branch (builder style).
    pub fn append(mut self, m: impl Module + 'static) -> Self {
        self.branches.push(Box::new(m));
        self
    }
    /// The branches.
    pub fn branches(&self) -> &[Box<dyn Module>] {
        &self.branches
    }
    /// Every branch's output for `x`, in order.
    ///
    /// Fails when a branch fails (the message names the branch).
    pub fn forward_all(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Vec<Tensor>> {
        self.branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let _path = nabla_core::anomaly::scope(i, b.kind());
                b.forward(x, ctx)
                    .map_err(|e| e.context(format!("branch {i} ({})", b.kind())))
            })
            .collect()
    }
}

impl Module for Fork {
    fn kind(&self) -> &'static str {
        "Fork"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let outs = self.forward_all(x, ctx)?;
        if outs.is_empty() {
            return Err(Error::Arg {
                op: "Fork",
                msg: "no branch".into(),
            });
        }
        Tensor::cat(&outs.iter().collect::<Vec<_>>(), -1)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        self.branches
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                b.parameters()
                    .into_iter()
                    .map(move |(n, v)| (format!("{i}.{n}"), v))
            })
            .collect()
    }
    fn buffers(&self) -> Vec<(String, Var)> {
        self.branches
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                b.buffers()
                    .into_iter()
                    .map(move |(n, v)| (format!("{i}.{n}"), v))
            })
            .collect()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let mut out: Option<Vec<usize>> = None;
        for (i, b) in self.branches.iter().enumerate() {
            let s = b
                .output_shape(input)
                .map_err(|e| e.context(format!("branch {i} ({})", b.kind())))?;
            out = Some(match out {
                None => s,
                Some(mut o) => {
                    if o.len() != s.len() || o[..o.len() - 1] != s[..s.len() - 1] {
                        return Err(Error::Shape {
                            op: "Fork",
                            msg: format!(
                                "branch {i} outputs {s:?}, which does not stack with {o:?} on the last dim"
                            ),
                        });
                    }
                    let k = o.len() - 1;
                    o[k] += s[k];
                    o
                }
            });
        }
        out.ok_or_else(|| Error::Arg {
            op: "Fork",
            msg: "no branch".into(),
        })
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.branches
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.as_ref() as &dyn Module))
            .collect()
    }
}
