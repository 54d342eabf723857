//! Errors are values: every fallible operation returns [`Result`], and the message names the
//! operation and the shapes involved.

/// The error type of every fallible nabla-core operation.
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
    /// A bad argument (axis out of range, bad index, bad length, ...).
    #[error("{op}: {msg}")]
    Arg {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// Reading or writing a file failed, or its contents are not valid.
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
}

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn arg(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Arg {
            op,
            msg: msg.into(),
        }
    }
    pub(crate) fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType {
            op,
            msg: msg.into(),
        }
    }
    /// Wraps this error in a context such as a layer path.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

/// `Result` with nabla's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
