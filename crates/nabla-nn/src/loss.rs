//! Loss functions with PyTorch's definitions, reductions and argument names.
//!
//! Targets of the classification losses are i64 class indices (`[N]`); cross-entropy also
//! takes class probabilities (`[N, C]`, float).

use nabla_core::{DType, Error, Result, Tensor};

/// The losses a config names (`train.loss`), in their config spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// [`cross_entropy`] (the default).
    #[default]
    CrossEntropy,
    /// [`nll_loss`] of the log-softmax.
    Nll,
    /// [`mse_loss`].
    Mse,
    /// [`l1_loss`].
    L1,
    /// [`huber_loss`].
    Huber,
}

impl LossKind {
    /// The config spelling (`cross_entropy`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Nll => "nll",
            LossKind::Mse => "mse",
            LossKind::L1 => "l1",
            LossKind::Huber => "huber",
        }
    }
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How per-element losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// Keep every element's loss.
    None,
    /// Average (the default).
    #[default]
    Mean,
    /// Add up.
    Sum,
}

fn reduce(l: Tensor, r: Reduction) -> Result<Tensor> {
    match r {
        Reduction::None => Ok(l),
        Reduction::Mean => l.mean(),
        Reduction::Sum => l.sum(),
    }
}

fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {:?} and target {:?} differ",
                input.shape(),
                target.shape()
            ),
        });
    }
    Ok(())
}

/// Mean squared error `(x - y)²`.
pub fn mse_loss(input: &Tensor, target: &Tensor, r: Reduction) -> Result<Tensor> {
    same_shape("mse_loss", input, target)?;
    reduce(input.sub(target)?.sqr()?, r)
}

/// Mean absolute error `|x - y|`.
pub fn l1_loss(input: &Tensor, target: &Tensor, r: Reduction) -> Result<Tensor> {
    same_shape("l1_loss", input, target)?;
    reduce(input.sub(target)?.abs()?, r)
}

/// Huber loss: `½ d²` where `|d| < delta`, else `delta (|d| - ½ delta)`.
pub fn huber_loss(input: &Tensor, target: &Tensor, delta: f64, r: Reduction) -> Result<Tensor> {
    same_shape("huber_loss", input, target)?;
    let a = input.sub(target)?.abs()?;
    let quad = a.sqr()?.mul_scalar(0.5)?;
    let lin = a.add_scalar(-0.5 * delta)?.mul_scalar(delta)?;
    reduce(Tensor::where_cond(&a.lt_scalar(delta)?, &quad, &lin)?, r)
}

/// Smooth L1: `½ d² / beta` where `|d| < beta`, else `|d| - ½ beta` (Huber divided by beta).
pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, beta: f64, r: Reduction) -> Result<Tensor> {
    if beta == 0.0 {
        return l1_loss(input, target, r);
    }
    same_shape("smooth_l1_loss", input, target)?;
    let a = input.sub(target)?.abs()?;
    let quad = a.sqr()?.mul_scalar(0.5 / beta)?;
    let lin = a.add_scalar(-0.5 * beta)?;
    reduce(Tensor::where_cond(&a.lt_scalar(beta)?, &quad, &lin)?, r)
}

