//! Starting under an MPI launcher: the communicator of this process's job (with the `mpi`
//! feature), or a refusal to run as K independent copies (without it), and how a rank
//! leaves on an error.

use nabla::train::distributed::launch::{launch_env, threads_per_rank, LaunchEnv};
use nabla::train::Communicator;
use std::sync::Arc;

/// The ranks of this job: `None` for one process; the MPI world when an MPI launcher
/// started this process as one of several ranks.
pub struct Ranks {
    /// The launcher's environment, if any.
    pub env: Option<LaunchEnv>,
    /// The communicator of a job of several ranks.
    pub comm: Option<Arc<dyn Communicator>>,
}

impl Ranks {
    /// Reads the environment and, for several ranks, initializes MPI.
    ///
    /// Fails (exit 2) when several ranks were launched and this build has no MPI, and (exit
    /// 1) when MPI cannot be initialized.
    pub fn start() -> Result<Ranks, (u8, String)> {
        let env = launch_env();
        let comm = match &env {
            Some(e) if e.size > 1 => Some(world(e)?),
            _ => None,
        };
        Ok(Ranks { env, comm })
    }

    /// Kernel threads when `--threads` is not given: every core, or the ranks' share of the
    /// cores when several ranks run on this host.
    pub fn default_threads(&self) -> Option<usize> {
        let local = self.env.as_ref().filter(|e| e.size > 1)?.local_size?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(threads_per_rank(cores, local))
    }

    /// The outcome of a command every rank ran: an error every rank met at once
    /// (`collective`) is printed by rank 0 alone and every rank exits with its code; an
    /// error of this rank alone is printed with the rank and stops the whole job
    /// (MPI_Abort), so no rank waits for it forever.
    pub fn finish(&self, r: Result<(), (u8, String, bool)>) -> Result<(), (u8, String)> {
        match (r, &self.comm) {
            (Ok(()), _) => Ok(()),
            (Err((code, msg, _)), None) => Err((code, msg)),
            (Err((code, msg, true)), Some(c)) => {
                // rank 0 prints before any rank exits: mpirun stops the job when the first
                // rank exits with an error, which could kill rank 0 before it printed
                if c.rank() == 0 {
                    eprintln!("nabla: {msg}");
                }
                let _ = c.barrier();
                Err((code, String::new()))
            }
            (Err((code, msg, false)), Some(c)) => {
                eprintln!("nabla: rank {}: {msg}", c.rank());
                c.abort(i32::from(code))
            }
        }
    }
}

#[cfg(feature = "mpi")]
fn world(e: &LaunchEnv) -> Result<Arc<dyn Communicator>, (u8, String)> {
    let c = nabla::train::distributed::MpiCommunicator::init().map_err(|x| (1, x.to_string()))?;
    if c.size() != e.size {
        return Err((
            1,
            format!(
                "the launcher set {}={} but MPI has {} ranks (another MPI library than the one \
                 nabla was built with?)",
                e.variable,
                e.size,
                c.size()
            ),
        ));
    }
    Ok(Arc::new(c))
}

#[cfg(not(feature = "mpi"))]
fn world(e: &LaunchEnv) -> Result<Arc<dyn Communicator>, (u8, String)> {
    Err((2, nabla::train::distributed::launch::missing_mpi_message(e)))
}
