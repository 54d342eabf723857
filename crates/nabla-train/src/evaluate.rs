//! Evaluation: mean loss and the task's metrics over a data set, and predictions.

use crate::distributed::Communicator;
use crate::metrics::{count_correct, ConfusionMatrix};
use crate::regression::{RegressionAccumulator, RegressionMetrics};
use crate::trainer::{Result, Task};
use nabla_core::{no_grad, Tensor};
use nabla_data::DataLoader;
use nabla_nn::{ForwardCtx, Module};
use std::cell::RefCell;

/// Loss and the task's metrics over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f64,
    /// Accuracy ([`Task::Classification`]).
    pub accuracy: Option<f64>,
    /// MAE, RMSE and R² ([`Task::Regression`]).
    pub regression: Option<RegressionMetrics>,
    /// Samples seen.
    pub samples: usize,
}

/// Mean loss (and the task's metrics) of `model` over a loader's epoch, in evaluation mode,
/// without gradients. The loader is rewound to the start of its epoch 0 first.
///
/// Fails when a forward pass or the loss fails, or when the outputs do not fit the task's
/// metrics (classification: `[N, C]` logits and `[N]` i64 targets; regression: outputs
/// shaped like the float targets).
pub fn evaluate<L>(
    model: &dyn Module,
    loss: &L,
    loader: &mut DataLoader,
    task: Task,
) -> Result<Evaluation>
where
    L: Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + ?Sized,
{
    Ok(sums(model, loss, loader, task)?.finish(task))
}

/// [`evaluate`] in data-parallel training: each rank evaluates its part of every batch (a
/// loader with a [`nabla_data::Shard`]) and the sums of per-sample losses, correct
/// predictions, counts and regression sums are added up over the ranks before dividing, so
/// every rank gets what one process gets for the whole set, up to float summation order. (A
/// loader that is not split gives the same result: every rank then counts every sample.)
///
/// Fails as [`evaluate`] does, or when the communication fails.
pub fn evaluate_distributed<L>(
    model: &dyn Module,
    loss: &L,
    loader: &mut DataLoader,
    task: Task,
    comm: &dyn Communicator,
) -> Result<Evaluation>
where
    L: Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + ?Sized,
{
    let local = sums(model, loss, loader, task);
    let mut s = crate::distributed::agree(comm, local)?;
    let r = s.reg.to_sums();
    let mut v = [s.loss, s.correct, s.n, r[0], r[1], r[2], r[3], r[4]];
    comm.allreduce_sum_f64(&mut v)?;
    s.loss = v[0];
    s.correct = v[1];
    s.n = v[2];
    s.reg = RegressionAccumulator::from_sums([v[3], v[4], v[5], v[6], v[7]]);
    Ok(s.finish(task))
}

/// What an evaluation adds up.
struct Sums {
    loss: f64,
    correct: f64,
    n: f64,
    reg: RegressionAccumulator,
}

impl Sums {
    fn finish(&self, task: Task) -> Evaluation {
        let d = self.n.max(1.0);
        Evaluation {
            loss: self.loss / d,
            accuracy: (task == Task::Classification).then(|| self.correct / d),
            regression: (task == Task::Regression).then(|| self.reg.finish()),
            samples: self.n as usize,
        }
    }
}

/// The sums over a loader's epoch 0 (batches without samples, a rank's empty part of a
/// small last batch, are passed over).
fn sums<L>(model: &dyn Module, loss: &L, loader: &mut DataLoader, task: Task) -> Result<Sums>
where
    L: Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + ?Sized,
{
    let _g = no_grad();
    let (mut sum, mut correct, mut n) = (0.0, 0usize, 0usize);
    let mut reg = RegressionAccumulator::new();
    loader.set_epoch(0);
    while let Some(batch) = loader.next_batch() {
        let batch = batch?;
        if batch.is_empty() {
            continue;
        }
        let out = model.forward(&batch.x, &mut ForwardCtx::eval())?;
        let l = loss(&out, &batch.y)?.to_scalar()?;
        sum += l * batch.len() as f64;
        match task {
            Task::Classification => correct += count_correct(&out, &batch.y)?,
            Task::Regression => reg.update(&out, &batch.y)?,
            Task::LossOnly | Task::LanguageModel => {}
        }
        n += batch.len();
    }
    Ok(Sums {
        loss: sum,
        correct: correct as f64,
        n: n as f64,
        reg,
    })
}

/// [`evaluate`] for a classifier, counting each prediction into a confusion matrix of
/// `classes` classes in the same pass.
///
/// Fails as [`evaluate`] does, and when the model's outputs do not have `classes` columns.
pub fn evaluate_with_confusion<L>(
    model: &dyn Module,
    loss: &L,
    loader: &mut DataLoader,
    classes: usize,
) -> Result<(Evaluation, ConfusionMatrix)>
where
    L: Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + ?Sized,
{
    let cm = RefCell::new(ConfusionMatrix::new(classes));
    let counting = |y: &Tensor, t: &Tensor| {
        cm.borrow_mut().update(y, t)?;
        loss(y, t)
    };
    let ev = evaluate(model, &counting, loader, Task::Classification)?;
    Ok((ev, cm.into_inner()))
}

/// The outputs of `model` for `x` in evaluation mode, without gradients.
pub fn predict(model: &dyn Module, x: &Tensor) -> Result<Tensor> {
    let _g = no_grad();
    model.forward(x, &mut ForwardCtx::eval())
}
