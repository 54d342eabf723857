//! Test support shared by the integration tests of several nabla crates: what more than one
//! crate's tests need, kept in one place. A dev-dependency only (never published); it depends
//! on no nabla crate, so any of them can use it.
//!
//! Helpers used by one crate's tests alone stay in that crate's `tests/common` module.

/// The largest absolute difference between two sets of named values (a model's weights by
/// tensor name, say), element by element. Both must list the same names in the same order.
pub fn max_diff(a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut m = 0.0f64;
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            m = m.max((x - y).abs());
        }
    }
    m
}

/// An IDX images file (MNIST's format): magic 2051, the big-endian dims `count`, `rows`,
/// `cols`, then `pixel(i, k)` for pixel `k` (row-major) of image `i`.
pub fn idx_images(
    count: usize,
    rows: usize,
    cols: usize,
    mut pixel: impl FnMut(usize, usize) -> u8,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + count * rows * cols);
    v.extend_from_slice(&2051u32.to_be_bytes());
    for d in [count, rows, cols] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..count {
        for k in 0..rows * cols {
            v.push(pixel(i, k));
        }
    }
    v
}

/// An IDX labels file: magic 2049, the big-endian count, the labels.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + labels.len());
    v.extend_from_slice(&2049u32.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}
