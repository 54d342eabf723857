//! Classification metrics: accuracy (and its count of correct rows), top-k accuracy, a
//! confusion matrix with per-class precision / recall / F1 (printed like scikit-learn's
//! `classification_report`), and a batch-size-weighted running mean for epoch losses and
//! accuracies.
//!
//! Every function that looks at tensors takes **logits** (or any class scores) of shape
//! `[N, C]` (f32 or f64) and **targets** of shape `[N]` (i64 class indices in `0..C`), and
//! returns an [`Error`] (never panics) when the shapes do not fit, the dtypes are wrong, `k`
//! is 0 or larger than `C`, or a target is not a valid class index.
//!
//! ## Ranking rule (ties and NaN)
//!
//! Scores are ranked like `torch.topk` / `torch.argmax`: a larger score ranks first, equal
//! scores are ordered by class index (the smaller index first), and NaN counts as larger than
//! every number (two NaNs are equal). The rank of class `t` in a row `s` is therefore
//!
//! `rank(t) = #{ j : s[j] > s[t] } + #{ j < t : s[j] == s[t] }`
//!
//! and a row is a top-k hit when `rank(target) < k`. The predicted class (top-1) is the first
//! index of the largest score, exactly what `Tensor::argmax` returns.
//!
//! ```
//! use nabla_core::Tensor;
//! use nabla_train::metrics::{accuracy, ConfusionMatrix};
//! let logits = Tensor::from_vec(vec![2.0f32, 1.0, 0.0, 3.0], &[2, 2]).unwrap();
//! let targets = Tensor::from_vec(vec![0i64, 0], &[2]).unwrap();
//! assert_eq!(accuracy(&logits, &targets).unwrap(), 0.5);
//! let mut cm = ConfusionMatrix::new(2);
//! cm.update(&logits, &targets).unwrap();
//! assert_eq!(cm.counts(), vec![vec![1, 1], vec![0, 0]]);
//! ```

use std::fmt;

use nabla_core::{DType, Error, Result, Tensor};

mod confusion;
pub use confusion::{ClassMetrics, ConfusionMatrix};

/// Scores and targets read out of the tensors and checked.
struct Batch {
    /// Row-major `[n, c]` scores.
    scores: Vec<f64>,
    /// Target class of each row, each in `0..c`.
    targets: Vec<usize>,
    /// Number of rows.
    n: usize,
    /// Number of classes.
    c: usize,
}

impl Batch {
    fn row(&self, i: usize) -> &[f64] {
        &self.scores[i * self.c..(i + 1) * self.c]
    }
}

/// Checks logits `[N, C]` (f32/f64, C > 0) and targets `[N]` (i64, each in `0..C`).
fn read_batch(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<Batch> {
    if logits.rank() != 2 {
        return Err(Error::Shape {
            op,
            msg: format!("logits must have shape [N, C], got {:?}", logits.shape()),
        });
    }
    if !matches!(logits.dtype(), DType::F32 | DType::F64) {
        return Err(Error::DType {
            op,
            msg: format!("logits must be f32 or f64, got {}", logits.dtype()),
        });
    }
    if targets.rank() != 1 {
        return Err(Error::Shape {
            op,
            msg: format!("targets must have shape [N], got {:?}", targets.shape()),
        });
    }
    if targets.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            msg: format!("targets must be i64 class indices, got {}", targets.dtype()),
        });
    }
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    if targets.shape()[0] != n {
        return Err(Error::Shape {
            op,
            msg: format!(
                "logits {:?} and targets {:?} disagree on the batch size ({} != {})",
                logits.shape(),
                targets.shape(),
                n,
                targets.shape()[0]
            ),
        });
    }
    if c == 0 {
        return Err(Error::Shape {
            op,
            msg: format!("logits {:?} have no classes (C = 0)", logits.shape()),
        });
    }
    let raw = targets.to_vec::<i64>()?;
    let mut idx = Vec::with_capacity(raw.len());
    for (row, &t) in raw.iter().enumerate() {
        match usize::try_from(t) {
            Ok(u) if u < c => idx.push(u),
            _ => {
                return Err(Error::Arg {
                    op,
                    msg: format!("target {t} at row {row} is not a class index in 0..{c}"),
                })
            }
        }
    }
    Ok(Batch {
        scores: logits.to_vec_f64(),
        targets: idx,
        n,
        c,
    })
}

/// `a` ranks strictly above `b` by score (NaN is the largest value).
fn greater(a: f64, b: f64) -> bool {
    if a.is_nan() {
        !b.is_nan()
    } else {
        a > b
    }
}

/// `a` and `b` tie (NaN ties only with NaN).
fn tie(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

/// Rank of class `t` in `row` under the module's ranking rule (0 = best).
fn rank_of(row: &[f64], t: usize) -> usize {
    let st = row[t];
    row.iter()
        .enumerate()
        .filter(|&(j, &s)| greater(s, st) || (j < t && tie(s, st)))
        .count()
}

/// First index of the largest score (NaN largest), like `Tensor::argmax`.
fn argmax_row(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if greater(x, row[best]) {
            best = i;
        }
    }
    best
}

