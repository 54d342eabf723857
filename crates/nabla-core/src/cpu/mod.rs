//! How the ops run fast on the CPU: the kernels behind [`crate::ops`], grouped by family.
//! `ops/` says what each op means (its API, validation, the `Op` it records and its backward
//! rule) and calls in here; nothing in here records an op or knows about the rules.
//!
//! Every kernel splits its work by the shapes alone (fixed chunks, tiles or blocks, combined
//! in a fixed order), so results are bitwise the same for any thread count.

pub(crate) mod attention;
pub(crate) mod batch_norm;
pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod fast_math;
pub(crate) mod layer_norm;
pub(crate) mod log_softmax;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod recurrent;
pub(crate) mod simd;
pub(crate) mod std_sort;
pub(crate) mod sums;

/// Elements below which a kernel stays on the calling thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 15;
/// Elements per parallel task and per reduction partial.
pub(crate) const CHUNK: usize = 1 << 13;
