//! Errors of training.

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor op failed.
    #[error(transparent)]
    Core(#[from] nabla_core::Error),
    /// The data failed.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// A loss or gradient became NaN or infinite.
    #[error("non-finite {what} at epoch {epoch}, step {step}: training stopped (try a smaller learning rate or gradient clipping; --detect-anomaly names the op and layer that made it); no checkpoint was written with this state")]
    NonFinite {
        /// `loss` or `gradient norm` (a NaN or infinite gradient, or finite gradients so large
        /// that the sum of their squares overflows the dtype).
        what: &'static str,
        /// Epoch (from 1).
        epoch: usize,
        /// Optimizer step (from 1).
        step: u64,
    },
    /// Anomaly mode found the first op whose output or gradient is not finite.
    #[error("{msg}, at epoch {epoch}, step {step}: training stopped; no checkpoint was written with this state")]
    Anomaly {
        /// The op, the layer path, the shapes and the pass.
        msg: String,
        /// Epoch (from 1).
        epoch: usize,
        /// Optimizer step (from 1).
        step: u64,
    },
    /// A checkpoint could not be read or does not fit.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A file could not be written.
    #[error("{0}")]
    Io(String),
    /// An experiment's config, or an input given to it, is not valid (the message names the
    /// key path or the layer).
    #[error("{0}")]
    Config(String),
    /// A data-parallel run stopped on every rank together because rank `rank` met this error
    /// (see [`crate::distributed::agree`]).
    #[error("rank {rank}: {msg}")]
    AllRanks {
        /// The lowest rank that met the error.
        rank: usize,
        /// Its message.
        msg: String,
    },
    /// Communication between the ranks of a data-parallel run failed.
    #[error("communication between ranks failed: {0}")]
    Comm(String),
}

impl TrainError {
    /// Whether every rank of a data-parallel run meets this error at the same point, so each
    /// can stop on its own without leaving the others waiting: errors agreed between the
    /// ranks, and the non-finite loss or gradient norm, which every rank computes from the
    /// same reduced values. Any other error met by one rank calls for
    /// [`crate::distributed::Communicator::abort`].
    pub fn is_collective(&self) -> bool {
        matches!(
            self,
            TrainError::AllRanks { .. } | TrainError::NonFinite { .. }
        )
    }
}