/// Fraction of rows whose predicted class (the first index of the largest logit) equals the
/// target.
///
/// `logits`: `[N, C]` f32/f64 with `N > 0`, `C > 0`; `targets`: `[N]` i64 in `0..C`.
///
/// # Errors
/// Wrong rank or dtype, `N` mismatch, `N == 0` (the accuracy of nothing is undefined),
/// `C == 0`, or a target outside `0..C`.
///
/// ```
/// use nabla_core::Tensor;
/// let logits = Tensor::from_vec(vec![0.1f64, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2]).unwrap();
/// let targets = Tensor::from_vec(vec![1i64, 0, 0], &[3]).unwrap();
/// let acc = nabla_train::metrics::accuracy(&logits, &targets).unwrap();
/// assert!((acc - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn accuracy(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let (hits, n) = hits_of("accuracy", logits, targets)?;
    if n == 0 {
        return Err(Error::Shape {
            op: "accuracy",
            msg: "empty batch (N = 0)".into(),
        });
    }
    Ok(hits as f64 / n as f64)
}

/// The number of rows whose predicted class (the first index of the largest logit) equals
/// the target: the numerator of [`accuracy`], for summing over batches.
///
/// `logits`: `[N, C]` f32/f64 with `C > 0`; `targets`: `[N]` i64 in `0..C`. An empty batch
/// (`N = 0`) counts 0.
///
/// # Errors
/// Wrong rank or dtype, `N` mismatch, `C == 0`, or a target outside `0..C`.
///
/// ```
/// use nabla_core::Tensor;
/// let logits = Tensor::from_vec(vec![0.1f64, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2]).unwrap();
/// let targets = Tensor::from_vec(vec![1i64, 0, 0], &[3]).unwrap();
/// assert_eq!(nabla_train::metrics::count_correct(&logits, &targets).unwrap(), 2);
/// ```
pub fn count_correct(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    hits_of("count_correct", logits, targets).map(|(hits, _)| hits)
}

/// Top-1 hits and rows of a checked batch; errors name `op`.
fn hits_of(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    let b = read_batch(op, logits, targets)?;
    let hits = (0..b.n)
        .filter(|&i| argmax_row(b.row(i)) == b.targets[i])
        .count();
    Ok((hits, b.n))
}

/// Fraction of rows whose target class is among the `k` highest logits.
///
/// Ties are broken like `torch.topk`: equal scores are ordered by class index, smaller
/// first, and NaN is the largest score (see the [module docs](self)). So with logits
/// `[1, 1, 1]` and `k = 2`, targets 0 and 1 are hits and target 2 is not. `k = 1` agrees
/// with [`accuracy`].
///
/// `logits`: `[N, C]` f32/f64 with `N > 0`; `targets`: `[N]` i64 in `0..C`; `1 <= k <= C`.
///
/// # Errors
/// Everything [`accuracy`] rejects, plus `k == 0` and `k > C` (as `torch.topk` does).
pub fn top_k_accuracy(logits: &Tensor, targets: &Tensor, k: usize) -> Result<f64> {
    const OP: &str = "top_k_accuracy";
    let b = read_batch(OP, logits, targets)?;
    if k == 0 {
        return Err(Error::Arg {
            op: OP,
            msg: "k must be at least 1, got 0".into(),
        });
    }
    if k > b.c {
        return Err(Error::Arg {
            op: OP,
            msg: format!("k = {k} exceeds the number of classes C = {}", b.c),
        });
    }
    if b.n == 0 {
        return Err(Error::Shape {
            op: OP,
            msg: "empty batch (N = 0)".into(),
        });
    }
    let hits = (0..b.n)
        .filter(|&i| rank_of(b.row(i), b.targets[i]) < k)
        .count();
    Ok(hits as f64 / b.n as f64)
}

/// A mean over an epoch of per-batch values (loss, accuracy), weighted by batch size, so the
/// result equals the mean over all samples even when the last batch is smaller.
///
/// ```
/// use nabla_train::metrics::RunningMean;
/// let mut m = RunningMean::new();
/// m.update(1.0, 3); // batch of 3 with mean loss 1.0
/// m.update(3.0, 1); // batch of 1 with loss 3.0
/// assert_eq!(m.mean(), Some(1.5));
/// assert_eq!(m.count(), 4);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningMean {
    sum: f64,
    count: u64,
}

impl RunningMean {
    /// An empty mean.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch whose mean value is `value` over `batch_size` samples. A batch of size 0
    /// is ignored; a NaN or infinite value makes the mean NaN/infinite (it is not hidden).
    pub fn update(&mut self, value: f64, batch_size: usize) {
        if batch_size == 0 {
            return;
        }
        self.sum += value * batch_size as f64;
        self.count += batch_size as u64;
    }

    /// The weighted mean so far; `None` before any sample.
    pub fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            None
        } else {
            Some(self.sum / self.count as f64)
        }
    }

    /// The number of samples seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Forgets everything (start of a new epoch).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}
