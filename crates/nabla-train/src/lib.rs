//! # nabla-train
//!
//! The training loop: [`Trainer`] (fit, evaluate, predict) with a [`TrainStep`] hook for
//! custom steps and [`Callback`] observers for everything that watches a run (the progress
//! display, the run folder's metric files and health diagnoses here; the HTML report and
//! TensorBoard in `nabla-report`), metrics for classification and regression, checkpoints
//! that resume bitwise, the gradient-health monitor, and data-parallel training
//! ([`distributed`]; MPI with the feature `mpi`). TOML experiments live in
//! `nabla-experiment`, so a program that only trains needs neither plotting nor TOML.
#![warn(missing_docs)]

pub mod callback;
pub mod checkpoint;
pub mod distributed;
mod error;
mod evaluate;
pub mod health;
pub mod histogram;
pub mod jsonl;
pub mod metrics;
pub mod progress;
mod regression;
mod retention;
mod step;
pub mod train_config;
pub mod trainer;

pub use callback::{Callback, EpochStart, FitStart, StepEnd, StopFlag};
pub use checkpoint::{EpochMetrics, LoadedCheckpoint, TrainerState};
pub use distributed::{Communicator, SingleProcess};
pub use error::{Error, Result};
pub use evaluate::{evaluate, evaluate_distributed, evaluate_with_confusion, predict, Evaluation};
pub use histogram::Histogram;
pub use progress::ProgressMode;
pub use regression::{RegressionAccumulator, RegressionMetrics};
pub use retention::KeepCheckpoints;
pub use step::{ParallelParts, StandardStep, StepOutput, StepParts, TrainStep};
pub use trainer::{FitReport, LossFn, Task, TrainConfig, Trainer};
