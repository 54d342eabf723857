//! Data-parallel training: K processes train one model, each on its part of every batch,
//! and average their gradients before every optimizer step (as PyTorch's
//! `DistributedDataParallel` and Horovod do).
//!
//! The processes talk through a [`Communicator`]: [`SingleProcess`] (one process, no
//! communication), [`ThreadGroup`] (K threads of one process, for tests and experiments),
//! and, with the cargo feature `mpi`, `MpiCommunicator` over the system's MPI library
//! (`mpirun -n K nabla train CONFIG`; see `docs/distributed.md`).
//!
//! What a [`crate::Trainer`] given a communicator of K > 1 ranks does
//! ([`crate::Trainer::with_communicator`]):
//! - at the start of `fit`, rank 0's parameters and buffers are broadcast, and every rank
//!   checks that it holds rank 0's training state (optimizer, counters, random streams, data
//!   cursor); a rank that differs stops every rank;
//! - each rank trains on its slice of every whole batch (a loader with
//!   [`nabla_data::Shard`]); dropout masks are the whole batch's rows
//!   ([`nabla_nn::BatchShard`]);
//! - the gradients are summed over the ranks in buckets ([`GradAverager`]), each rank's
//!   weighed by its share of the batch (`n_r / B`), so the result is the mean gradient of the
//!   whole batch even when the slices differ in size; clipping, the gradient-health records
//!   and the optimizer step all see that averaged gradient;
//! - the loss and accuracy sums of training, validation and testing are reduced over the
//!   ranks (sums of per-sample losses and counts, then divided), so the reported numbers are
//!   those of one process up to float summation order;
//! - BatchNorm normalizes with each rank's own batch statistics (PyTorch DDP without
//!   `SyncBatchNorm`); rank 0's running statistics are broadcast before every evaluation
//!   (DDP's `broadcast_buffers`) and are the ones saved;
//! - rank 0 alone prints progress and writes the run folder.
//!
//! A step that can fail on some ranks only (reading a file, a config that differs) goes
//! through [`agree`]: every rank learns that some rank failed and returns the same
//! [`crate::Error::AllRanks`] error, instead of the others waiting forever in the next
//! collective.

mod agree;
mod grad_sync;
pub mod launch;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod threads;

pub use agree::{agree, broadcast_tensors, check_same_state, check_same_text, fingerprint};
pub use grad_sync::{GradAverager, DEFAULT_BUCKET_BYTES};
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiCommunicator;
pub use threads::{ThreadComm, ThreadGroup};

use crate::trainer::Result;

/// The collective operations data-parallel training needs, between `size()` processes (or
/// threads) numbered `0..size()`. Every rank must call the same operations in the same
/// order with buffers of the same lengths (except [`Communicator::broadcast_bytes`], whose
/// receivers take the root's length); sums are computed in the same order on every rank, so
/// every rank gets bitwise the same result.
///
/// Implementations: [`SingleProcess`], [`ThreadGroup`], and with the `mpi` feature
/// `MpiCommunicator`.
pub trait Communicator: Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks (at least 1).
    fn size(&self) -> usize;
    /// Replaces `buf` on every rank by the root's bytes (any length).
    ///
    /// Fails when the communication fails.
    fn broadcast_bytes(&self, root: usize, buf: &mut Vec<u8>) -> Result<()>;
    /// Replaces `buf` on every rank by the root's values (the same length on every rank).
    ///
    /// Fails when the communication fails or the lengths differ.
    fn broadcast_f32(&self, root: usize, buf: &mut [f32]) -> Result<()> {
        let mut bytes: Vec<u8> = buf.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.broadcast_bytes(root, &mut bytes)?;
        if bytes.len() != buf.len() * 4 {
            return Err(crate::Error::Comm(format!(
                "broadcast of {} values received {} bytes",
                buf.len(),
                bytes.len()
            )));
        }
        for (v, c) in buf.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    ///
    /// Fails when the communication fails.
    fn allreduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;
    /// Replaces `buf` on every rank by the element-wise sum of every rank's `buf`.
    ///
    /// Fails when the communication fails.
    fn allreduce_sum_f64(&self, buf: &mut [f64]) -> Result<()>;
    /// Waits until every rank has called it.
    ///
    /// Fails when the communication fails.
    fn barrier(&self) -> Result<()> {
        self.allreduce_sum_f64(&mut [0.0])
    }
    /// Stops every rank at once with exit code `code` (MPI_Abort): for an error on one rank
    /// that the others cannot learn about, which would otherwise leave them waiting.
    fn abort(&self, code: i32) -> !;
}

/// One process: rank 0 of 1; every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn broadcast_bytes(&self, _root: usize, _buf: &mut Vec<u8>) -> Result<()> {
        Ok(())
    }
    fn broadcast_f32(&self, _root: usize, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn allreduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn allreduce_sum_f64(&self, _buf: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_is_the_identity() {
        let c = SingleProcess;
        assert_eq!((c.rank(), c.size()), (0, 1));
        let mut b = vec![1u8, 2];
        c.broadcast_bytes(0, &mut b).unwrap();
        assert_eq!(b, [1, 2]);
        let mut f = [1.5f32, -2.0];
        c.allreduce_sum_f32(&mut f).unwrap();
        c.broadcast_f32(0, &mut f).unwrap();
        assert_eq!(f, [1.5, -2.0]);
        let mut d = [3.0f64];
        c.allreduce_sum_f64(&mut d).unwrap();
        assert_eq!(d, [3.0]);
        c.barrier().unwrap();
    }
}
