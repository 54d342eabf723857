//! The training loop: fit, evaluate, predict, with checkpoints that resume bitwise.

use crate::checkpoint::{
    latest_checkpoint, load_model_tensors, model_tensors, prune_checkpoints, EncodedCheckpoint,
    EpochMetrics, LoadedCheckpoint, TrainerState,
};
use crate::metrics::count_correct;
use crate::progress::{EpochProgress, ProgressMode};
use crate::TrainError;
use nabla_core::{no_grad, Mt19937, Tensor, Var};
use nabla_data::{Batch, Cursor, DataLoader};
use nabla_nn::clip::{clip_grad_norm, clip_grad_value};
use nabla_nn::optim::Optimizer;
use nabla_nn::schedule::LrScheduler;
use nabla_nn::{ForwardCtx, Module, StateDict};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `loss(output, target)`.
pub type LossFn = Box<dyn Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + Send + Sync>;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, TrainError>;

/// How a run trains (plain data; the CLI's `[train]` table maps onto it).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Epochs to train.
    pub epochs: usize,
    /// Clip the global gradient norm to this.
    pub clip_grad_norm: Option<f64>,
    /// Clip every gradient element to ±this.
    pub clip_grad_value: Option<f64>,
    /// Seed of the dropout stream (the data loader has its own seed).
    pub seed: u64,
    /// Where checkpoints and metrics go; nothing is written without it.
    pub out_dir: Option<PathBuf>,
    /// Also checkpoint every this many optimizer steps (always at each epoch's end).
    pub checkpoint_every_steps: Option<u64>,
    /// Stop after this many epochs without improvement of the monitored loss.
    pub early_stopping_patience: Option<usize>,
    /// The improvement that counts.
    pub early_stopping_min_delta: f64,
    /// Step the schedule after every optimizer step (one-cycle, warm-up) instead of per epoch.
    pub schedule_per_step: bool,
    /// Progress display.
    pub progress: ProgressMode,
    /// Report accuracy: the model's outputs must then be `[N, C]` f32/f64 logits and the
    /// targets `[N]` i64 class indices (anything else is an error). Turn it off for regression.
    pub classification: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            clip_grad_norm: None,
            clip_grad_value: None,
            seed: 0,
            out_dir: None,
            checkpoint_every_steps: None,
            early_stopping_patience: None,
            early_stopping_min_delta: 0.0,
            schedule_per_step: false,
            progress: ProgressMode::Auto,
            classification: true,
        }
    }
}

impl TrainConfig {
    /// Sets the epochs.
    pub fn with_epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// Sets the output folder.
    pub fn with_out_dir(mut self, v: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(v.into());
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Sets the gradient-norm clip.
    pub fn with_clip_grad_norm(mut self, v: f64) -> Self {
        self.clip_grad_norm = Some(v);
        self
    }
    /// Checkpoints every `v` steps too.
    pub fn with_checkpoint_every_steps(mut self, v: u64) -> Self {
        self.checkpoint_every_steps = Some(v);
        self
    }
    /// Sets the progress display.
    pub fn with_progress(mut self, v: ProgressMode) -> Self {
        self.progress = v;
        self
    }
    /// Stops after `v` epochs without improvement.
    pub fn with_early_stopping(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping_patience = Some(patience);
        self.early_stopping_min_delta = min_delta;
        self
    }
}

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
}

/// A training step: the hook for custom loops (several optimizers, extra losses, ...).
pub trait TrainStep: Send {
    /// Trains on one batch and reports its loss.
    fn step(&mut self, parts: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput>;
}

/// The usual step: forward in training mode, loss, backward, finite guard, clipping, update.
pub struct StandardStep;

impl TrainStep for StandardStep {
    fn step(&mut self, p: &mut StepParts<'_>, batch: &Batch) -> Result<StepOutput> {
        let mut ctx = ForwardCtx::train(p.rng);
        let out = p.model.forward(&batch.x, &mut ctx)?;
        let loss = (p.loss)(&out, &batch.y)?;
        let lv = loss.to_scalar()?;
        if !lv.is_finite() {
            return Err(TrainError::NonFinite {
                what: "loss",
                epoch: p.epoch,
                step: p.step,
            });
        }
        let mut grads = loss.backward()?;
        let correct = if p.config.classification {
            Some(count_correct(&out, &batch.y)?)
        } else {
            None
        };
        // free the graph, so the optimizer updates the parameters in place
        drop(loss);
        drop(out);
        // the global norm guards against non-finite gradients and, when asked, clips them
        let max_norm = p.config.clip_grad_norm.unwrap_or(f64::INFINITY);
        let norm = clip_grad_norm(&mut grads, p.params, max_norm)?;
        if !norm.is_finite() {
            return Err(TrainError::NonFinite {
                what: "gradient",
                epoch: p.epoch,
                step: p.step,
            });
        }
        if let Some(c) = p.config.clip_grad_value {
            clip_grad_value(&mut grads, p.params, c)?;
        }
        p.optimizer.step(&grads)?;
        Ok(StepOutput { loss: lv, correct })
    }
}

/// Loss and accuracy over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f64,
    /// Accuracy (classification).
    pub accuracy: Option<f64>,
    /// Samples seen.
    pub samples: usize,
}

