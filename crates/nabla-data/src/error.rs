//! nabla-data returns nabla's one error type: its cases are [`Error::File`],
//! [`Error::Format`], [`Error::Checksum`], [`Error::Http`] and [`Error::Invalid`], and every
//! message names the file (or the operation) and the problem, e.g.
//! `train-images-idx3-ubyte.gz: bad magic 0x00000802, expected 0x00000803 (2051)`.

pub use nabla_core::{Error, Result};
