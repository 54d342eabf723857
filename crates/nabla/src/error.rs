//! One error type for programs that use several parts of nabla.

/// Any error of nabla's crates, or of the file system, so that `?` works across them in a
/// program's `main`.
///
/// ```
/// use nabla::prelude::*;
/// fn run() -> nabla::Result<()> {
///     let t = Tensor::zeros(&[2, 3], DType::F32);  // nabla_core::Error on failure
///     let ds = nabla::data::digits()?;             // nabla_data::DataError
///     assert_eq!(ds.x().shape()[1], 64);
///     let _ = t.reshape(&[7])?;                    // fails: 6 elements are not 7
///     Ok(())
/// }
/// let e = run().unwrap_err();
/// assert!(e.to_string().contains("reshape"), "{e}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation or autograd failed.
    #[error(transparent)]
    Core(#[from] nabla_core::Error),
    /// Reading, loading or splitting data failed.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// Training, a checkpoint or an experiment config failed.
    #[error(transparent)]
    Train(#[from] nabla_train::TrainError),
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Anything else, as a message.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// Whether the error comes from input given to nabla (a config, a data file, a
    /// checkpoint, a file path) rather than from nabla itself: the CLI exits 2 for these and 1
    /// for the others.
    pub fn is_bad_input(&self) -> bool {
        use nabla_train::TrainError as T;
        match self {
            Error::Core(nabla_core::Error::Anomaly(_)) => true,
            Error::Train(T::Core(nabla_core::Error::Anomaly(_))) => true,
            Error::Core(_) => false,
            Error::Train(T::Core(_)) => false,
            Error::Train(T::Comm(_)) => false,
            Error::Data(_) | Error::Train(_) | Error::Io(_) | Error::Msg(_) => true,
        }
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

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
