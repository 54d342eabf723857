//! The Trainer's data-parallel training over MPI from Rust (feature `mpi`): this test binary
//! launches itself under `mpirun -n 2` and `-n 3`; each rank trains with an
//! `MpiCommunicator`, rank 0 writes its weights, and the test compares them with one
//! process's.
#![cfg(feature = "mpi")]

mod common;

use nabla_train::distributed::MpiCommunicator;
use nabla_train::Communicator;
use std::process::Command;
use std::sync::Arc;

/// The rank's side: runs only when the driver below launched this binary under mpirun.
#[test]
fn mpi_worker() {
    let Ok(out) = std::env::var("NABLA_MPI_WORKER_OUT") else {
        return;
    };
    let comm: Arc<dyn Communicator> = Arc::new(MpiCommunicator::init().unwrap());
    let r = common::train(Some(comm.clone()), false, None);
    // every rank must hold rank 0's weights: compare through the communicator
    let flat: Vec<f64> = r
        .weights
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let mut sum = flat.clone();
    comm.allreduce_sum_f64(&mut sum).unwrap();
    let k = comm.size() as f64;
    let same = flat
        .iter()
        .zip(&sum)
        .all(|(a, s)| (s - k * a).abs() <= 1e-12 * (1.0 + s.abs()));
    if comm.rank() == 0 {
        let text = serde_json::to_string(&serde_json::json!({
            "weights": flat,
            "same_on_every_rank": same,
            "test_loss": r.test.loss,
            "test_accuracy": r.test.accuracy,
            "ranks": comm.size(),
        }))
        .unwrap();
        std::fs::write(out, text).unwrap();
    }
}

#[test]
fn trainer_over_mpi_matches_one_process() {
    if std::env::var("NABLA_MPI_WORKER_OUT").is_ok() {
        return;
    }
    let one = common::train(None, false, None);
    let flat: Vec<f64> = one
        .weights
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let exe = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for k in [2, 3] {
        let out = tmp.path().join(format!("{k}.json"));
        let o = Command::new("mpirun")
            .args(["--allow-run-as-root", "--oversubscribe", "--timeout", "300"])
            .args(["-n", &k.to_string()])
            .arg("-x")
            .arg(format!("NABLA_MPI_WORKER_OUT={}", out.display()))
            .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
            .arg(&exe)
            .args([
                "--exact",
                "mpi_worker",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .output()
            .expect("mpirun runs");
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(v["ranks"], k);
        assert_eq!(v["same_on_every_rank"], true);
        let w: Vec<f64> = v["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(w.len(), flat.len());
        let m = w
            .iter()
            .zip(&flat)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(m <= 1e-5, "{k} ranks: {m}");
        assert!((v["test_loss"].as_f64().unwrap() - one.test.loss).abs() < 1e-5);
        assert_eq!(v["test_accuracy"].as_f64(), one.test.accuracy);
    }
}