/// Binary cross-entropy of probabilities `p` (in `[0, 1]`, e.g. a sigmoid's output) against
/// targets of the same shape: `-(y log p + (1 - y) log(1 - p))`, as
/// `torch.nn.functional.binary_cross_entropy`.
///
/// As in PyTorch, the logs are clamped at -100 (so `p = 0` or `1` gives a finite loss) and
/// the gradient is PyTorch's `(p - y) / max(p (1 - p), 1e-12)`, finite even where a sigmoid
/// saturated to exactly 0 or 1 in f32. That gradient is a constant of the graph: the loss
/// has first derivatives only (differentiating its gradient again gives 0 for the `p` term).
///
/// ```
/// use nabla_core::{Tensor, Var};
/// use nabla_nn::loss::{binary_cross_entropy, Reduction};
/// let p = Var::from_vec(vec![0.25f64, 1.0], &[2]).unwrap();
/// let y = Tensor::from_vec(vec![1.0f64, 0.0], &[2]).unwrap();
/// let l = binary_cross_entropy(&p.as_tensor(), &y, Reduction::Sum).unwrap();
/// // -log(0.25) + 100 (the clamp)
/// assert!((l.to_scalar().unwrap() - (4f64.ln() + 100.0)).abs() < 1e-12);
/// let g = p.grad(&l.backward().unwrap()).unwrap().to_vec::<f64>().unwrap();
/// assert!((g[0] + 4.0).abs() < 1e-12 && g[1] == 1e12);
/// ```
pub fn binary_cross_entropy(p: &Tensor, target: &Tensor, r: Reduction) -> Result<Tensor> {
    same_shape("binary_cross_entropy", p, target)?;
    let pd = p.detach();
    let yd = target.detach();
    let lp = pd.log()?.clamp(-100.0, f64::INFINITY)?;
    let lq = pd
        .neg()?
        .add_scalar(1.0)?
        .log()?
        .clamp(-100.0, f64::INFINITY)?;
    // the value, with the target's own gradient (-(log p - log(1 - p)))
    let value = target.mul(&lp.sub(&lq)?)?.add(&lq)?.neg()?;
    // plus 0 whose gradient with respect to p is PyTorch's
    let dp = pd.sub(&yd)?.div(
        &pd.mul(&pd.neg()?.add_scalar(1.0)?)?
            .clamp(1e-12, f64::INFINITY)?,
    )?;
    let carrier = p.sub(&pd)?.mul(&dp)?;
    reduce(value.add(&carrier)?, r)
}

/// Cross-entropy of logits `[N, C]` with class indices `[N]`, averaged over the batch: a
/// plain function to hand to a [`Trainer`](../../nabla_train/struct.Trainer.html) as its loss.
pub fn cross_entropy_loss(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    cross_entropy(logits, target, CrossEntropyOptions::default())
}

/// Binary cross-entropy on logits, computed stably as PyTorch does:
/// `softplus(x) - x y = max(x, 0) - x y + log1p(e^-|x|)` (no threshold), so the gradient is
/// `sigmoid(x) - y` everywhere, `0.5 - y` at `x = 0` too, and tiny losses keep their digits.
pub fn binary_cross_entropy_with_logits(
    x: &Tensor,
    target: &Tensor,
    r: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy_with_logits", x, target)?;
    let l = x.softplus_with(1.0, f64::INFINITY)?.sub(&x.mul(target)?)?;
    reduce(l, r)
}

/// Options of [`cross_entropy`] (PyTorch's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossEntropyOptions {
    /// Reduction (mean over non-ignored samples by default).
    pub reduction: Reduction,
    /// Samples with this target are ignored (PyTorch: -100).
    pub ignore_index: i64,
    /// Mix the one-hot target with the uniform distribution by this much.
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            reduction: Reduction::Mean,
            ignore_index: -100,
            label_smoothing: 0.0,
        }
    }
}

fn check_classes(op: &'static str, logits: &Tensor, target: &Tensor) -> Result<()> {
    if logits.rank() != 2 || target.rank() != 1 || target.shape()[0] != logits.shape()[0] {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {:?} and target {:?} do not fit: expected [N, C] and [N]",
                logits.shape(),
                target.shape()
            ),
        });
    }
    if target.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            msg: format!("class-index targets must be i64, got {}", target.dtype()),
        });
    }
    Ok(())
}

/// Negative log-likelihood of log-probabilities `[N, C]` at class indices `[N]` (i64).
pub fn nll_loss(logp: &Tensor, target: &Tensor, ignore_index: i64, r: Reduction) -> Result<Tensor> {
    nll_smoothed("nll_loss", logp, target, ignore_index, 0.0, r)
}