/// What `fit` did.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// Every epoch's metrics (including epochs before a resume).
    pub history: Vec<EpochMetrics>,
    /// Training wall time in this process.
    pub seconds: f64,
    /// Samples trained on in this process.
    pub samples: u64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Trains a model (see the crate docs).
pub struct Trainer {
    /// The model.
    pub model: Box<dyn Module>,
    /// The optimizer over the model's parameters.
    pub optimizer: Box<dyn Optimizer>,
    /// An optional learning-rate schedule.
    pub scheduler: Option<Box<dyn LrScheduler>>,
    /// The loss.
    pub loss: LossFn,
    /// The configuration.
    pub config: TrainConfig,
    step_fn: Box<dyn TrainStep>,
    params: Vec<Var>,
    rng: Mt19937,
    epoch: usize,
    step: u64,
    running: [f64; 4],
    best: Option<f64>,
    bad_epochs: usize,
    history: Vec<EpochMetrics>,
}

impl Trainer {
    /// A trainer; the dropout stream is seeded from `config.seed`.
    pub fn new(
        model: Box<dyn Module>,
        optimizer: Box<dyn Optimizer>,
        loss: LossFn,
        config: TrainConfig,
    ) -> Self {
        let params = model.parameters().into_iter().map(|(_, v)| v).collect();
        let rng = Mt19937::new(nabla_core::stream_seed(config.seed, "dropout"));
        Trainer {
            model,
            optimizer,
            scheduler: None,
            loss,
            config,
            step_fn: Box::new(StandardStep),
            params,
            rng,
            epoch: 0,
            step: 0,
            running: [0.0; 4],
            best: None,
            bad_epochs: 0,
            history: Vec::new(),
        }
    }
    /// Adds a learning-rate schedule.
    pub fn with_scheduler(mut self, s: Box<dyn LrScheduler>) -> Self {
        self.scheduler = Some(s);
        self
    }
    /// Replaces the training step (custom loops).
    pub fn with_step(mut self, s: Box<dyn TrainStep>) -> Self {
        self.step_fn = s;
        self
    }
    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
    /// Optimizer steps taken.
    pub fn step(&self) -> u64 {
        self.step
    }
    /// Metrics of the completed epochs.
    pub fn history(&self) -> &[EpochMetrics] {
        &self.history
    }

    /// The scalar state; `optim` and `sched` are the state_dicts of the same snapshot.
    fn state(&self, cursor: Cursor, optim: &StateDict, sched: &StateDict) -> TrainerState {
        let r = self.rng.state();
        TrainerState {
            epoch: self.epoch,
            step: self.step,
            cursor: cursor.to_array(),
            rng_key: r.key,
            rng_pos: r.pos,
            rng_gauss: r.gauss,
            optim_scalars: optim.scalars.clone(),
            sched_scalars: sched.scalars.clone(),
            running: self.running,
            best: self.best,
            bad_epochs: self.bad_epochs,
            history: self.history.clone(),
        }
    }

    /// The current state (model tensors, optimizer and schedule state, counters, history),
    /// encoded once so it can be written to several folders.
    fn snapshot(&self, cursor: Cursor) -> Result<EncodedCheckpoint> {
        let optim = self.optimizer.state_dict();
        let sched = self
            .scheduler
            .as_ref()
            .map(|s| s.state_dict())
            .unwrap_or_default();
        let state = self.state(cursor, &optim, &sched);
        EncodedCheckpoint::encode(&model_tensors(self.model.as_ref()), &optim, &sched, &state)
    }

    /// Writes `snap` as `out/checkpoints/ckpt-{step}` and keeps only the two newest.
    fn write_step_checkpoint(&self, out: &Path, snap: &EncodedCheckpoint) -> Result<PathBuf> {
        let dir = out
            .join("checkpoints")
            .join(format!("ckpt-{:010}", self.step));
        snap.write(&dir)?;
        prune_checkpoints(out, 2);
        Ok(dir)
    }

