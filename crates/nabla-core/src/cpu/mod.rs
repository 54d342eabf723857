//! How the ops run fast on the CPU: the kernels behind [`crate::ops`], grouped by family.
//! `ops/` says what each op means (its API, validation, the `Op` it records and its backward
//! rule) and calls in here; nothing in here records an op or knows about the rules.
//!
//! Every kernel splits its work by the shapes alone (fixed chunks, tiles or blocks, combined
//! in a fixed order), so results are bitwise the same for any thread count.

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod pool;
pub(crate) mod recurrent;
pub(crate) mod simd;
