//! Evaluation: mean loss and the task's metrics over a data set, and predictions.

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
    let _g = no_grad();
    let (mut sum, mut correct, mut n) = (0.0, 0usize, 0usize);
    let mut reg = RegressionAccumulator::new();
    loader.set_epoch(0);
    while let Some(batch) = loader.next_batch() {
        let batch = batch?;
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
    let d = n.max(1) as f64;
    Ok(Evaluation {
        loss: sum / d,
        accuracy: (task == Task::Classification).then(|| correct as f64 / d),
        regression: (task == Task::Regression).then(|| reg.finish()),
        samples: n,
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
    Ok(model.forward(x, &mut ForwardCtx::eval())?)
}
