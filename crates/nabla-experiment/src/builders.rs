//! The builders of [`Experiment`]: what a caller (the CLI's options, the Python bindings)
//! sets beside the config.

use crate::Experiment;
use nabla_train::{Communicator, ProgressMode};
use std::path::PathBuf;
use std::sync::Arc;

impl Experiment {
    /// Reads the data from this folder (MNIST family) or file (CSV) instead of `data.path`
    /// and `NABLA_DATA`.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// Writes the run into this folder instead of a new one under `runs/`.
    pub fn with_out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }
    /// New run folders go under `root` (default `runs`).
    pub fn with_runs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.runs_root = root.into();
        self
    }
    /// Sets `train.epochs` (on a resumed run: extends it).
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.config.train.epochs = epochs;
        self
    }
    /// Sets `train.seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.config.train.seed = seed;
        self
    }
    /// Turns anomaly mode on (`train.detect_anomaly`).
    pub fn with_detect_anomaly(mut self, on: bool) -> Self {
        self.config.train.detect_anomaly = on;
        self
    }
    /// Turns the TensorBoard event file on (`train.tensorboard`).
    pub fn with_tensorboard(mut self, on: bool) -> Self {
        self.config.train.tensorboard = on;
        self
    }
    /// Sets the progress display (overrides `train.progress`).
    pub fn with_progress(mut self, mode: ProgressMode) -> Self {
        self.progress = Some(mode);
        self
    }

    /// Stops the run at the end of the step during which `flag` is set (see
    /// [`nabla_train::StopFlag`]); `fit` then fails with "interrupted".
    pub fn with_stop_flag(mut self, flag: Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Trains data-parallel over the ranks of `comm` (see [`nabla_train::distributed`]): every rank
    /// runs the same experiment; rank 0 checks that the others hold its config and data,
    /// and alone writes the run folder.
    pub fn with_communicator(mut self, comm: Arc<dyn Communicator>) -> Self {
        self.comm = Some(comm);
        self
    }
}
