//! # nabla-train
//!
//! The training loop ([`Trainer`]: fit, evaluate, predict, a [`TrainStep`] hook for custom
//! loops), metrics for classification and regression, checkpoints that resume bitwise,
//! progress and plots, and [`experiment`]: a whole run (data, model, optimizer, schedule,
//! trainer) described by a TOML file and built in the library.
#![warn(missing_docs)]

pub mod callback;
pub mod checkpoint;
pub mod distributed;
mod error;
mod evaluate;
pub mod experiment;
pub mod health;
pub mod image;
pub mod jsonl;
pub mod metrics;
pub mod plot;
pub mod progress;
mod regression;
pub mod report;
mod retention;
mod step;
pub mod tensorboard;
pub mod trainer;

pub use callback::{Callback, EpochStart, FitStart, StepEnd};
pub use checkpoint::{EpochMetrics, LoadedCheckpoint, TrainerState};
pub use distributed::{Communicator, SingleProcess};
pub use error::{Error, Result};
pub use evaluate::{evaluate, evaluate_distributed, evaluate_with_confusion, predict, Evaluation};
pub use experiment::{Experiment, ExperimentConfig, RunResult};
pub use progress::ProgressMode;
pub use regression::{RegressionAccumulator, RegressionMetrics};
pub use retention::KeepCheckpoints;
pub use step::{ParallelParts, StandardStep, StepOutput, StepParts, TrainStep};
pub use trainer::{FitReport, LossFn, Task, TrainConfig, Trainer};
