//! A training step ([`TrainStep`]) and the parts it works with; [`StandardStep`] is the usual
//! one.

use crate::health::{HealthRecord, ParamHealth, ParamHistograms};
use crate::metrics::count_correct;
use crate::trainer::{LossFn, Result, Task, TrainConfig};
use crate::TrainError;
use nabla_core::{Mt19937, Tensor, Var};
use nabla_data::Batch;
use nabla_nn::clip::{clip_grad_norm, clip_grad_value};
use nabla_nn::optim::Optimizer;
use nabla_nn::ForwardCtx;
use nabla_nn::Module;

/// What one training step reports.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The batch's loss.
    pub loss: f64,
    /// Correct predictions in the batch (classification).
    pub correct: Option<usize>,
}

/// The parts a training step works with.
pub struct StepParts<'a> {
    /// The model.
    pub model: &'a dyn Module,
    /// Its trainable parameters, in `parameters()` order.
    pub params: &'a [Var],
    /// The optimizer.
    pub optimizer: &'a mut dyn Optimizer,
    /// The loss.
    pub loss: &'a LossFn,
    /// The dropout stream.
    pub rng: &'a mut Mt19937,
    /// The run's configuration.
    pub config: &'a TrainConfig,
    /// Epoch (from 1) and step (from 1) of this step, for messages.
    pub epoch: usize,
    /// The step number.
    pub step: u64,
    /// The parameters' `state_dict` names, in `params` order.
    pub names: &'a [String],
    /// Whether this step records gradient health (every `health_every` steps).
    pub health_due: bool,
    /// The health record of this step, filled by [`StepParts::backward_and_step`] when due.
    pub health: Option<HealthRecord>,
}

/// A training step: the hook for custom loops (several optimizers, extra losses, ...).
pub trait TrainStep: Send {
    /// Trains on one batch and reports its loss.
    fn step(&mut self, parts: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput>;
}

impl StepParts<'_> {
    /// The rest of a training step once the loss is computed: refuses a non-finite loss,
    /// backpropagates, refuses non-finite gradients, clips them as configured
    /// ([`TrainConfig::clip_grad_norm`], [`TrainConfig::clip_grad_value`]) and lets the
    /// optimizer update the parameters. Returns the loss value.
    ///
    /// Drop every other handle on the graph (the model's outputs) before calling it, so the
    /// optimizer can update the parameters in place instead of copying them.
    pub fn backward_and_step(&mut self, loss: Tensor) -> Result<f64> {
        let anomaly = |msg: String, p: &Self| TrainError::Anomaly {
            msg,
            epoch: p.epoch,
            step: p.step,
        };
        if let Some(msg) = nabla_core::anomaly::take_anomaly() {
            return Err(anomaly(msg, self));
        }
        let lv = loss.to_scalar()?;
        if !lv.is_finite() {
            return Err(TrainError::NonFinite {
                what: "loss",
                epoch: self.epoch,
                step: self.step,
            });
        }
        let mut grads = match loss.backward() {
            Err(nabla_core::Error::Anomaly(msg)) => return Err(anomaly(msg, self)),
            r => r?,
        };
        // free the graph, so the optimizer updates the parameters in place
        drop(loss);
        // the global norm guards against non-finite gradients and, when asked, clips them
        let max_norm = self.config.clip_grad_norm.unwrap_or(f64::INFINITY);
        let norm = clip_grad_norm(&mut grads, self.params, max_norm)?;
        if !norm.is_finite() {
            return Err(TrainError::NonFinite {
                what: "gradient norm",
                epoch: self.epoch,
                step: self.step,
            });
        }
        if let Some(c) = self.config.clip_grad_value {
            clip_grad_value(&mut grads, self.params, c)?;
        }
        if !self.health_due {
            self.optimizer.step(&grads)?;
            return Ok(lv);
        }
        // gradient health: norms before the update (the gradients here are clipped; the
        // global norm is the one before clipping), then the update each parameter received
        let before: Vec<Tensor> = self.params.iter().map(|v| v.as_tensor()).collect();
        let mut params = Vec::with_capacity(self.params.len());
        let mut total_bad = 0;
        for (i, v) in self.params.iter().enumerate() {
            let (g2, bad) = match v.grad(&grads) {
                Some(g) => (g.sum_sq_f64()?, nabla_core::anomaly::count_non_finite(g)),
                None => (0.0, 0),
            };
            total_bad += bad;
            params.push(ParamHealth {
                name: self.names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                grad_norm: g2.sqrt(),
                weight_norm: before[i].sum_sq_f64()?.sqrt(),
                update_ratio: 0.0,
                non_finite: bad,
            });
        }
        self.optimizer.step(&grads)?;
        for ((p, v), b) in params.iter_mut().zip(self.params).zip(&before) {
            let d = v.as_tensor().sub(b)?.sum_sq_f64()?.sqrt();
            p.update_ratio = if p.weight_norm > 0.0 {
                d / p.weight_norm
            } else {
                0.0
            };
        }
        let histograms = if self.config.tensorboard {
            histograms(self.names, self.params, &before, &grads)
        } else {
            Vec::new()
        };
        self.health = Some(HealthRecord {
            step: self.step,
            epoch: self.epoch,
            global_grad_norm: norm,
            clipped: norm > max_norm,
            non_finite: total_bad,
            params,
            activations: nabla_nn::health::take(),
            histograms,
        });
        Ok(lv)
    }
}

/// Each parameter's weight histogram (before the update) and gradient histogram.
fn histograms(
    names: &[String],
    params: &[Var],
    before: &[Tensor],
    grads: &nabla_core::GradStore,
) -> Vec<ParamHistograms> {
    use crate::tensorboard::{histogram::BUCKETS, Histogram};
    params
        .iter()
        .zip(before)
        .enumerate()
        .map(|(i, (v, b))| ParamHistograms {
            name: names.get(i).cloned().unwrap_or_else(|| i.to_string()),
            weights: Histogram::of_tensor(b, BUCKETS),
            grads: v.grad(grads).map(|g| Histogram::of_tensor(g, BUCKETS)),
        })
        .collect()
}

/// The usual step: forward in training mode, loss, backward, finite guard, clipping, update.
pub struct StandardStep;

impl TrainStep for StandardStep {
    fn step(&mut self, p: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput> {
        let out = p.model.forward(&batch.x, &mut ForwardCtx::train(p.rng))?;
        let loss = (p.loss)(&out, &batch.y)?;
        let correct = if p.config.task == Task::Classification {
            Some(count_correct(&out, &batch.y)?)
        } else {
            None
        };
        drop(out);
        let loss = p.backward_and_step(loss)?;
        Ok(StepOutput { loss, correct })
    }
}