    /// Writes a checkpoint of the current state into `out_dir/checkpoints` (and keeps the
    /// previous one).
    pub fn save_checkpoint(&self, cursor: Cursor) -> Result<Option<PathBuf>> {
        let Some(out) = &self.config.out_dir else {
            return Ok(None);
        };
        let snap = self.snapshot(cursor)?;
        self.write_step_checkpoint(out, &snap).map(Some)
    }

    /// Restores a checkpoint: weights, optimizer, schedule, random stream, counters, history,
    /// and the training loader's cursor.
    pub fn restore(&mut self, ck: &LoadedCheckpoint, train: &mut DataLoader) -> Result<()> {
        load_model_tensors(
            self.model.as_ref(),
            &ck.model,
            &ck.dir.join("model.safetensors").display().to_string(),
        )?;
        self.optimizer.load_state_dict(&ck.optim).map_err(|e| {
            TrainError::Checkpoint(format!("{}: optimizer state: {e}", ck.dir.display()))
        })?;
        if let Some(s) = self.scheduler.as_mut() {
            s.load_state_dict(&ck.sched).map_err(|e| {
                TrainError::Checkpoint(format!("{}: schedule state: {e}", ck.dir.display()))
            })?;
        }
        self.rng = Mt19937::from_state(&ck.state.rng_state())
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", ck.dir.display())))?;
        let st = &ck.state;
        self.epoch = st.epoch;
        self.step = st.step;
        self.running = st.running;
        self.best = st.best;
        self.bad_epochs = st.bad_epochs;
        self.history = st.history.clone();
        train.resume(Cursor::from_array(st.cursor))?;
        Ok(())
    }

