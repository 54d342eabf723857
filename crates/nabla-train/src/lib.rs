//! # nabla-train
//!
//! The training loop ([`Trainer`]: fit, evaluate, predict, a [`TrainStep`] hook for custom
//! loops), metrics, checkpoints that resume bitwise, progress and plots.
#![warn(missing_docs)]

pub mod checkpoint;
mod error;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod trainer;

pub use checkpoint::{EpochMetrics, LoadedCheckpoint, TrainerState};
pub use error::TrainError;
pub use progress::ProgressMode;
pub use trainer::{
    evaluate, predict, Evaluation, FitReport, LossFn, StandardStep, StepOutput, StepParts,
    TrainConfig, TrainStep, Trainer,
};
