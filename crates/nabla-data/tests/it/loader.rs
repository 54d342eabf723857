//! DataLoader: exact resume from any cursor, prefetch determinism, errors, early drop.

use nabla_core::Tensor;
use nabla_data::{Batch, Cursor, DataLoader, Dataset, LoaderConfig, Result, Subset, TensorDataset};
use std::sync::Arc;
use std::time::Duration;

fn ds(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n * 3).map(|v| v as f32 * 0.5).collect();
    let y: Vec<i64> = (0..n as i64).map(|v| v % 4).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[n, 3]).unwrap(),
        Tensor::from_vec(y, &[n]).unwrap(),
    )
    .unwrap()
}

/// What one `next_batch` call gave: `None` at an epoch end, else the batch's content.
type Event = Option<(Vec<usize>, Vec<f32>, Vec<i64>)>;

fn event(b: Option<Result<Batch>>) -> Event {
    b.map(|b| {
        let b = b.unwrap();
        (
            b.indices.clone(),
            b.x.to_vec::<f32>().unwrap(),
            b.y.to_vec::<i64>().unwrap(),
        )
    })
}

fn run(l: &mut DataLoader, k: usize) -> Vec<Event> {
    (0..k).map(|_| event(l.next_batch())).collect()
}

#[test]
fn resuming_from_any_cursor_gives_the_uninterrupted_batches() {
    for prefetch in [0, 1, 3] {
        for drop_last in [false, true] {
            let cfg = LoaderConfig::new(4)
                .with_shuffle(true)
                .with_seed(1234)
                .with_drop_last(drop_last)
                .with_prefetch(prefetch);
            let mut reference_loader = DataLoader::new(ds(11), cfg.clone()).unwrap();
            let per_epoch = reference_loader.len() + 1; // batches + the epoch's end
            let total = 3 * per_epoch;
            let reference = run(&mut reference_loader, total);
            assert_eq!(reference.iter().filter(|e| e.is_none()).count(), 3);
            for k in 0..=total {
                let mut a = DataLoader::new(ds(11), cfg.clone()).unwrap();
                let head = run(&mut a, k);
                assert_eq!(head[..], reference[..k]);
                // the cursor travels as plain numbers
                let saved = a.cursor().to_array();
                drop(a);
                // a fresh loader with another seed: the cursor's seed wins
                let mut b = DataLoader::new(ds(11), cfg.clone().with_seed(1)).unwrap();
                b.resume(Cursor::from_array(saved)).unwrap();
                let tail = run(&mut b, total - k);
                assert_eq!(
                    tail[..],
                    reference[k..],
                    "prefetch {prefetch}, drop_last {drop_last}, cut after {k} calls"
                );
            }
        }
    }
}

#[test]
fn epochs_are_permutations_and_depend_only_on_seed_and_epoch() {
    let cfg = LoaderConfig::new(5).with_shuffle(true).with_seed(3);
    let mut l = DataLoader::new(ds(23), cfg.clone()).unwrap();
    let mut epochs = Vec::new();
    for _ in 0..3 {
        let mut seen: Vec<usize> = Vec::new();
        for b in l.epoch_iter() {
            seen.extend(b.unwrap().indices);
        }
        epochs.push(seen);
    }
    for e in &epochs {
        let mut s = e.clone();
        s.sort();
        assert_eq!(s, (0..23).collect::<Vec<_>>());
    }
    assert_ne!(epochs[0], epochs[1]);
    // jumping straight to epoch 2 gives the same order
    let mut m = DataLoader::new(ds(23), cfg).unwrap();
    m.set_epoch(2);
    let direct: Vec<usize> = m.epoch_iter().flat_map(|b| b.unwrap().indices).collect();
    assert_eq!(direct, epochs[2]);
    assert_eq!(m.epoch_order(2), epochs[2]);
}

/// A dataset whose batches take a varying, pseudo-random time to make.
struct Jittery(TensorDataset);

impl Dataset for Jittery {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
        self.0.get(i)
    }
    fn get_batch(&self, idx: &[usize]) -> Result<Batch> {
        let us = (idx.iter().sum::<usize>() * 7919) % 700;
        std::thread::sleep(Duration::from_micros(us as u64));
        self.0.get_batch(idx)
    }
}

