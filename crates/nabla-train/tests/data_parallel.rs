//! Data-parallel training with the Trainer's communicator hook, on ranks that are threads
//! ([`ThreadGroup`]): the same model as one process up to summation order, bitwise
//! repeatable, every rank in step, rank 0 alone writing.

mod common;

use common::{train, Outcome};
use nabla_testkit::max_diff;
use nabla_train::distributed::ThreadGroup;
use nabla_train::Communicator;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs `train` on `k` thread ranks; rank r writes into `out/r` when `out` is given.
fn threads(k: usize, batch_norm: bool, out: Option<PathBuf>) -> Vec<Outcome> {
    let hs: Vec<_> = ThreadGroup::new(k)
        .into_iter()
        .map(|c| {
            let out = out.as_ref().map(|o| o.join(c.rank().to_string()));
            std::thread::spawn(move || {
                let c: Arc<dyn Communicator> = Arc::new(c);
                train(Some(c), batch_norm, out)
            })
        })
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn ranks_train_the_single_process_model_up_to_summation_order() {
    let one = train(None, false, None);
    for k in [2, 3, 4] {
        let ranks = threads(k, false, None);
        for r in &ranks[1..] {
            assert_eq!(r.weights, ranks[0].weights, "ranks drifted apart");
            assert_eq!(r.test, ranks[0].test);
            assert_eq!(r.train_loss, ranks[0].train_loss);
        }
        let m = max_diff(&one.weights, &ranks[0].weights);
        assert!(m <= 1e-5, "{k} ranks: {m}");
        assert!((one.test.loss - ranks[0].test.loss).abs() < 1e-5);
        assert_eq!(one.test.accuracy, ranks[0].test.accuracy);
        assert_eq!(one.test.samples, ranks[0].test.samples);
        for (a, b) in one.train_loss.iter().zip(&ranks[0].train_loss) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
        assert_eq!(ranks[0].steps, one.steps);
    }
    // the same number of ranks again: bitwise the same
    let a = threads(3, false, None);
    let b = threads(3, false, None);
    assert_eq!(a[0].weights, b[0].weights);
}

#[test]
fn batch_norm_keeps_per_rank_statistics_and_rank_0_writes_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ranks = threads(2, true, Some(d.to_path_buf()));
    // every rank applies the same averaged step; the running statistics are rank 0's
    assert_eq!(ranks[0].weights, ranks[1].weights);
    assert_eq!(ranks[0].test, ranks[1].test);
    // normalizing with half-batch statistics is another model than one process's
    let one = train(None, true, None);
    assert!(max_diff(&one.weights, &ranks[0].weights) > 1e-6);
    assert!(d.join("0/metrics.jsonl").exists() && d.join("0/health.jsonl").exists());
    assert!(d.join("0/checkpoints").is_dir());
    assert!(!d.join("1").exists(), "rank 1 wrote a folder");
}
