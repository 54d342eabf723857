//! A training step ([`TrainStep`]) and the parts it works with; [`StandardStep`] is the usual
//! one.

use crate::distributed::{Communicator, GradAverager};
use crate::health::{HealthRecord, ParamHealth, ParamHistograms};
use crate::metrics::count_correct;
use crate::trainer::{LossFn, Result, Task, TrainConfig};
use crate::Error;
use nabla_core::{GradStore, Mt19937, Tensor, Var};
use nabla_data::Batch;
use nabla_nn::clip::{clip_grad_norm, clip_grad_value};
use nabla_nn::optim::Optimizer;
use nabla_nn::Module;
use nabla_nn::{BatchShard, ForwardCtx};

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
    /// In data-parallel training (a communicator of several ranks): this rank's part of the
    /// step, which [`StepParts::backward_and_step`] averages the gradients with.
    pub parallel: Option<ParallelParts<'a>>,
}

/// This rank's part of a data-parallel step (see [`crate::distributed`]).
pub struct ParallelParts<'a> {
    /// The ranks.
    pub comm: &'a dyn Communicator,
    /// Sums the gradients over the ranks.
    pub averager: &'a mut GradAverager,
    /// Which rows of the whole batch this rank holds (`shard.rows` samples).
    pub shard: BatchShard,
}

/// A training step: the hook for custom loops (several optimizers, extra losses, ...).
pub trait TrainStep: Send {
    /// Trains on one batch and reports its loss.
    fn step(&mut self, parts: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput>;
}

impl StepParts<'_> {
    /// A training-mode forward context with the dropout stream and, in data-parallel
    /// training, this rank's rows of the whole batch (so dropout draws the masks one process
    /// would). Custom steps should build their forward passes' contexts with it.
    ///
    /// Fails when the shard does not fit (a bug of the caller).
    pub fn train_ctx(&mut self) -> Result<ForwardCtx<'_>> {
        let ctx = ForwardCtx::train(&mut *self.rng);
        Ok(match &self.parallel {
            Some(p) => ctx.with_shard(p.shard)?,
            None => ctx,
        })
    }

    /// The loss of the whole batch: this rank's `lv` in one process; in data-parallel
    /// training the mean over every rank's samples (one all-reduce of `lv · n` and `n`),
    /// with this rank's share `n / B` of the batch. Refuses a non-finite loss (on every
    /// rank at once).
    fn whole_loss(&mut self, lv: f64) -> Result<(f64, f64)> {
        let (whole, share) = match &self.parallel {
            Some(p) => {
                let n = p.shard.rows as f64;
                let mut s = [if n > 0.0 { lv * n } else { 0.0 }, n];
                p.comm.allreduce_sum_f64(&mut s)?;
                (s[0] / s[1].max(1.0), n / s[1].max(1.0))
            }
            None => (lv, 1.0),
        };
        if !whole.is_finite() {
            return Err(Error::NonFinite {
                what: "loss",
                epoch: self.epoch,
                step: self.step,
            });
        }
        Ok((whole, share))
    }

    /// The rest of a training step once the loss is computed: refuses a non-finite loss,
    /// backpropagates, averages the gradients over the ranks in data-parallel training,
    /// refuses non-finite gradients, clips them as configured
    /// ([`TrainConfig::clip_grad_norm`], [`TrainConfig::clip_grad_value`]) and lets the
    /// optimizer update the parameters. Returns the loss value (this rank's; the loss must
    /// be a mean over the batch's samples, as every built-in loss is).
    ///
    /// Drop every other handle on the graph (the model's outputs) before calling it, so the
    /// optimizer can update the parameters in place instead of copying them.
    pub fn backward_and_step(&mut self, loss: Tensor) -> Result<f64> {
        let anomaly = |msg: String, p: &Self| Error::TrainAnomaly {
            msg,
            epoch: p.epoch,
            step: p.step,
        };
        if let Some(msg) = nabla_core::anomaly::take_anomaly() {
            return Err(anomaly(msg, self));
        }
        let lv = loss.to_scalar()?;
        let (_, share) = self.whole_loss(lv)?;
        let grads = match loss.backward() {
            Err(nabla_core::Error::Anomaly(msg)) => return Err(anomaly(msg, self)),
            r => r?,
        };
        // free the graph, so the optimizer updates the parameters in place
        drop(loss);
        if self.step == 1 {
            warn_unheld(&grads, self.params);
        }
        self.update(grads, share)?;
        Ok(lv)
    }

    /// The step of a rank whose part of the batch is empty (a last batch with fewer samples
    /// than ranks): it adds nothing to the loss and zero to the gradients, and takes the same
    /// averaged optimizer step as the other ranks.
    ///
    /// Fails as [`StepParts::backward_and_step`] does.
    pub fn step_without_samples(&mut self) -> Result<()> {
        let (_, share) = self.whole_loss(0.0)?;
        self.update(GradStore::default(), share)
    }

    /// Averages (data-parallel), guards, clips and applies the gradients.
    fn update(&mut self, mut grads: GradStore, share: f64) -> Result<()> {
        if let Some(p) = self.parallel.as_mut() {
            p.averager.average(p.comm, &mut grads, self.params, share)?;
        }
        // the global norm guards against non-finite gradients and, when asked, clips them
        let max_norm = self.config.clip_grad_norm.unwrap_or(f64::INFINITY);
        let norm = clip_grad_norm(&mut grads, self.params, max_norm)?;
        if !norm.is_finite() {
            return Err(Error::NonFinite {
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
            return Ok(());
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
        let histograms = if self.config.health_histograms {
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
        Ok(())
    }
}

/// Each parameter's weight histogram (before the update) and gradient histogram.
fn histograms(
    names: &[String],
    params: &[Var],
    before: &[Tensor],
    grads: &nabla_core::GradStore,
) -> Vec<ParamHistograms> {
    use crate::histogram::{Histogram, BUCKETS};
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

/// Warns (once a run, on its first step) about trainable tensors the backward pass reached
/// that the optimizer does not hold: a custom `Module` that forgot to list one in
/// `parameters()` would train without it and save checkpoints without it.
fn warn_unheld(grads: &GradStore, params: &[Var]) {
    let held: std::collections::HashSet<_> = params.iter().map(|v| v.as_tensor().id()).collect();
    let shapes: Vec<String> = grads
        .iter()
        .filter(|(id, _)| !held.contains(*id))
        .map(|(_, g)| format!("{:?}", g.shape()))
        .collect();
    if !shapes.is_empty() {
        log::warn!(
            "backward reached {} trainable tensor(s) the optimizer does not hold (shapes {}): \
             they are not trained and not saved; list them in the module's parameters()",
            shapes.len(),
            shapes.join(", ")
        );
    }
}

/// The usual step: forward in training mode, loss, backward, finite guard, clipping, update.
pub struct StandardStep;

impl TrainStep for StandardStep {
    fn step(&mut self, p: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput> {
        let model = p.model;
        let out = model.forward(&batch.x, &mut p.train_ctx()?)?;
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
