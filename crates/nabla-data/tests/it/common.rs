//! Test helpers: a self-removing temporary directory, IDX fixture bytes and the shared MNIST
//! folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "nabla-data-test-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    /// File names in the directory, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX images file: magic 2051, dims, then pixel `(i * 31 + k * 7) % 256` for image i.
pub fn idx_images(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2051u32.to_be_bytes());
    for d in [count, rows, cols] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..count {
        for k in 0..rows * cols {
            v.push(((i * 31 + k * 7) % 256) as u8);
        }
    }
    v
}

/// An IDX labels file: magic 2049, count, labels.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2049u32.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

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