fn nll_smoothed(
    op: &'static str,
    logp: &Tensor,
    target: &Tensor,
    ignore: i64,
    eps: f64,
    r: Reduction,
) -> Result<Tensor> {
    check_classes(op, logp, target)?;
    let c = logp.shape()[1] as i64;
    let t = target.to_vec::<i64>()?;
    let mut keep = Vec::with_capacity(t.len());
    let mut safe = Vec::with_capacity(t.len());
    for (i, &k) in t.iter().enumerate() {
        if k == ignore {
            keep.push(0.0);
            safe.push(0);
        } else if k < 0 || k >= c {
            return Err(Error::Arg {
                op,
                msg: format!("target {k} of sample {i} is out of range for {c} classes"),
            });
        } else {
            keep.push(1.0);
            safe.push(k);
        }
    }
    let n = t.len();
    let kept: f64 = keep.iter().sum();
    let idx = Tensor::from_vec(safe, &[n, 1])?;
    let mut l = logp.gather(1, &idx)?.reshape(&[n])?.neg()?;
    if eps > 0.0 {
        let smooth = logp.mean_dims(&[1], false)?.neg()?;
        l = l.mul_scalar(1.0 - eps)?.add(&smooth.mul_scalar(eps)?)?;
    }
    let any_ignored = kept < n as f64;
    if any_ignored {
        let mask = Tensor::from_vec(keep, &[n])?.to_dtype(logp.dtype())?;
        l = l.mul(&mask)?;
    }
    match r {
        Reduction::Mean if any_ignored => l.sum()?.div_scalar(kept),
        _ => reduce(l, r),
    }
}

/// Cross-entropy of logits `[N, C]` with class indices `[N]` (i64) or class probabilities
/// `[N, C]` (float), as `torch.nn.functional.cross_entropy`.
pub fn cross_entropy(
    logits: &Tensor,
    target: &Tensor,
    opts: CrossEntropyOptions,
) -> Result<Tensor> {
    let logp = logits.log_softmax(-1)?;
    if target.dtype().is_float() {
        same_shape("cross_entropy", logits, target)?;
        let c = logits.shape().last().copied().unwrap_or(1) as f64;
        let t = if opts.label_smoothing > 0.0 {
            target
                .mul_scalar(1.0 - opts.label_smoothing)?
                .add_scalar(opts.label_smoothing / c)?
        } else {
            target.clone()
        };
        let l = t.mul(&logp)?.sum_dims(&[-1], false)?.neg()?;
        return reduce(l, opts.reduction);
    }
    nll_smoothed(
        "cross_entropy",
        &logp,
        target,
        opts.ignore_index,
        opts.label_smoothing,
        opts.reduction,
    )
}

/// How [`kl_div`] reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlReduction {
    /// Per element.
    None,
    /// Mean over every element (PyTorch's default, mathematically not the KL divergence).
    Mean,
    /// Sum over elements.
    Sum,
    /// Sum divided by the batch size: the KL divergence per sample.
    BatchMean,
}

/// KL divergence with `input` as log-probabilities and `target` as probabilities (or
/// log-probabilities when `log_target`): `target (log target - input)`.
pub fn kl_div(input: &Tensor, target: &Tensor, r: KlReduction, log_target: bool) -> Result<Tensor> {
    same_shape("kl_div", input, target)?;
    let l = if log_target {
        target.exp()?.mul(&target.sub(input)?)?
    } else {
        // 0 · log 0 = 0: where target is 0 the term is 0
        let pos = target.gt_scalar(0.0)?;
        let safe = Tensor::where_cond(&pos, target, &Tensor::ones(&[], target.dtype()))?;
        target.mul(&safe.log()?.sub(input)?)?.mul(&pos)?
    };
    match r {
        KlReduction::None => Ok(l),
        KlReduction::Mean => l.mean(),
        KlReduction::Sum => l.sum(),
        KlReduction::BatchMean => l
            .sum()?
            .div_scalar(input.shape().first().copied().unwrap_or(1).max(1) as f64),
    }
}