    /// Restores the newest complete checkpoint of `run_dir`, if there is one.
    pub fn resume_from(&mut self, run_dir: &Path, train: &mut DataLoader) -> Result<bool> {
        match latest_checkpoint(run_dir)? {
            Some(ck) => {
                self.restore(&ck, train)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn write_metrics(&self) -> Result<()> {
        let Some(out) = &self.config.out_dir else {
            return Ok(());
        };
        let mut text = String::new();
        for row in &self.history {
            text.push_str(&serde_json::to_string(row).map_err(|e| TrainError::Io(e.to_string()))?);
            text.push('\n');
        }
        nabla_core::io::write_atomic(&out.join("metrics.jsonl"), text.as_bytes())?;
        Ok(())
    }

    /// Trains for the configured epochs (continuing from a restored state), validating after
    /// each epoch.
    pub fn fit(
        &mut self,
        train: &mut DataLoader,
        mut val: Option<&mut DataLoader>,
    ) -> Result<FitReport> {
        if let Some(out) = &self.config.out_dir {
            std::fs::create_dir_all(out)
                .map_err(|e| TrainError::Io(format!("{}: cannot create: {e}", out.display())))?;
        }
        let t_start = Instant::now();
        let mut samples = 0u64;
        let mut stopped_early = false;
        if train.epoch() != self.epoch as u64 && train.cursor().position == 0 {
            train.set_epoch(self.epoch as u64);
        }
        while self.epoch < self.config.epochs && !stopped_early {
            let e = self.epoch + 1;
            let t_epoch = Instant::now();
            // seconds this epoch ran before a resume (0 otherwise)
            let carried = self.running[3];
            let bar = EpochProgress::start(
                self.config.progress,
                e,
                self.config.epochs,
                train.len() as u64,
                train.cursor().position,
            );
            while let Some(batch) = train.next_batch() {
                let batch = batch?;
                self.step += 1;
                let n = batch.len() as f64;
                let t0 = Instant::now();
                let out = {
                    let mut parts = StepParts {
                        model: self.model.as_ref(),
                        params: &self.params,
                        optimizer: self.optimizer.as_mut(),
                        loss: &self.loss,
                        rng: &mut self.rng,
                        config: &self.config,
                        epoch: e,
                        step: self.step,
                    };
                    self.step_fn.step(&mut parts, &batch)?
                };
                samples += batch.len() as u64;
                self.running[0] += out.loss * n;
                self.running[1] += out.correct.unwrap_or(0) as f64;
                self.running[2] += n;
                if self.config.schedule_per_step {
                    if let Some(s) = self.scheduler.as_mut() {
                        s.step(self.optimizer.as_mut(), None)?;
                    }
                }
                bar.update(out.loss, n / t0.elapsed().as_secs_f64().max(1e-9));
                if let Some(every) = self.config.checkpoint_every_steps {
                    if every > 0 && self.step % every == 0 {
                        self.running[3] = carried + t_epoch.elapsed().as_secs_f64();
                        self.save_checkpoint(train.cursor())?;
                    }
                }
            }
            let n = self.running[2].max(1.0);
            let train_loss = self.running[0] / n;
            let train_accuracy = self.config.classification.then(|| self.running[1] / n);
            let (val_loss, val_accuracy) = match val.as_deref_mut() {
                Some(v) => {
                    let ev = self.evaluate(v)?;
                    (Some(ev.loss), ev.accuracy)
                }
                None => (None, None),
            };
            let monitored = val_loss.unwrap_or(train_loss);
            if !self.config.schedule_per_step {
                if let Some(s) = self.scheduler.as_mut() {
                    s.step(self.optimizer.as_mut(), Some(monitored))?;
                }
            }
            let seconds = carried + t_epoch.elapsed().as_secs_f64();
            let row = EpochMetrics {
                epoch: e,
                step: self.step,
                train_loss,
                train_accuracy,
                val_loss,
                val_accuracy,
                lr: self.optimizer.lr(),
                seconds,
            };
            let mut line = format!(
                "epoch {e}/{}  train_loss {train_loss:.4}",
                self.config.epochs
            );
            if let Some(a) = train_accuracy {
                line.push_str(&format!("  train_acc {a:.4}"));
            }
            if let Some(l) = val_loss {
                line.push_str(&format!("  val_loss {l:.4}"));
            }
            if let Some(a) = val_accuracy {
                line.push_str(&format!("  val_acc {a:.4}"));
            }
            line.push_str(&format!("  lr {:.3e}  {seconds:.2}s", row.lr));
            bar.finish(self.config.progress, &line);
            self.history.push(row);
            self.epoch += 1;
            self.running = [0.0; 4];
            self.write_metrics()?;
            let improved = match self.best {
                None => true,
                Some(b) => monitored < b - self.config.early_stopping_min_delta,
            };
            if improved {
                self.best = Some(monitored);
                self.bad_epochs = 0;
            } else {
                self.bad_epochs += 1;
            }
            if let Some(p) = self.config.early_stopping_patience {
                if self.bad_epochs >= p {
                    stopped_early = true;
                }
            }
            if let Some(out) = &self.config.out_dir {
                // one snapshot for the epoch's checkpoint and, when it improved, `best`
                let snap = self.snapshot(train.cursor())?;
                self.write_step_checkpoint(out, &snap)?;
                if improved {
                    snap.write(&out.join("checkpoints").join("best"))?;
                }
            }
        }
        Ok(FitReport {
            history: self.history.clone(),
            seconds: t_start.elapsed().as_secs_f64(),
            samples,
            stopped_early,
        })
    }

    /// Mean loss (and accuracy) over every batch of `loader`, in evaluation mode.
    pub fn evaluate(&mut self, loader: &mut DataLoader) -> Result<Evaluation> {
        evaluate(
            self.model.as_ref(),
            &self.loss,
            loader,
            self.config.classification,
        )
    }

    /// The model's outputs for `x`, in evaluation mode.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        predict(self.model.as_ref(), x)
    }

    /// The optimizer's state (for tests and tools; the schedule's is not included).
    pub fn optimizer_state(&self) -> StateDict {
        self.optimizer.state_dict()
    }
}

/// Mean loss (and accuracy) of `model` over a loader's epoch, in evaluation mode.
pub fn evaluate(
    model: &dyn Module,
    loss: &LossFn,
    loader: &mut DataLoader,
    classification: bool,
) -> Result<Evaluation> {
    let _g = no_grad();
    let mut rng = Mt19937::new(0);
    let (mut sum, mut correct, mut n) = (0.0, 0usize, 0usize);
    loader.set_epoch(0);
    while let Some(batch) = loader.next_batch() {
        let batch = batch?;
        let out = model.forward(&batch.x, &mut ForwardCtx::eval(&mut rng))?;
        let l = loss(&out, &batch.y)?.to_scalar()?;
        sum += l * batch.len() as f64;
        if classification {
            correct += count_correct(&out, &batch.y)?;
        }
        n += batch.len();
    }
    let d = n.max(1) as f64;
    Ok(Evaluation {
        loss: sum / d,
        accuracy: classification.then(|| correct as f64 / d),
        samples: n,
    })
}

/// The outputs of `model` for `x` in evaluation mode.
pub fn predict(model: &dyn Module, x: &Tensor) -> Result<Tensor> {
    let _g = no_grad();
    let mut rng = Mt19937::new(0);
    Ok(model.forward(x, &mut ForwardCtx::eval(&mut rng))?)
}

/// Writes a value as pretty JSON to a file, atomically (`summary.json`, `standardizer.json`).
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Io(e.to_string()))?;
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    nabla_core::io::write_atomic(path, &bytes)?;
    Ok(())
}
