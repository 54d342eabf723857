//! nabla-train returns nabla's one error type; its cases are [`Error::NonFinite`],
//! [`Error::TrainAnomaly`], [`Error::Checkpoint`], [`Error::Config`], [`Error::AllRanks`] and
//! [`Error::Comm`], beside the tensor and data cases of the crates below.

pub use nabla_core::{Error, Result};
