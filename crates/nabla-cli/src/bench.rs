//! `nabla bench`: the benchmark workloads W1-W8 of `nabla::experiment::bench`, one JSON
//! object per line.
//!
//! Under `mpirun -n K` (feature `mpi`) W2, W3, W4 and W8 run data-parallel and rank 0
//! prints.

use clap::Args;
use nabla::experiment::bench::{Bench, BenchOptions};
use nabla::train::Communicator;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (W1 to W10); all when none are named (W8 only with --data or
    /// NABLA_DATA).
    workloads: Vec<String>,
    /// Threads for the kernels (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// W1 only: the matrix sizes (default 128 256 512 1024 2048).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// W2 only: batch sizes (default 64 256).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    batches: Option<Vec<usize>>,
    /// W8: the MNIST folder (or NABLA_DATA).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// `nabla bench`; `comm` under mpirun with several ranks, `default_threads` their share of
/// the cores. A request that cannot run is exit 2, a workload that fails exit 1.
pub fn run(
    args: &BenchArgs,
    comm: Option<Arc<dyn Communicator>>,
    default_threads: Option<usize>,
) -> Result<(), (u8, String)> {
    let opts = BenchOptions {
        workloads: args.workloads.clone(),
        threads: args.threads.or(default_threads),
        sizes: args.sizes.clone(),
        batches: args.batches.clone(),
        data: args.data.clone(),
    };
    let mut bench = Bench::new(&opts, comm).map_err(|e| (2, e.to_string()))?;
    bench
        .run(&mut |r| println!("{}", r.to_json()))
        .map_err(|e| (1, e.to_string()))
}
