//! Test helpers: files in a temporary directory, IDX fixture bytes and the shared MNIST
//! folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> TempDir {
    TempDir::new().unwrap()
}

/// Files in a temporary directory.
pub trait Files {
    /// Writes `bytes` to the file `name`; gives its path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf;
    /// File names in the directory, sorted.
    fn list(&self) -> Vec<String>;
}

impl Files for TempDir {
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// An IDX images file (see [`nabla_testkit::idx_images`]) whose pixel `k` of image `i` is
/// `(i * 31 + k * 7) % 256`.
pub fn idx_images(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    nabla_testkit::idx_images(count, rows, cols, |i, k| ((i * 31 + k * 7) % 256) as u8)
}

pub use nabla_testkit::idx_labels;

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The shared MNIST folder (`shared/data/mnist` next to the checkout, or
/// `/work/shared/data/mnist`) when it holds `file`; `None` where it does not exist.
pub fn shared_mnist_dir(file: &str) -> Option<PathBuf> {
    [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"),
        PathBuf::from("/work/shared/data/mnist"),
    ]
    .into_iter()
    .find(|d| d.join(file).is_file())
}
