//! The error type of nabla-data: every message names the file (or the operation) and the
//! problem, e.g. `train-images-idx3-ubyte.gz: bad magic 0x00000802, expected 0x00000803 (2051)`.

use std::path::Path;

/// Everything that can go wrong while reading, loading, splitting or downloading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error on a file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is malformed (bad magic, truncated, ragged row, not a number, ...).
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
    /// A bad argument (index out of range, batch size 0, fractions that do not sum to 1, ...).
    #[error("{op}: {msg}")]
    Arg {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] nabla_core::Error),
}

/// `Result` with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.display().to_string(),
            source,
        }
    }
    pub(crate) fn format(file: impl std::fmt::Display, msg: impl Into<String>) -> Self {
        DataError::Format {
            file: file.to_string(),
            msg: msg.into(),
        }
    }
    pub(crate) fn arg(op: &'static str, msg: impl Into<String>) -> Self {
        DataError::Arg {
            op,
            msg: msg.into(),
        }
    }
}
