//! [`MpiCommunicator`]: the collectives over the system's MPI library (the `mpi` crate, on
//! Open MPI or MPICH), behind the cargo feature `mpi`.

use super::Communicator;
use crate::trainer::Result;
use crate::Error;
use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};
use ::mpi::Threading;
use std::sync::{Mutex, MutexGuard};

/// Elements per MPI call (MPI counts are C ints).
const CHUNK: usize = 1 << 28;

/// The world communicator of an MPI job (`MPI_COMM_WORLD`), initialized with
/// `MPI_THREAD_SERIALIZED`; every call takes a lock, so the communicator may be shared
/// between threads. MPI is finalized when it is dropped (once per process: MPI cannot be
/// initialized again).
///
/// MPI's default error handler is kept: a failed communication (a peer that died, a
/// network error) aborts the job rather than returning, so a rank never waits for a dead
/// one; Open MPI's `mpirun` also stops every rank when one exits abnormally.
pub struct MpiCommunicator {
    universe: Universe,
    rank: usize,
    size: usize,
    /// Serializes the calls; holds the send copy of in-place reductions.
    scratch: Mutex<(Vec<f32>, Vec<f64>)>,
}

impl std::fmt::Debug for MpiCommunicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiCommunicator")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl MpiCommunicator {
    /// Initializes MPI (`MPI_Init_thread`) and returns the world communicator.
    ///
    /// Fails when MPI was initialized before in this process or the library cannot give
    /// `MPI_THREAD_SERIALIZED`.
    pub fn init() -> Result<Self> {
        let (universe, threading) = ::mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Comm("MPI is already initialized in this process".into()))?;
        if !matches!(threading, Threading::Serialized | Threading::Multiple) {
            return Err(Error::Comm(format!(
                "the MPI library offers thread level {threading:?}, nabla needs Serialized"
            )));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(MpiCommunicator {
            universe,
            rank,
            size,
            scratch: Mutex::new((Vec::new(), Vec::new())),
        })
    }

    fn world(&self) -> SimpleCommunicator {
        self.universe.world()
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<f32>, Vec<f64>)> {
        self.scratch.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn root(&self, root: usize) -> Result<i32> {
        if root >= self.size {
            return Err(Error::Comm(format!(
                "broadcast from rank {root} of {}",
                self.size
            )));
        }
        Ok(root as i32)
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()> {
        let r = self.root(root)?;
        let _g = self.lock();
        let world = self.world();
        let p = world.process_at_rank(r);
        let mut len = buf.len() as u64;
        p.broadcast_into(&mut len);
        buf.resize(len as usize, 0);
        for c in buf.chunks_mut(CHUNK) {
            p.broadcast_into(c);
        }
        Ok(())
    }
    fn broadcast_f32(&self, root: usize, buf: &mut [f32]) -> Result<()> {
        let r = self.root(root)?;
        let _g = self.lock();
        let world = self.world();
        let p = world.process_at_rank(r);
        for c in buf.chunks_mut(CHUNK) {
            p.broadcast_into(c);
        }
        Ok(())
    }
    fn allreduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let mut g = self.lock();
        let world = self.world();
        for c in buf.chunks_mut(CHUNK) {
            g.0.clear();
            g.0.extend_from_slice(c);
            world.all_reduce_into(&g.0[..], c, SystemOperation::sum());
        }
        Ok(())
    }
    fn allreduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let mut g = self.lock();
        let world = self.world();
        for c in buf.chunks_mut(CHUNK) {
            g.1.clear();
            g.1.extend_from_slice(c);
            world.all_reduce_into(&g.1[..], c, SystemOperation::sum());
        }
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        let _g = self.lock();
        self.world().barrier();
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.world().abort(code)
    }
}
