//! Data parallelism for nabla's kernels: a tiny fork-join pool whose helper threads spin for
//! a while between jobs, and helpers that split slices across it.
//!
//! The number of tasks an op splits into is rayon's current thread count ([`threads`]), so
//! `ThreadPool::install` and `nabla train --threads N` set it; kernels split work at fixed
//! chunk boundaries, so results are bitwise the same for any thread count.
//!
//! Why not rayon: its idle workers go to sleep after a few
//! microseconds, and on the virtual machines we measure on, waking a sleeping CPU costs 20 to
//! 170 µs (measured with a `rayon::join` after an idle gap). A training step of a small MLP
//! runs a product every 50-200 µs with sequential work in between, so with rayon every
//! product paid a wake-up and splitting it did not pay. These helpers keep spinning (yielding
//! now and then, so other threads still get the CPU) for 5 ms after their last job, like
//! OpenMP's workers do, then sleep on a condition variable.
//!
//! Only one job runs at a time: a caller that finds the pool busy runs its tasks itself.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper spins before it sleeps.
const SPIN: Duration = Duration::from_millis(5);

/// One fork-join job: tasks `0..n`, claimed one at a time.
struct Job {
    next: AtomicUsize,
    done: AtomicUsize,
    n: usize,
    /// The caller's closure, lifetime erased. Only called for a claimed index `< n`, and the
    /// caller does not return before all `n` tasks are done, so it is alive whenever called.
    f: *const (dyn Fn(usize) + Sync),
}

// SAFETY: `f` points to a `Sync` closure (see the field's comment for its lifetime).
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

impl Job {
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                return;
            }
            // SAFETY: i < n is claimed and not yet done, so the caller is still waiting and
            // the closure is alive.
            let f = unsafe { &*self.f };
            // A task that unwinds would leave the caller waiting (or its closure dangling).
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
                std::process::abort();
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Locks `m`; no code that can panic runs under these locks, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Pool {
    /// Helper threads running (the caller is the other worker).
    helpers: AtomicUsize,
    busy: AtomicBool,
    epoch: AtomicU64,
    job: Mutex<Option<Arc<Job>>>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let wanted = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            helpers: AtomicUsize::new(0),
            busy: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        for i in 0..wanted {
            let spawned = std::thread::Builder::new()
                .name(format!("nabla-spin-{i}"))
                .spawn(move || helper(pool));
            if spawned.is_ok() {
                pool.helpers.fetch_add(1, Ordering::Relaxed);
            }
        }
        pool
    })
}

fn helper(pool: &'static Pool) {
    let mut seen = 0;
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = pool.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) {
                if idle_since.elapsed() > SPIN {
                    let mut g = lock(&pool.lock);
                    pool.sleepers.fetch_add(1, Ordering::SeqCst);
                    while pool.epoch.load(Ordering::Acquire) == seen {
                        g = pool.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                    }
                    pool.sleepers.fetch_sub(1, Ordering::SeqCst);
                    seen = pool.epoch.load(Ordering::Acquire);
                    break;
                }
                std::thread::yield_now();
            }
        }
        let job = lock(&pool.job).clone();
        if let Some(job) = job {
            job.work();
        }
    }
}

/// How many tasks a parallel kernel splits into: rayon's current thread count.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Splits `0..len` into at most [`threads`] contiguous ranges whose bounds are multiples of
/// `align` (except the end) and runs `f` on each, in parallel. Tasks must not panic: a
/// panicking task aborts the process.
pub fn for_ranges(len: usize, align: usize, f: impl Fn(Range<usize>) + Sync) {
    let align = align.max(1);
    let units = len.div_ceil(align);
    let tasks = threads().min(units).max(1);
    let per = units.div_ceil(tasks) * align;
    for_each(tasks, &|t| {
        let r = (t * per).min(len)..((t + 1) * per).min(len);
        if !r.is_empty() {
            f(r)
        }
    });
}

/// A mutable slice that parallel tasks write in disjoint ranges.
pub struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: it hands out `&mut [T]` to other threads, which needs `T: Send`; the disjointness of
// the ranges is the contract of `SharedMut::range`.
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}
unsafe impl<T: Send> Send for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    /// Wraps a slice for the duration of a parallel loop.
    pub fn new(s: &'a mut [T]) -> Self {
        SharedMut {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _slice: PhantomData,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in `r`.
    ///
    /// # Safety
    /// Ranges obtained while any of them is alive must not overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: Range<usize>) -> &'a mut [T] {
        assert!(r.start <= r.end && r.end <= self.len, "range out of bounds");
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }

    /// The elements in `r`, to read.
    ///
    /// # Safety
    /// No range obtained with [`SharedMut::range`] that overlaps `r` may be alive while the
    /// returned slice is.
    pub unsafe fn get(&self, r: std::ops::Range<usize>) -> &'a [T] {
        assert!(r.start <= r.end && r.end <= self.len, "range out of bounds");
        // SAFETY: in bounds (checked); not written meanwhile by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(r.start), r.len()) }
    }

    /// The start of the slice, for kernels that write disjoint strided elements (which no
    /// range of [`SharedMut::range`] can describe).
    pub fn as_mut_ptr(&self) -> *mut T {
        self.ptr
    }
}

/// Runs `f(0)`, ..., `f(n - 1)` on the caller and the pool's helpers and returns when all are
/// done. Tasks must not panic: a panicking task aborts the process.
pub fn for_each(n: usize, f: &(dyn Fn(usize) + Sync)) {
    let pool = if n > 1 { Some(pool()) } else { None };
    let Some(pool) = pool.filter(|p| {
        p.helpers.load(Ordering::Relaxed) > 0
            && p.busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }) else {
        (0..n).for_each(f);
        return;
    };
    // SAFETY: only the lifetime is erased; see `Job::f`.
    let f: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
    let job = Arc::new(Job {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        n,
        f,
    });
    *lock(&pool.job) = Some(job.clone());
    {
        let _g = lock(&pool.lock);
        pool.epoch.fetch_add(1, Ordering::Release);
    }
    if pool.sleepers.load(Ordering::SeqCst) > 0 {
        pool.wake.notify_all();
    }
    job.work();
    while job.done.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
    *lock(&pool.job) = None;
    pool.busy.store(false, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_task_once() {
        for n in [0usize, 1, 2, 3, 17] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for_each(n, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "n = {n}"
            );
        }
    }

    #[test]
    fn ranges_cover_everything_once_on_aligned_bounds() {
        for (len, align) in [(0usize, 4usize), (1, 4), (10, 4), (1000, 64), (7, 1)] {
            let mut hits = vec![0u8; len];
            let h = SharedMut::new(&mut hits);
            for_ranges(len, align, |r| {
                assert!(r.start % align == 0);
                // SAFETY: for_ranges hands out disjoint ranges.
                for x in unsafe { h.range(r) } {
                    *x += 1;
                }
            });
            assert!(hits.iter().all(|&x| x == 1), "len {len} align {align}");
        }
    }

    #[test]
    fn concurrent_callers_are_served() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        for_each(4, &|i| {
                            total.fetch_add(i + 1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 200 * 10);
    }
}
