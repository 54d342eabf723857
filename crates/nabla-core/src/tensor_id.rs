//! Tensor ids: unique per tensor (and shared by the versions of a [`crate::Var`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique identifier of a tensor (shared by all versions of a [`crate::Var`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    /// A fresh id. Each thread reserves ids from the global counter a block at a time, so a
    /// tensor costs no atomic operation (which cost as much as a tiny op's arithmetic).
    pub(crate) fn new() -> Self {
        const BLOCK: u64 = 4096;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        RANGE.with(|r| {
            let (mut next, mut end) = r.get();
            if next == end {
                next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            r.set((next + 1, end));
            TensorId(next)
        })
    }
}
