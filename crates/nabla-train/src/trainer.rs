//! The training loop: fit, evaluate, predict, with checkpoints that resume bitwise.

use crate::callback::{
    Callback, EpochStart, FitStart, HealthDiagnoses, ProgressDisplay, RunFiles, StepEnd,
};
use crate::checkpoint::{
    latest_checkpoint, load_model_tensors, model_tensors, EncodedCheckpoint, EpochMetrics,
    LoadedCheckpoint, TrainerState,
};
use crate::distributed::{Communicator, GradAverager};
use crate::evaluate::{evaluate, predict, Evaluation};
use crate::progress::ProgressMode;
use crate::step::{StandardStep, StepParts, TrainStep};
use crate::Error;
use nabla_core::{Mt19937, Tensor, Var};
use nabla_data::{Cursor, DataLoader};
use nabla_nn::optim::Optimizer;
use nabla_nn::schedule::LrScheduler;
use nabla_nn::{Module, StateDict};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod parallel;

/// `loss(output, target)`.
pub type LossFn = Box<dyn Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + Send + Sync>;

/// Result of this crate's operations.
pub type Result<T> = std::result::Result<T, Error>;

pub use crate::train_config::{Task, TrainConfig};

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
    /// Optimizer steps taken in this process.
    pub steps: u64,
    /// Seconds this process spent in the gradients' all-reduces (data-parallel training;
    /// 0 in one process).
    pub allreduce_seconds: f64,
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
    names: Vec<String>,
    health: Vec<crate::health::HealthRecord>,
    callbacks: Vec<Box<dyn Callback>>,
    rng: Mt19937,
    epoch: usize,
    step: u64,
    running: [f64; 4],
    best: Option<f64>,
    bad_epochs: usize,
    history: Vec<EpochMetrics>,
    comm: Option<Arc<dyn Communicator>>,
    averager: GradAverager,
    run_config: Option<String>,
}

