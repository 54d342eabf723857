//! Errors are values: every fallible operation of every nabla crate returns [`Result`], and
//! the message names the operation, the file or the config key, and what is wrong.
//!
//! There is one [`Error`] for the whole library: tensor ops, layers, optimizers, data and
//! training all return it, so `?` works across them and a custom `Module` written with
//! `nabla::prelude::*` compiles against the same type the library uses. Each crate's cases are
//! its variants; [`Error::is_bad_input`] separates what the caller gave from nabla's own
//! failures (the CLI exits 2 for the first, 1 for the second).

/// The error type of every fallible nabla operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Two shapes that an op needs to agree do not.
    #[error("{op}: {msg}")]
    Shape {
        /// The operation, e.g. `matmul`.
        op: &'static str,
        /// What does not fit, naming both shapes.
        msg: String,
    },
    /// The op does not support the tensor's dtype, or two dtypes differ.
    #[error("{op}: {msg}")]
    DType {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A bad argument to a tensor op (axis out of range, bad index, bad length, ...).
    #[error("{op}: {msg}")]
    Arg {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// Reading or writing a file failed, or its contents are not valid (checkpoints, run
    /// files, outputs).
    #[error("{0}")]
    Io(String),
    /// Backpropagation could not run (e.g. nothing requires gradients).
    #[error("backward: {0}")]
    Backward(String),
    /// Anomaly mode found a NaN or infinity (see [`crate::anomaly`]); the message names the
    /// op, the layer path, the shapes and the pass.
    #[error("{0}")]
    Anomaly(String),
    /// An error raised inside a named context (a layer path), wrapping the original.
    #[error("{context}: {source}")]
    Context {
        /// Where it happened, e.g. `linear "encoder.2"`.
        context: String,
        /// The original error.
        source: Box<Error>,
    },
    /// A file or folder could not be opened, read or written.
    #[error("{path}: {msg}")]
    File {
        /// The file or folder.
        path: String,
        /// The operating system's message.
        msg: String,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
    },
    /// A data file's content is malformed (bad magic, truncated, ragged row, not a number).
    #[error("{file}: {msg}")]
    Format {
        /// The file (or the name given to in-memory text).
        file: String,
        /// What is wrong, naming the row, column or field.
        msg: String,
    },
    /// A downloaded file does not have the expected MD5 checksum.
    #[error("{file}: checksum mismatch: expected MD5 {expected}, got {actual}")]
    Checksum {
        /// The file.
        file: String,
        /// The MD5 it should have (hex).
        expected: String,
        /// The MD5 it has (hex).
        actual: String,
    },
    /// A download failed (HTTP status, connection, TLS).
    #[error("{url}: {msg}")]
    Http {
        /// The URL.
        url: String,
        /// What failed, e.g. `HTTP status 404`.
        msg: String,
    },
    /// A value given to a data or training operation is not valid (batch size 0, an index
    /// out of range, fractions that do not sum to 1, ...).
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A loss or gradient became NaN or infinite during training.
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
    /// Anomaly mode found, during training, the first op whose output or gradient is not
    /// finite.
    #[error("{msg}, at epoch {epoch}, step {step}: training stopped; no checkpoint was written with this state")]
    TrainAnomaly {
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
    /// A config, or an input given to it, is not valid (the message names the key path or
    /// the layer).
    #[error("{0}")]
    Config(String),
    /// A data-parallel run stopped on every rank together because rank `rank` met this error.
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
    /// Anything else, as a message (an application's own errors, with `?`).
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// A shape mismatch in `op`.
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    /// A bad argument to the tensor op `op`.
    pub fn arg(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Arg {
            op,
            msg: msg.into(),
        }
    }
    /// A dtype the tensor op `op` does not take.
    pub fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType {
            op,
            msg: msg.into(),
        }
    }
    /// A value given to the data or training operation `op` that is not valid.
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }
    /// A malformed data file.
    pub fn format(file: impl std::fmt::Display, msg: impl Into<String>) -> Self {
        Error::Format {
            file: file.to_string(),
            msg: msg.into(),
        }
    }
    /// An operating-system error on `path`.
    pub fn file(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::File {
            path: path.display().to_string(),
            msg: source.to_string(),
            kind: source.kind(),
        }
    }
    /// Wraps this error in a context such as a layer path.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// Whether the error comes from input given to nabla (a config, a data file, a
    /// checkpoint, a file path, a value out of range) rather than from nabla itself: the CLI
    /// exits 2 for these and 1 for the others. A tensor op's shape, dtype or argument error
    /// that reaches the CLI means a config was let through that should not have been, so it
    /// counts as nabla's own.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Shape { .. } | Error::DType { .. } | Error::Arg { .. } => false,
            Error::Backward(_) | Error::Comm(_) => false,
            Error::Context { source, .. } => source.is_bad_input(),
            _ => true,
        }
    }

    /// Whether every rank of a data-parallel run meets this error at the same point, so each
    /// can stop on its own without leaving the others waiting: errors agreed between the
    /// ranks, and the non-finite loss or gradient norm, which every rank computes from the
    /// same reduced values. Any other error met by one rank calls for aborting the run.
    pub fn is_collective(&self) -> bool {
        matches!(self, Error::AllRanks { .. } | Error::NonFinite { .. })
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Msg(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::Msg(s.to_string())
    }
}

/// `Result` with nabla's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
