//! The data-parallel side of the [`Trainer`] (see [`crate::distributed`]): the communicator,
//! the start of a run, the shared random stream and buffers, the reduced step sums.

use super::{Result, Task, Trainer};
use crate::checkpoint::{load_model_tensors, model_tensors};
use crate::distributed::{Communicator, GradAverager};
use crate::evaluate::Evaluation;
use crate::progress::ProgressMode;
use crate::step::StepOutput;
use crate::step::{ParallelParts, StepParts};
use crate::Error;
use nabla_core::{Mt19937, Tensor};
use nabla_data::DataLoader;
use std::path::Path;
use std::sync::Arc;

/// This rank's part of a step, when the communicator has several ranks.
pub(crate) fn parts<'a>(
    comm: Option<&'a dyn Communicator>,
    averager: &'a mut GradAverager,
    shard: nabla_nn::BatchShard,
) -> Option<ParallelParts<'a>> {
    comm.filter(|c| c.size() > 1).map(|comm| ParallelParts {
        comm,
        averager,
        shard,
    })
}

/// The step of a rank without samples in this batch (see
/// [`StepParts::step_without_samples`]).
pub(crate) fn step_without_samples(parts: &mut StepParts<'_>) -> Result<StepOutput> {
    parts.step_without_samples()?;
    Ok(StepOutput {
        loss: 0.0,
        correct: (parts.config.task == Task::Classification).then_some(0),
    })
}

impl Trainer {
    /// [`Trainer::evaluate`] over the ranks, with rank 0's BatchNorm statistics.
    pub(crate) fn evaluate_parallel(
        &self,
        loader: &mut DataLoader,
        comm: &dyn Communicator,
    ) -> Result<Evaluation> {
        self.sync_buffers()?;
        crate::evaluate::evaluate_distributed(
            self.model.as_ref(),
            &self.loss,
            loader,
            self.config.task,
            comm,
        )
    }

    /// Trains data-parallel over the ranks of `comm` (see [`crate::distributed`]): give the
    /// same model, optimizer, loss and config on every rank, and training loaders split with
    /// [`nabla_data::Shard`]`(rank, size)` (and, for speed, the evaluation loaders too). Rank
    /// 0 alone writes the output folder and prints; the others train quietly.
    pub fn with_communicator(mut self, comm: Arc<dyn Communicator>) -> Self {
        self.comm = Some(comm);
        self
    }
    /// Sets the size of the gradient buckets of data-parallel training (default 4 MiB).
    pub fn with_bucket_bytes(mut self, bytes: usize) -> Self {
        self.averager = GradAverager::with_bucket_bytes(bytes);
        self
    }
    /// The communicator of a data-parallel run of several ranks (`None` in one process).
    pub(crate) fn parallel(&self) -> Option<&dyn Communicator> {
        self.comm.as_deref().filter(|c| c.size() > 1)
    }
    /// This process's rank (0 in one process).
    pub fn rank(&self) -> usize {
        self.comm.as_ref().map_or(0, |c| c.rank())
    }
    /// Ranks training together (1 in one process).
    pub fn world_size(&self) -> usize {
        self.comm.as_ref().map_or(1, |c| c.size())
    }
    /// The output folder, on rank 0 (the other ranks write nothing).
    pub(crate) fn out_dir(&self) -> Option<&Path> {
        self.config.out_dir.as_deref().filter(|_| self.rank() == 0)
    }
    /// The progress display: the config's on rank 0, quiet on the others.
    pub(crate) fn progress(&self) -> ProgressMode {
        if self.rank() == 0 {
            self.config.progress()
        } else {
            ProgressMode::Quiet
        }
    }
    /// Adds a step's loss·n, correct predictions and samples to the epoch's running sums
    /// (in data-parallel training the whole batch's, the same on every rank) and returns the
    /// batch's loss.
    pub(crate) fn add_step(&mut self, out: &StepOutput, n: f64) -> Result<f64> {
        let mut s = [out.loss * n, out.correct.unwrap_or(0) as f64, n];
        let loss = match self.parallel() {
            Some(c) => {
                c.allreduce_sum_f64(&mut s)?;
                s[0] / s[2].max(1.0)
            }
            None => out.loss,
        };
        self.running[0] += s[0];
        self.running[1] += s[1];
        self.running[2] += s[2];
        Ok(loss)
    }

    /// The start of data-parallel training: checks that the training loader is split for
    /// these ranks, hands rank 0's parameters and buffers to every rank, and checks that every
    /// rank holds rank 0's training state (a rank that differs stops every rank). `fit`
    /// runs it first; a resumed experiment runs it before writing its run files too.
    /// Without a communicator it does nothing.
    pub fn start_parallel(&mut self, train: &DataLoader) -> Result<()> {
        let Some(comm) = self.parallel() else {
            return Ok(());
        };
        let sh = train.config().shard;
        let fits = if sh.world == 1 || (sh.world == comm.size() && sh.rank == comm.rank()) {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the training loader is split as rank {} of {}, but this process is rank {} of {}",
                sh.rank,
                sh.world,
                comm.rank(),
                comm.size()
            )))
        };
        crate::distributed::agree(comm, fits)?;
        let mine = model_tensors(self.model.as_ref());
        let root = crate::distributed::broadcast_tensors(comm, 0, &mine)?;
        let loaded = if comm.rank() == 0 {
            Ok(())
        } else {
            load_model_tensors(self.model.as_ref(), &root, "rank 0's weights")
        };
        crate::distributed::agree(comm, loaded)?;
        let snap = self.snapshot(train.cursor())?;
        crate::distributed::check_same_state(comm, self.step, snap.state_fingerprint())
    }

    /// Rank 0's dropout stream on every rank.
    pub(crate) fn sync_rng(&mut self) -> Result<()> {
        let Some(comm) = self.parallel() else {
            return Ok(());
        };
        let st = self.rng.state();
        let mut bytes = serde_json::to_vec(&(st.key, st.pos, st.gauss))
            .map_err(|e| Error::Comm(e.to_string()))?;
        comm.broadcast_bytes(0, &mut bytes)?;
        let (key, pos, gauss): (Vec<u32>, usize, Option<f64>) = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Comm(format!("rank 0's random stream: {e}")))?;
        self.rng = Mt19937::from_state(&nabla_core::MtState { key, pos, gauss })
            .map_err(|e| Error::Comm(format!("rank 0's random stream: {e}")))?;
        Ok(())
    }

    /// Rank 0's buffers (BatchNorm running statistics) on every rank, as DDP's
    /// `broadcast_buffers` does before a forward pass that uses them.
    pub(crate) fn sync_buffers(&self) -> Result<()> {
        let Some(comm) = self.parallel() else {
            return Ok(());
        };
        let bufs: std::collections::BTreeMap<String, Tensor> = self
            .model
            .buffers()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().detach()))
            .collect();
        if bufs.is_empty() {
            return Ok(());
        }
        let root = crate::distributed::broadcast_tensors(comm, 0, &bufs)?;
        if comm.rank() != 0 {
            for (k, v) in self.model.buffers() {
                if let Some(t) = root.get(&k) {
                    v.set(t)?;
                }
            }
        }
        Ok(())
    }
}
