//! A whole scan as one parallel job: the pool's threads walk the steps together, claiming the
//! blocks of each phase of a step one at a time, and wait for the phase to finish before the
//! next one starts (a barrier made of a done-counter per phase).
//!
//! A recurrence needs such a barrier every step (`h_t` needs all of `h_{t-1}`). With one
//! fork-join per product and per gate pass, a 64-step LSTM paid four fork-joins and four
//! load imbalances per step; here each step of the forward pass is one phase whose blocks do
//! both the product and the gate arithmetic of their hidden units.
//!
//! No deadlock whatever the pool does: a thread waits only for blocks that another thread has
//! claimed and is running, so if the pool's helper is busy or asleep, the caller claims every
//! block itself. Which thread runs a block never changes what it computes, so results are
//! bitwise the same for any thread count.

use crate::parallel::{for_each, threads};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Claim counts (one per task's share of the blocks) and the completion count of one phase
/// of one step.
struct Phase {
    next: Vec<AtomicUsize>,
    done: AtomicUsize,
}

/// Runs `f(step, phase, block)` for every step in `0..steps`, every phase in `0..phases` and
/// every block in `0..blocks`, in order of (step, phase): all blocks of a phase finish before
/// any block of the next phase starts. Blocks of a phase run in parallel across the pool's
/// threads when `parallel` is set. `f` must not panic (a panicking task aborts the process).
///
/// Each task owns a contiguous share of the blocks and claims its own share first, then
/// what is left of the others' shares: so a thread runs the same blocks step after step (and
/// can keep their weights in its own cache), and a thread that falls behind is still helped.
pub(super) fn run(
    steps: usize,
    phases: usize,
    blocks: usize,
    parallel: bool,
    f: impl Fn(usize, usize, usize) + Sync,
) {
    let tasks = if parallel {
        threads().min(blocks).max(1)
    } else {
        1
    };
    if tasks == 1 {
        for s in 0..steps {
            for p in 0..phases {
                for b in 0..blocks {
                    f(s, p, b);
                }
            }
        }
        return;
    }
    // task k's share is blocks share(k)
    let per = blocks.div_ceil(tasks);
    let share = |k: usize| (k * per).min(blocks)..((k + 1) * per).min(blocks);
    let counts: Vec<Phase> = (0..steps * phases)
        .map(|_| Phase {
            next: (0..tasks).map(|_| AtomicUsize::new(0)).collect(),
            done: AtomicUsize::new(0),
        })
        .collect();
    for_each(tasks, &|me| {
        for (i, c) in counts.iter().enumerate() {
            let (s, p) = (i / phases, i % phases);
            for k in (0..tasks).map(|k| (me + k) % tasks) {
                let own = share(k);
                loop {
                    let b = own.start + c.next[k].fetch_add(1, Ordering::Relaxed);
                    if b >= own.end {
                        break;
                    }
                    f(s, p, b);
                    c.done.fetch_add(1, Ordering::Release);
                }
            }
            let mut spins = 0u32;
            while c.done.load(Ordering::Acquire) < blocks {
                wait_a_little(&mut spins);
            }
        }
    });
}

/// One turn of a spin wait, `spins` counting the turns: every 1024th turn yields the CPU,
/// since the thread waited for may have lost its own.
fn wait_a_little(spins: &mut u32) {
    std::hint::spin_loop();
    *spins = spins.wrapping_add(1);
    if spins.is_multiple_of(1024) {
        std::thread::yield_now();
    }
}

/// The progress of one lane of [`lanes`]: steps done, and whether a thread is running one.
struct Lane {
    done: AtomicUsize,
    busy: AtomicBool,
}

/// Runs `f(lane, step)` for every lane in `0..lanes` and step in `0..steps`, the steps of a
/// lane in order and never two at once, the lanes independent of each other: no lane waits
/// for another, so there is no barrier at all. Each task owns a contiguous share of the
/// lanes and runs their next steps while it can; when its own lanes are finished, or held
/// by another thread, it takes the next step of any lane that is free, so a thread that
/// loses its CPU (or starts late) holds up only the lane whose step it is in, until it
/// finishes that step; its other lanes go on without it. A step's writes
/// are visible to whichever thread runs the lane's next step. `f` must not panic.
pub(super) fn lanes(lanes: usize, steps: usize, f: impl Fn(usize, usize) + Sync) {
    let tasks = threads().min(lanes).max(1);
    if tasks == 1 {
        for l in 0..lanes {
            for s in 0..steps {
                f(l, s);
            }
        }
        return;
    }
    let state: Vec<Lane> = (0..lanes)
        .map(|_| Lane {
            done: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
        })
        .collect();
    let per = lanes.div_ceil(tasks);
    for_each(tasks, &|me| {
        // own lanes first, then the others in order
        let order: Vec<usize> = (0..lanes).map(|i| (me * per + i) % lanes).collect();
        let mut spins = 0u32;
        loop {
            let mut unfinished = false;
            let mut ran = false;
            for &l in &order {
                let lane = &state[l];
                if lane.done.load(Ordering::Acquire) >= steps {
                    continue;
                }
                unfinished = true;
                if lane
                    .busy
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                let s = lane.done.load(Ordering::Acquire);
                if s < steps {
                    f(l, s);
                    lane.done.store(s + 1, Ordering::Release);
                    ran = true;
                }
                lane.busy.store(false, Ordering::Release);
                if ran {
                    // back to the own lanes first
                    break;
                }
            }
            if !unfinished {
                return;
            }
            if !ran {
                wait_a_little(&mut spins);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn phases_run_in_order_and_every_block_once() {
        for parallel in [false, true] {
            let log = Mutex::new(Vec::new());
            run(5, 2, 3, parallel, |s, p, b| {
                log.lock().unwrap().push((s, p, b));
            });
            let log = log.into_inner().unwrap();
            assert_eq!(log.len(), 30);
            // phase order: every entry of (s, p) comes before any of a later (s, p)
            let keys: Vec<usize> = log.iter().map(|&(s, p, _)| s * 2 + p).collect();
            assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{log:?}");
            let mut sorted = log.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 30);
        }
    }

    #[test]
    fn lanes_run_each_step_once_in_order() {
        let log = Mutex::new(Vec::new());
        lanes(3, 50, |l, s| log.lock().unwrap().push((l, s)));
        let log = log.into_inner().unwrap();
        assert_eq!(log.len(), 150);
        for l in 0..3 {
            let steps: Vec<usize> = log.iter().filter(|e| e.0 == l).map(|e| e.1).collect();
            assert_eq!(steps, (0..50).collect::<Vec<_>>(), "lane {l}");
        }
    }
}
