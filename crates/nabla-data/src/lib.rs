//! # nabla-data
//!
//! Datasets and data loading for nabla:
//!
//! - [`Dataset`] (per-sample [`Dataset::get`] and batch-level [`Dataset::get_batch`]),
//!   the in-memory [`TensorDataset`], [`Subset`] and the seeded [`random_split`];
//! - [`DataLoader`]: batches, per-epoch seeded shuffling, `drop_last`, a bounded background
//!   prefetch thread, and a [`Cursor`] from which iteration resumes exactly;
//! - the IDX format of MNIST and Fashion-MNIST ([`read_idx_images`], [`read_idx_labels`],
//!   [`load_mnist`]), gzipped or raw, strictly validated;
//! - CSV files ([`read_csv`], [`parse_csv`]) and a [`Standardizer`];
//! - character corpora for language models ([`TextCorpus`], [`Vocab`], [`CharWindows`]);
//! - the bundled 8x8 digits set ([`digits`]) and diabetes regression set ([`diabetes`]);
//! - downloads verified by MD5 ([`fetch`], [`fetch_files`]).
//!
//! Every bad input is an `Err` ([`Error`]) whose message names the file and the problem.
//!
//! ```
//! use nabla_data::{digits, DataLoader, LoaderConfig};
//! let ds = digits().unwrap();
//! let mut loader = DataLoader::new(ds, LoaderConfig::new(256).with_shuffle(true).with_seed(7)).unwrap();
//! let mut seen = 0;
//! for batch in loader.epoch_iter() {
//!     let batch = batch.unwrap();
//!     assert_eq!(batch.x.shape()[1], 64);
//!     seen += batch.len();
//! }
//! assert_eq!(seen, 1797);
//! assert_eq!(loader.cursor().epoch, 1);
//! ```
#![warn(missing_docs)]

mod csv;
mod dataset;
mod diabetes;
mod digits;
mod error;
mod fetch;
mod idx;
mod loader;
mod read;
mod split;
mod standardizer;
mod text;

pub use csv::{
    parse_csv, parse_csv_bytes, read_csv, CsvData, CsvOptions, Header, LabelColumn, LabelKind,
};
pub use dataset::{Batch, Dataset, Subset, TensorDataset};
pub use diabetes::{diabetes, DIABETES_DATA_GZ, DIABETES_FEATURES, DIABETES_TARGET_GZ};
pub use digits::{digits, DIGITS_CSV_GZ};
pub use error::{Error, Result};
pub use fetch::{
    fetch, fetch_files, md5_hex, md5_hex_file, remote_files, RemoteFile, FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES, FASHION_MNIST_MIRROR, MNIST_FILES, MNIST_MIRROR,
};
pub use idx::{
    load_mnist, parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels, read_mnist,
    IdxImages, IdxLabels, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC,
};
pub use loader::{Cursor, DataLoader, EpochIter, LoaderConfig, Shard};
pub use split::{random_split, random_split_n, Split};
pub use standardizer::Standardizer;
pub use text::{CharWindows, TextCorpus, Vocab};