impl Trainer {
    /// A trainer of `model` with `optimizer` (built over the model's parameters) and a loss
    /// `loss(output, target)`: a closure, a function such as `nabla_nn::loss::cross_entropy_loss`,
    /// or a boxed [`LossFn`]. The dropout stream is seeded from `config.seed`.
    pub fn new<M, O, L>(model: M, optimizer: O, loss: L, config: TrainConfig) -> Self
    where
        M: Module + 'static,
        O: Optimizer + 'static,
        L: Fn(&Tensor, &Tensor) -> nabla_core::Result<Tensor> + Send + Sync + 'static,
    {
        let model: Box<dyn Module> = Box::new(model);
        let optimizer: Box<dyn Optimizer> = Box::new(optimizer);
        let loss: LossFn = Box::new(loss);
        let (names, params) = model.parameters().into_iter().unzip();
        let rng = Mt19937::new(nabla_core::stream_seed(config.seed, "dropout"));
        Trainer {
            model,
            optimizer,
            scheduler: None,
            loss,
            config,
            step_fn: Box::new(StandardStep),
            params,
            names,
            health: Vec::new(),
            callbacks: Vec::new(),
            rng,
            epoch: 0,
            step: 0,
            running: [0.0; 4],
            best: None,
            bad_epochs: 0,
            history: Vec::new(),
            comm: None,
            averager: GradAverager::new(),
            run_config: None,
        }
    }
    /// Adds a learning-rate schedule.
    pub fn with_scheduler(mut self, s: impl LrScheduler + 'static) -> Self {
        self.scheduler = Some(Box::new(s));
        self
    }
    /// Adds a boxed learning-rate schedule.
    pub fn with_boxed_scheduler(mut self, s: Box<dyn LrScheduler>) -> Self {
        self.scheduler = Some(s);
        self
    }
    /// Adds an observer of the run (see [`Callback`]); it is called after the built-in ones
    /// (the progress display, the run folder's `metrics.jsonl` and `health.jsonl`, the
    /// health diagnoses), in the order added.
    pub fn with_callback(mut self, c: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
    /// Keeps `text`, the run's config, in every checkpoint's `state.json`, so a resume can
    /// tell whether the config was edited since (see [`TrainerState::config`]).
    pub fn with_run_config(mut self, text: impl Into<String>) -> Self {
        self.run_config = Some(text.into());
        self
    }
    /// Replaces the training step (custom loops).
    pub fn with_step(mut self, s: impl TrainStep + 'static) -> Self {
        self.step_fn = Box::new(s);
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
            world_size: self.world_size(),
            config: self.run_config.clone(),
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

    /// Writes `snap` as `out/checkpoints/ckpt-{step}` and prunes the older ones as
    /// `config.keep_checkpoints` says.
    fn write_step_checkpoint(&self, out: &Path, snap: &EncodedCheckpoint) -> Result<PathBuf> {
        let dir = out
            .join("checkpoints")
            .join(format!("ckpt-{:010}", self.step));
        snap.write(&dir)?;
        self.config.keep_checkpoints.prune(out);
        Ok(dir)
    }

    /// Writes a checkpoint of the current state into `out_dir/checkpoints` (and keeps the
    /// previous one).
    pub fn save_checkpoint(&self, cursor: Cursor) -> Result<Option<PathBuf>> {
        let Some(out) = self.out_dir() else {
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
            Error::Checkpoint(format!("{}: optimizer state: {e}", ck.dir.display()))
        })?;
        if let Some(s) = self.scheduler.as_mut() {
            s.load_state_dict(&ck.sched).map_err(|e| {
                Error::Checkpoint(format!("{}: schedule state: {e}", ck.dir.display()))
            })?;
        }
        self.rng = Mt19937::from_state(&ck.state.rng_state())
            .map_err(|e| Error::Checkpoint(format!("{}: {e}", ck.dir.display())))?;
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

    /// Keeps a health record and hands it to the observers.
    fn record_health(
        &mut self,
        h: crate::health::HealthRecord,
        observers: &mut [Box<dyn Callback>],
    ) -> Result<()> {
        self.health.push(h);
        let all = &self.health;
        for c in observers.iter_mut() {
            c.on_health(&all[all.len() - 1], all)?;
        }
        Ok(())
    }

    /// The gradient-health records of this run so far (this process's, after a resume).
    pub fn health_records(&self) -> &[crate::health::HealthRecord] {
        &self.health
    }

    /// The built-in observers for this fit (from the config) followed by the added ones, and
    /// how many are built in.
    fn observers(&mut self) -> (Vec<Box<dyn Callback>>, usize) {
        let mut v: Vec<Box<dyn Callback>> = vec![Box::new(ProgressDisplay::new(self.progress()))];
        if let Some(out) = self.out_dir() {
            v.push(Box::new(RunFiles::new(out)));
        }
        if self.progress() != ProgressMode::Quiet {
            v.push(Box::new(HealthDiagnoses::default()));
        }
        let builtin = v.len();
        v.append(&mut self.callbacks);
        (v, builtin)
    }

    /// Trains for the configured epochs (continuing from a restored state), validating after
    /// each epoch.
    pub fn fit(
        &mut self,
        train: &mut DataLoader,
        val: Option<&mut DataLoader>,
    ) -> Result<FitReport> {
        if let Some(out) = self.out_dir() {
            std::fs::create_dir_all(out)
                .map_err(|e| Error::Io(format!("{}: cannot create: {e}", out.display())))?;
        }
        let (mut observers, builtin) = self.observers();
        let result = self.fit_observed(train, val, &mut observers);
        // the added observers stay with the trainer for a later fit
        self.callbacks = observers.split_off(builtin);
        result
    }

    fn fit_observed(
        &mut self,
        train: &mut DataLoader,
        mut val: Option<&mut DataLoader>,
        observers: &mut [Box<dyn Callback>],
    ) -> Result<FitReport> {
        if observers.iter().any(|c| c.wants_histograms()) {
            self.config.health_histograms = true;
        }
        let start = FitStart {
            out_dir: self.out_dir(),
            epochs: self.config.epochs,
            epoch: self.epoch,
            step: self.step,
        };
        for c in observers.iter_mut() {
            c.on_fit_start(&start)?;
        }
        self.start_parallel(train)?;
        let reduce_start = self.averager.seconds();
        let steps_start = self.step;
        let t_start = Instant::now();
        let mut samples = 0u64;
        let mut stopped_early = false;
        if train.epoch() != self.epoch as u64 && train.cursor().position == 0 {
            train.set_epoch(self.epoch as u64);
        }
        let steps_left = |step: u64, cfg: &TrainConfig| cfg.max_steps.is_none_or(|m| step < m);
        while self.epoch < self.config.epochs
            && !stopped_early
            && steps_left(self.step, &self.config)
        {
            let e = self.epoch + 1;
            let t_epoch = Instant::now();
            // seconds this epoch ran before a resume (0 otherwise)
            let carried = self.running[3];
            let start = EpochStart {
                epoch: e,
                epochs: self.config.epochs,
                batches: train.len() as u64,
                done: train.cursor().position,
            };
            for c in observers.iter_mut() {
                c.on_epoch_start(&start)?;
            }
            // the learning rate of the epoch's last step (a per-epoch schedule steps after
            // the row is made; a per-step one after every step)
            let mut lr_used = self.optimizer.lr();
            // (`max_steps` may end the epoch early; the loader keeps its place)
            while steps_left(self.step, &self.config) {
                let position = train.cursor().position;
                let Some(batch) = train.next_batch() else {
                    break;
                };
                let batch = batch?;
                self.step += 1;
                lr_used = self.optimizer.lr();
                let n = batch.len() as f64;
                let t0 = Instant::now();
                let out = {
                    let _anomaly = self
                        .config
                        .detect_anomaly
                        .then(nabla_core::anomaly::detect_anomaly);
                    let every = self.config.health_every;
                    let health_due =
                        every > 0 && (self.step == 1 || self.step.is_multiple_of(every));
                    let _collect = health_due.then(nabla_nn::health::collect);
                    let (offset, whole) = train.shard_span(position);
                    let parallel = parallel::parts(
                        self.comm.as_deref(),
                        &mut self.averager,
                        nabla_nn::BatchShard {
                            offset,
                            rows: batch.len(),
                            whole,
                        },
                    );
                    let mut parts = StepParts {
                        model: self.model.as_ref(),
                        params: &self.params,
                        optimizer: self.optimizer.as_mut(),
                        loss: &self.loss,
                        rng: &mut self.rng,
                        config: &self.config,
                        epoch: e,
                        step: self.step,
                        names: &self.names,
                        health_due,
                        health: None,
                        parallel,
                    };
                    let out = if batch.is_empty() && parts.parallel.is_some() {
                        parallel::step_without_samples(&mut parts)?
                    } else {
                        self.step_fn.step(&mut parts, &batch)?
                    };
                    if let Some(h) = parts.health.take() {
                        self.record_health(h, observers)?;
                    }
                    if whole < self.world_size() && train.config().shard.world > 1 {
                        // a rank without samples drew no dropout masks: take rank 0's stream
                        self.sync_rng()?;
                    }
                    out
                };
                samples += batch.len() as u64;
                let batch_loss = self.add_step(&out, n)?;
                if self.config.schedule_per_step == Some(true) {
                    if let Some(s) = self.scheduler.as_mut() {
                        s.step(self.optimizer.as_mut(), None)?;
                    }
                }
                let end = StepEnd {
                    step: self.step,
                    loss: batch_loss,
                    samples_per_second: n / t0.elapsed().as_secs_f64().max(1e-9),
                };
                for c in observers.iter_mut() {
                    c.on_step_end(&end)?;
                }
                if let Some(every) = self.config.checkpoint_every {
                    if every > 0 && self.step.is_multiple_of(every) {
                        self.running[3] = carried + t_epoch.elapsed().as_secs_f64();
                        self.save_checkpoint(train.cursor())?;
                    }
                }
            }
            let n = self.running[2].max(1.0);
            let train_loss = self.running[0] / n;
            let train_accuracy =
                (self.config.task == Task::Classification).then(|| self.running[1] / n);
            let val_ev = match val.as_deref_mut() {
                Some(v) => Some(self.evaluate(v)?),
                None => None,
            };
            let val_loss = val_ev.map(|v| v.loss);
            let val_accuracy = val_ev.and_then(|v| v.accuracy);
            let val_reg = val_ev.and_then(|v| v.regression);
            let monitored = val_loss.unwrap_or(train_loss);
            let lm = self.config.task == Task::LanguageModel;
            if self.config.schedule_per_step != Some(true) {
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
                train_bpc: lm.then(|| train_loss / std::f64::consts::LN_2),
                val_bpc: val_loss.filter(|_| lm).map(|l| l / std::f64::consts::LN_2),
                val_mae: val_reg.map(|r| r.mae),
                val_rmse: val_reg.map(|r| r.rmse),
                val_r2: val_reg.map(|r| r.r2),
                lr: lr_used,
                seconds,
            };
            self.history.push(row);
            self.epoch += 1;
            self.running = [0.0; 4];
            let history = &self.history;
            for c in observers.iter_mut() {
                c.on_epoch_end(&history[history.len() - 1], history)?;
            }
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
            if let Some(out) = self.out_dir() {
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
            steps: self.step - steps_start,
            allreduce_seconds: self.averager.seconds() - reduce_start,
        })
    }

    /// Mean loss (and the task's metrics) over every batch of `loader`, in evaluation mode;
    /// in data-parallel training the sums over every rank's part (with rank 0's BatchNorm
    /// statistics), the same on every rank.
    pub fn evaluate(&self, loader: &mut DataLoader) -> Result<Evaluation> {
        match self.parallel() {
            Some(c) => self.evaluate_parallel(loader, c),
            None => evaluate(self.model.as_ref(), &self.loss, loader, self.config.task),
        }
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

/// Writes a value as pretty JSON to a file, atomically (`summary.json`, `standardizer.json`).
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Io(e.to_string()))?;
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    nabla_core::io::write_atomic(path, &bytes)?;
    Ok(())
}