#[test]
fn prefetch_output_does_not_depend_on_timing() {
    let base = LoaderConfig::new(3).with_shuffle(true).with_seed(77);
    let mut sync = DataLoader::new(ds(20), base.clone().with_prefetch(0)).unwrap();
    let want = run(&mut sync, 30);
    for prefetch in [1, 2, 8] {
        let mut l = DataLoader::new(Jittery(ds(20)), base.clone().with_prefetch(prefetch)).unwrap();
        let mut got = Vec::new();
        for i in 0..30 {
            if i % 5 == 0 {
                // a slow consumer lets the thread fill the channel
                std::thread::sleep(Duration::from_millis(2));
            }
            got.push(event(l.next_batch()));
        }
        assert_eq!(got, want, "prefetch {prefetch}");
    }
}

/// Fails on any batch holding sample `bad`.
struct Failing {
    inner: TensorDataset,
    bad: usize,
}

impl Dataset for Failing {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
        if i == self.bad {
            return Err(nabla_data::Error::Format {
                file: "sample".into(),
                msg: format!("sample {i} is broken"),
            });
        }
        self.inner.get(i)
    }
}

#[test]
fn a_failing_batch_is_an_error_and_the_position_stays() {
    for prefetch in [0, 2] {
        let cfg = LoaderConfig::new(2).with_prefetch(prefetch);
        let mut l = DataLoader::new(
            Failing {
                inner: ds(6),
                bad: 3,
            },
            cfg,
        )
        .unwrap();
        assert!(l.next_batch().unwrap().is_ok());
        let e = l.next_batch().unwrap().unwrap_err().to_string();
        assert_eq!(e, "sample: sample 3 is broken");
        assert_eq!(l.cursor().position, 1);
        // the same error again, not a skipped batch
        assert!(l.next_batch().unwrap().is_err());
        // the epoch iterator stops after the error
        let items: Vec<_> = l.epoch_iter().collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        // skip past the broken batch
        l.resume(Cursor {
            epoch: 0,
            position: 2,
            seed: 0,
        })
        .unwrap();
        assert_eq!(l.next_batch().unwrap().unwrap().indices, vec![4, 5]);
        assert!(l.next_batch().is_none());
    }
}

struct Panicking;

impl Dataset for Panicking {
    fn len(&self) -> usize {
        4
    }
    fn get(&self, _: usize) -> Result<(Tensor, Tensor)> {
        panic!("deliberate panic in a test dataset")
    }
}

#[test]
fn a_panicking_dataset_in_the_prefetch_thread_is_an_error() {
    let mut l = DataLoader::new(Panicking, LoaderConfig::new(2)).unwrap();
    let e = l.next_batch().unwrap().unwrap_err().to_string();
    assert!(e.contains("prefetch thread stopped"), "{e}");
}

#[test]
fn dropping_a_loader_mid_epoch_does_not_hang() {
    let mut l = DataLoader::new(ds(1000), LoaderConfig::new(1).with_prefetch(4)).unwrap();
    l.next_batch().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(5)); // the thread is now blocked on a full channel
    drop(l);
    // an abandoned epoch iterator keeps the position
    let mut l = DataLoader::new(ds(10), LoaderConfig::new(2)).unwrap();
    let first: Vec<_> = l.epoch_iter().take(2).map(|b| b.unwrap().indices).collect();
    assert_eq!(first, vec![vec![0, 1], vec![2, 3]]);
    let rest: Vec<_> = l.epoch_iter().map(|b| b.unwrap().indices).collect();
    assert_eq!(rest, vec![vec![4, 5], vec![6, 7], vec![8, 9]]);
    assert_eq!(l.cursor().epoch, 1);
}

#[test]
fn loader_over_a_subset_and_an_empty_dataset() {
    let shared = Arc::new(ds(10));
    let (train, _) = nabla_data::random_split(10, [0.7, 0.3], 5).unwrap();
    let sub = Subset::new(shared.clone(), train.clone()).unwrap();
    let mut l = DataLoader::new(sub, LoaderConfig::new(3).with_shuffle(true)).unwrap();
    let mut rows = 0;
    for b in l.epoch_iter() {
        let b = b.unwrap();
        assert_eq!(b.x.shape()[1], 3);
        rows += b.len();
    }
    assert_eq!(rows, 7);

    let empty = TensorDataset::new(
        Tensor::zeros(&[0, 3], nabla_core::DType::F32),
        Tensor::zeros(&[0], nabla_core::DType::I64),
    )
    .unwrap();
    let mut l = DataLoader::new(empty, LoaderConfig::new(4)).unwrap();
    assert!(l.is_empty());
    assert!(l.next_batch().is_none());
    assert!(l.next_batch().is_none());
    assert_eq!(l.cursor().epoch, 2);
    // drop_last with fewer samples than a batch
    let mut l = DataLoader::new(ds(3), LoaderConfig::new(4).with_drop_last(true)).unwrap();
    assert!(l.next_batch().is_none());
}
