//! The pooling kernels: plain loops over `[h, w]` planes, split across threads by whole planes
//! (so every element is computed by one thread in one fixed order, for any thread count).
//! [`windows`] describes what a pooling reads, [`max`] and [`avg`] run it, and
//! [`max_2x2_avx512`] is the 2x2, stride-2 max pooling of CNNs in AVX-512.

mod avg;
mod max;
mod max_2x2_avx512;
mod windows;

pub(crate) use avg::{avg_pool, avg_pool_backward};
pub(crate) use max::{max_pool, max_pool_backward};
pub(crate) use windows::{AvgWindows, MaxWindows};

use crate::cpu::PAR_THRESHOLD;
use crate::parallel::{for_ranges, threads};
use std::ops::Range;

/// Runs `f` on ranges of the `planes` planes covering them once, in parallel (whole planes
/// per task) when `work` elements are many.
fn per_planes(planes: usize, work: usize, f: impl Fn(Range<usize>) + Sync) {
    if work >= PAR_THRESHOLD && threads() > 1 && planes > 1 {
        for_ranges(planes, 1, f);
    } else if planes > 0 {
        f(0..planes);
    }
}
