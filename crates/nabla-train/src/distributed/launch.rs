//! How this process was started: by an MPI launcher (`mpirun`, `mpiexec`, `srun`) as one
//! of several ranks, or alone. Read from the environment the launchers set, so a build
//! without the `mpi` feature can refuse to run as K independent copies.

/// What an MPI launcher told this process through its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// Ranks in the job.
    pub size: usize,
    /// This process's rank, when the launcher says.
    pub rank: Option<usize>,
    /// Ranks on this host, when the launcher says.
    pub local_size: Option<usize>,
    /// The variable the size came from (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, ...).
    pub variable: &'static str,
}

/// (size, rank, local size) variables of the launchers: Open MPI, MPICH / Intel MPI /
/// Slurm's PMI, MVAPICH.
const LAUNCHERS: &[(&str, &str, &str)] = &[
    (
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE",
    ),
    ("PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS"),
    (
        "MV2_COMM_WORLD_SIZE",
        "MV2_COMM_WORLD_RANK",
        "MV2_COMM_WORLD_LOCAL_SIZE",
    ),
];

/// The launch environment found by `var` (a lookup such as `std::env::var`): the first
/// launcher whose size variable holds a positive number.
pub fn launch_env_from(var: impl Fn(&str) -> Option<String>) -> Option<LaunchEnv> {
    let num = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
    LAUNCHERS.iter().find_map(|&(s, r, l)| {
        let size = num(s).filter(|&n| n > 0)?;
        Some(LaunchEnv {
            size,
            rank: num(r),
            local_size: num(l).filter(|&n| n > 0),
            variable: s,
        })
    })
}

/// The launch environment of this process (see [`launch_env_from`]); `None` when no MPI
/// launcher started it.
pub fn launch_env() -> Option<LaunchEnv> {
    launch_env_from(|k| std::env::var(k).ok())
}

/// The message for a process that an MPI launcher started as one of `env.size > 1` ranks
/// while this build has no MPI: each rank would train alone and write the same run folder.
pub fn missing_mpi_message(env: &LaunchEnv) -> String {
    format!(
        "started by an MPI launcher as {} of {} ranks ({}={}), but this nabla was built \
         without MPI, so each rank would train alone and write the same run folder; build it \
         with `cargo build --release -p nabla-dl-cli --features mpi` (needs an MPI library such \
         as Debian's libopenmpi-dev, and libclang-dev) or run a single process",
        env.rank
            .map_or_else(|| "one".to_string(), |r| format!("rank {r}")),
        env.size,
        env.variable,
        env.size
    )
}

/// Kernel threads for each of `local_size` ranks sharing a host of `cores` cores: an even
/// share, at least 1.
pub fn threads_per_rank(cores: usize, local_size: usize) -> usize {
    (cores / local_size.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Option<LaunchEnv> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        launch_env_from(|k| m.get(k).cloned())
    }

    #[test]
    fn launchers_are_recognized_from_their_variables() {
        assert_eq!(env(&[]), None);
        assert_eq!(env(&[("OMPI_COMM_WORLD_SIZE", "0")]), None);
        assert_eq!(env(&[("OMPI_COMM_WORLD_SIZE", "x")]), None);
        let e = env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"),
        ])
        .unwrap();
        assert_eq!((e.size, e.rank, e.local_size), (4, Some(3), Some(2)));
        let e = env(&[("PMI_SIZE", "2"), ("PMI_RANK", "1")]).unwrap();
        assert_eq!((e.size, e.rank, e.variable), (2, Some(1), "PMI_SIZE"));
        let m = missing_mpi_message(&e);
        assert!(
            m.contains("rank 1 of 2 ranks") && m.contains("--features mpi"),
            "{m}"
        );
        assert_eq!(threads_per_rank(16, 4), 4);
        assert_eq!(threads_per_rank(2, 3), 1);
        assert_eq!(threads_per_rank(2, 0), 2);
    }
}
