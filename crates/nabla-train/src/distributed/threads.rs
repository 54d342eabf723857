//! [`ThreadGroup`]: K ranks as K threads of one process, for tests and experiments with
//! data-parallel training without MPI.

use super::Communicator;
use crate::trainer::Result;
use crate::Error;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// One collective round: every rank deposits its bytes; the last to arrive publishes them
/// all (in rank order) and every rank takes them.
#[derive(Default)]
struct State {
    round: u64,
    deposits: Vec<Option<Vec<u8>>>,
    arrived: usize,
    published: Option<Arc<Vec<Vec<u8>>>>,
    /// Ranks that have not yet taken the published round.
    readers_left: usize,
    /// Why the group can no longer communicate (a rank left or aborted).
    broken: Option<String>,
}

struct Shared {
    size: usize,
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A group of `size` ranks that live as threads of one process and communicate through
/// shared memory. [`ThreadGroup::new`] gives one [`ThreadComm`] per rank; hand each to its
/// own thread. Sums are computed in rank order, the same on every rank, so runs are
/// bitwise repeatable.
///
/// When a rank's [`ThreadComm`] is dropped (its thread returned, perhaps with an error) or
/// aborts, the collectives the other ranks are waiting in (or call later) fail with
/// [`Error::Comm`] instead of waiting forever.
///
/// ```
/// use nabla_train::distributed::{Communicator, ThreadGroup};
/// let handles: Vec<_> = ThreadGroup::new(3)
///     .into_iter()
///     .map(|c| {
///         std::thread::spawn(move || {
///             let mut v = [c.rank() as f64 + 1.0];
///             c.allreduce_sum_f64(&mut v).unwrap();
///             v[0]
///         })
///     })
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 6.0);
/// }
/// ```
pub struct ThreadGroup;

impl ThreadGroup {
    /// The communicators of a new group of `size` ranks (at least 1), rank 0 first.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(size: usize) -> Vec<ThreadComm> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                deposits: vec![None; size],
                ..State::default()
            }),
            cv: Condvar::new(),
        });
        (0..size)
            .map(|rank| ThreadComm {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }
}

/// One rank of a [`ThreadGroup`].
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadComm {
    /// Deposits `mine` and returns every rank's deposit of this round, in rank order.
    fn exchange(&self, mine: Vec<u8>) -> Result<Arc<Vec<Vec<u8>>>> {
        let sh = &*self.shared;
        let mut st = sh.lock();
        // the previous round must be taken by every rank before this one starts
        while st.readers_left > 0 {
            if let Some(why) = &st.broken {
                return Err(Error::Comm(why.clone()));
            }
            st = sh.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(why) = &st.broken {
            return Err(Error::Comm(why.clone()));
        }
        let round = st.round;
        st.deposits[self.rank] = Some(mine);
        st.arrived += 1;
        if st.arrived == sh.size {
            let all: Vec<Vec<u8>> = st
                .deposits
                .iter_mut()
                .map(|d| d.take().unwrap_or_default())
                .collect();
            st.published = Some(Arc::new(all));
            st.arrived = 0;
            st.readers_left = sh.size;
            st.round += 1;
            sh.cv.notify_all();
        }
        while st.round == round {
            if let Some(why) = &st.broken {
                return Err(Error::Comm(why.clone()));
            }
            st = sh.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let out = st.published.clone().unwrap_or_default();
        st.readers_left -= 1;
        if st.readers_left == 0 {
            sh.cv.notify_all();
        }
        Ok(out)
    }

    fn break_group(&self, why: String) {
        let mut st = self.shared.lock();
        if st.broken.is_none() {
            st.broken = Some(why);
        }
        self.shared.cv.notify_all();
    }

    fn check_len(&self, all: &[Vec<u8>], len: usize) -> Result<()> {
        match all.iter().position(|d| d.len() != len) {
            Some(r) => Err(Error::Comm(format!(
                "rank {r} reduced {} bytes, rank {} {len}",
                all[r].len(),
                self.rank
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for ThreadComm {
    fn drop(&mut self) {
        self.break_group(format!("rank {} left the group", self.rank));
    }
}

impl Communicator for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()> {
        let mine = if self.rank == root {
            buf.clone()
        } else {
            Vec::new()
        };
        let all = self.exchange(mine)?;
        let got = all
            .get(root)
            .ok_or_else(|| Error::Comm(format!("broadcast from rank {root} of {}", self.size())))?;
        buf.clear();
        buf.extend_from_slice(got);
        Ok(())
    }
    fn allreduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let all = self.exchange(buf.iter().flat_map(|v| v.to_le_bytes()).collect())?;
        self.check_len(&all, buf.len() * 4)?;
        buf.fill(0.0);
        for d in all.iter() {
            for (v, c) in buf.iter_mut().zip(d.chunks_exact(4)) {
                *v += f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(())
    }
    fn allreduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let all = self.exchange(buf.iter().flat_map(|v| v.to_le_bytes()).collect())?;
        self.check_len(&all, buf.len() * 8)?;
        buf.fill(0.0);
        for d in all.iter() {
            for (v, c) in buf.iter_mut().zip(d.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                *v += f64::from_le_bytes(b);
            }
        }
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.break_group(format!("rank {} aborted (code {code})", self.rank));
        panic!(
            "rank {} aborted the thread group with code {code}",
            self.rank
        )
    }
}

/// Runs `f` on each of `k` thread ranks and returns their results in rank order (tests).
#[cfg(test)]
pub(crate) fn run_ranks<T: Send + 'static>(
    k: usize,
    f: impl Fn(ThreadComm) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let hs: Vec<_> = ThreadGroup::new(k)
        .into_iter()
        .map(|c| {
            let f = f.clone();
            std::thread::spawn(move || f(c))
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::run_ranks as run;

    #[test]
    fn collectives_agree_on_every_rank_over_many_rounds() {
        let out = run(4, |c| {
            let mut acc = Vec::new();
            for round in 0..200 {
                let mut v = [c.rank() as f32, round as f32];
                c.allreduce_sum_f32(&mut v).unwrap();
                let mut b = if c.rank() == round % 4 {
                    vec![round as u8; round % 7]
                } else {
                    vec![9; 3]
                };
                c.broadcast_bytes(round % 4, &mut b).unwrap();
                let mut f = [0.0f32; 2];
                if c.rank() == 1 {
                    f = [round as f32, 0.5];
                }
                c.broadcast_f32(1, &mut f).unwrap();
                c.barrier().unwrap();
                acc.push((v, b, f));
            }
            acc
        });
        for r in 1..4 {
            assert_eq!(out[r], out[0]);
        }
        for (round, (v, b, f)) in out[0].iter().enumerate() {
            assert_eq!(*v, [6.0, 4.0 * round as f32]);
            assert_eq!(*b, vec![round as u8; round % 7]);
            assert_eq!(*f, [round as f32, 0.5]);
        }
    }

    #[test]
    fn a_rank_that_leaves_makes_the_others_fail_not_wait() {
        let out = run(3, |c| {
            if c.rank() == 2 {
                return None;
            }
            let mut v = [1.0f64];
            Some(c.allreduce_sum_f64(&mut v).unwrap_err().to_string())
        });
        assert!(
            out[0].as_deref().unwrap().contains("rank 2 left"),
            "{out:?}"
        );
        // different lengths are an error, not garbage
        let out = run(2, |c| {
            let mut v = vec![1.0f32; 1 + c.rank()];
            c.allreduce_sum_f32(&mut v).is_err()
        });
        assert_eq!(out, [true, true]);
    }
}
