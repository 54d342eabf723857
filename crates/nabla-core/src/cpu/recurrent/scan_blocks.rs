//! How a scan's work is cut: fixed blocks of hidden units, and in row mode lanes of batch
//! rows (by the shapes and, only where that cannot change a result, the thread count).

use crate::parallel::threads;
use std::ops::Range;

/// Products of at least this many multiply-adds are split across threads.
pub(super) const PAR_FLOPS: usize = 1 << 17;
/// Hidden units per block of a scan step (fixed, so results do not depend on the threads).
pub(super) const UNITS: usize = 64;

/// Fewest batch rows per lane of a scan in row mode.
const MIN_ROWS: usize = 8;
/// Lanes per thread in row mode: two, so that a thread that runs ahead can take the steps
/// of a lane whose owner is busy with its other one.
const LANES_PER_THREAD: usize = 2;

/// The batch rows of each lane of a scan in row mode, or `None` for unit mode. A row's
/// recurrence never reads another row, so in row mode the rows are cut into lanes, each a
/// sequence of whole steps for its rows, run by the threads with no barrier per step
/// ([`super::scan_team::lanes`]) and no `h_{t-1}` from another core (measured faster on W5: see
/// `docs/performance.md`). Unit mode (all rows, the blocks of units shared by a
/// [`super::scan_team`] that waits at every step) is left for a batch too small to split and
/// one thread, and for the `gemm` crate's products (`allowed` false): the packed panels compute
/// each row the same way in a call of any number of rows, so on them the two modes give the
/// same bits and the split may follow the thread count.
pub(super) fn row_groups(n: usize, allowed: bool) -> Option<Vec<Range<usize>>> {
    let lanes = (LANES_PER_THREAD * threads()).min(n / MIN_ROWS);
    (allowed && threads() >= 2 && lanes >= 2).then(|| {
        (0..lanes)
            .map(|k| k * n / lanes..(k + 1) * n / lanes)
            .collect()
    })
}

/// The fixed blocks of hidden units: `UNITS` each, the last one shorter.
pub(super) fn unit_blocks(h: usize) -> Vec<Range<usize>> {
    (0..h.div_ceil(UNITS))
        .map(|b| b * UNITS..((b + 1) * UNITS).min(h))
        .collect()
}
