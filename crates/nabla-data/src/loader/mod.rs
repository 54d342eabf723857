//! The [`DataLoader`]: batches, seeded per-epoch shuffling, a background prefetch thread, and
//! a resumable [`Cursor`].

use crate::dataset::{Batch, Dataset};
use crate::error::{Error, Result};
use nabla_core::{stream_seed, Mt19937};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

mod options;
pub use options::{Cursor, LoaderConfig, Shard};

/// The order in which epoch `epoch` visits `n` samples (the first `cfg.num_samples` of it).
fn epoch_order(n: usize, cfg: &LoaderConfig, epoch: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    if cfg.shuffle {
        let s = stream_seed(cfg.seed, &format!("data_loader/shuffle/epoch/{epoch}"));
        Mt19937::new(s).shuffle(&mut v);
    }
    v.truncate(cfg.epoch_samples(n));
    v
}

/// Batches per epoch; `bs` is at least 1 (the loader's constructor checks it).
fn num_batches(n: usize, bs: usize, drop_last: bool) -> usize {
    if drop_last {
        n / bs
    } else {
        n.div_ceil(bs)
    }
}

/// The whole batch number `position` of an epoch's order.
fn batch_slice(order: &[usize], bs: usize, position: u64) -> &[usize] {
    let start = (position as usize).saturating_mul(bs).min(order.len());
    let end = start.saturating_add(bs).min(order.len());
    &order[start..end]
}

/// This shard's part of batch `position`: the samples of its slice, or, when the slice is
/// empty (a last batch smaller than the number of ranks), a batch of no rows shaped like the
/// whole batch's.
fn shard_batch(
    ds: &dyn Dataset,
    order: &[usize],
    cfg: &LoaderConfig,
    position: u64,
) -> Result<Batch> {
    let whole = batch_slice(order, cfg.batch_size, position);
    let part = &whole[cfg.shard.range(whole.len())];
    if !part.is_empty() || whole.is_empty() {
        return ds.get_batch(part);
    }
    let one = ds.get_batch(&whole[..1])?;
    Ok(Batch {
        x: one.x.narrow(0, 0, 0)?,
        y: one.y.narrow(0, 0, 0)?,
        indices: Vec::new(),
    })
}

/// One batch from the prefetch thread, tagged with where it belongs.
struct Item {
    epoch: u64,
    position: u64,
    batch: Result<Batch>,
}

/// The prefetch thread: produces batches in order from a start point, across epochs, into a
/// bounded channel, until the receiver is dropped or a batch fails.
struct Worker {
    rx: Option<Receiver<Item>>,
    handle: Option<JoinHandle<()>>,
    /// The (epoch, position) of the next item the channel will deliver.
    next: (u64, u64),
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Disconnect first, so a thread blocked on a full channel wakes up and ends.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn worker_loop(
    ds: Arc<dyn Dataset>,
    cfg: LoaderConfig,
    mut epoch: u64,
    mut position: u64,
    tx: SyncSender<Item>,
) {
    let n = ds.len();
    let nb = num_batches(cfg.epoch_samples(n), cfg.batch_size, cfg.drop_last) as u64;
    if nb == 0 {
        return;
    }
    loop {
        let order = epoch_order(n, &cfg, epoch);
        while position < nb {
            let batch = shard_batch(ds.as_ref(), &order, &cfg, position);
            let failed = batch.is_err();
            let item = Item {
                epoch,
                position,
                batch,
            };
            if tx.send(item).is_err() || failed {
                return;
            }
            position += 1;
        }
        epoch += 1;
        position = 0;
    }
}

/// Iterates a [`Dataset`] in batches, like `torch.utils.data.DataLoader`, with exact resume.
///
/// - Epoch `e` visits the samples in an order that depends only on `(seed, e)` (a fresh
///   [`Mt19937`] seeded with `stream_seed(seed, "data_loader/shuffle/epoch/{e}")`, or `0..n`
///   without shuffling), so a loader resumed at any [`Cursor`] yields exactly the batches
///   the uninterrupted one would have.
/// - With `prefetch > 0` a background thread prepares the next batches (across epoch ends)
///   through a bounded channel while the caller trains; the batches and their order are the
///   same as without it, whatever the timing.
/// - With a [`Shard`] (data-parallel training), every batch is this rank's slice of the
///   whole batch the unsplit loader yields; a rank's slice of a last batch smaller than the
///   number of ranks can be empty.
/// - [`DataLoader::next_batch`] yields the batches of the current epoch, then `None` once,
///   moving on to the next epoch; [`DataLoader::epoch_iter`] wraps that as an iterator.
///
/// ```
/// use nabla_core::Tensor;
/// use nabla_data::{DataLoader, LoaderConfig, TensorDataset};
/// let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), &[10, 1]).unwrap();
/// let y = Tensor::from_vec((0..10).collect::<Vec<i64>>(), &[10]).unwrap();
/// let ds = TensorDataset::new(x, y).unwrap();
/// let cfg = LoaderConfig::new(4).with_shuffle(true).with_seed(1);
/// let mut a = DataLoader::new(ds.clone(), cfg.clone()).unwrap();
/// let first = a.next_batch().unwrap().unwrap();
/// let cursor = a.cursor(); // epoch 0, position 1
/// let second = a.next_batch().unwrap().unwrap();
///
/// let mut b = DataLoader::new(ds, cfg).unwrap();
/// b.resume(cursor).unwrap();
/// let again = b.next_batch().unwrap().unwrap();
/// assert_eq!(again.indices, second.indices);
/// assert_ne!(first.indices, second.indices);
/// ```
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    config: LoaderConfig,
    epoch: u64,
    position: u64,
    worker: Option<Worker>,
    /// The order of one epoch, kept for the synchronous path.
    order: Option<(u64, Vec<usize>)>,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("len", &self.dataset.len())
            .field("config", &self.config)
            .field("cursor", &self.cursor())
            .finish()
    }
}

impl DataLoader {
    /// A loader over `dataset`, starting at epoch 0.
    ///
    /// Fails when `config.batch_size` is 0.
    pub fn new(dataset: impl Dataset + 'static, config: LoaderConfig) -> Result<Self> {
        Self::from_arc(Arc::new(dataset), config)
    }

    /// A loader over a shared dataset.
    ///
    /// Fails when `config.batch_size` is 0.
    pub fn from_arc(dataset: Arc<dyn Dataset>, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::invalid(
                "DataLoader",
                "batch_size must be at least 1",
            ));
        }
        Ok(DataLoader {
            dataset,
            config,
            epoch: 0,
            position: 0,
            worker: None,
            order: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// Batches per epoch: `ceil(n / batch_size)`, or `floor` with `drop_last`.
    pub fn len(&self) -> usize {
        num_batches(
            self.config.epoch_samples(self.dataset.len()),
            self.config.batch_size,
            self.config.drop_last,
        )
    }

    /// Whether an epoch has no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Where the loader stands; give it to [`DataLoader::resume`] to continue from here.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            epoch: self.epoch,
            position: self.position,
            seed: self.config.seed,
        }
    }

    /// Continues from a [`Cursor`] (taking its seed): the next batch is batch
    /// `cursor.position` of epoch `cursor.epoch`.
    ///
    /// Fails when the position is past the end of an epoch (`position > len()`).
    pub fn resume(&mut self, cursor: Cursor) -> Result<()> {
        let nb = self.len() as u64;
        if cursor.position > nb {
            return Err(Error::invalid(
                "DataLoader::resume",
                format!(
                    "cursor position {} is past the end of an epoch of {nb} batches",
                    cursor.position
                ),
            ));
        }
        self.worker = None;
        if cursor.seed != self.config.seed {
            self.order = None;
        }
        self.config.seed = cursor.seed;
        self.epoch = cursor.epoch;
        self.position = cursor.position;
        Ok(())
    }

    /// Starts epoch `epoch` from its first batch.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.worker = None;
        self.epoch = epoch;
        self.position = 0;
    }

    /// Where this loader's part of whole batch `position` lies in it: `(offset, whole)`, the
    /// index of its first row in the whole batch and the whole batch's size (`(0, n)` for an
    /// unsplit loader). A data-parallel step weighs its gradient by its part's share and
    /// draws its rows of the whole batch's dropout masks from these.
    pub fn shard_span(&self, position: u64) -> (usize, usize) {
        let n = self.config.epoch_samples(self.dataset.len());
        let bs = self.config.batch_size;
        let start = (position as usize).saturating_mul(bs).min(n);
        let whole = start.saturating_add(bs).min(n) - start;
        (self.config.shard.range(whole).start, whole)
    }

    /// The order in which epoch `epoch` visits the samples (dataset indices).
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        epoch_order(self.dataset.len(), &self.config, epoch)
    }

    /// The next batch of the current epoch; `None` (once) at the end of the epoch, after
    /// which the loader stands at the start of the next epoch.
    ///
    /// Yields `Some(Err)` when the dataset fails to produce a batch (the position does not
    /// advance) or the prefetch thread dies.
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        let nb = self.len() as u64;
        if self.position >= nb {
            self.epoch += 1;
            self.position = 0;
            return None;
        }
        let result = if self.config.prefetch == 0 {
            self.worker = None;
            self.make_batch()
        } else {
            self.receive()
        };
        if result.is_ok() {
            self.position += 1;
        }
        Some(result)
    }

    fn make_batch(&mut self) -> Result<Batch> {
        let epoch = self.epoch;
        if self.order.as_ref().map(|(e, _)| *e) != Some(epoch) {
            self.order = Some((epoch, self.epoch_order(epoch)));
        }
        let order = self
            .order
            .as_ref()
            .map(|(_, o)| o.as_slice())
            .unwrap_or(&[]);
        shard_batch(self.dataset.as_ref(), order, &self.config, self.position)
    }

    fn receive(&mut self) -> Result<Batch> {
        let here = (self.epoch, self.position);
        if self.worker.as_ref().map(|w| w.next) != Some(here) {
            self.worker = None;
            let (tx, rx) = sync_channel(self.config.prefetch);
            let ds = self.dataset.clone();
            let cfg = self.config.clone();
            let spawned = std::thread::Builder::new()
                .name("nabla-data-prefetch".into())
                .spawn(move || worker_loop(ds, cfg, here.0, here.1, tx));
            match spawned {
                Ok(handle) => {
                    self.worker = Some(Worker {
                        rx: Some(rx),
                        handle: Some(handle),
                        next: here,
                    })
                }
                // No thread to be had: make the batch here.
                Err(_) => return self.make_batch(),
            }
        }
        let nb = self.len() as u64;
        let got = match self.worker.as_mut().and_then(|w| w.rx.as_ref()) {
            Some(rx) => rx.recv().ok(),
            None => None,
        };
        match got {
            Some(item) if (item.epoch, item.position) == here => {
                if item.batch.is_err() {
                    // The thread has stopped; a later call starts a new one.
                    self.worker = None;
                } else if let Some(w) = self.worker.as_mut() {
                    w.next = if here.1 + 1 >= nb {
                        (here.0 + 1, 0)
                    } else {
                        (here.0, here.1 + 1)
                    };
                }
                item.batch
            }
            Some(item) => {
                self.worker = None;
                Err(Error::invalid(
                    "DataLoader",
                    format!(
                        "prefetch thread delivered batch {} of epoch {}, expected batch {} of epoch {}",
                        item.position, item.epoch, here.1, here.0
                    ),
                ))
            }
            None => {
                self.worker = None;
                Err(Error::invalid(
                    "DataLoader",
                    "the prefetch thread stopped unexpectedly (a panic in Dataset::get_batch?)",
                ))
            }
        }
    }

    /// An iterator over the rest of the current epoch; when it ends (returns `None`) the
    /// loader stands at the start of the next epoch. Dropping it early keeps the position,
    /// so the next `epoch_iter` continues the same epoch. It ends after the first error.
    pub fn epoch_iter(&mut self) -> EpochIter<'_> {
        EpochIter {
            loader: self,
            done: false,
        }
    }
}

/// `for batch in &mut loader { ... }` runs the rest of the current epoch (see
/// [`DataLoader::epoch_iter`]).
impl<'a> IntoIterator for &'a mut DataLoader {
    type Item = Result<Batch>;
    type IntoIter = EpochIter<'a>;
    fn into_iter(self) -> EpochIter<'a> {
        self.epoch_iter()
    }
}

/// The batches of one epoch; see [`DataLoader::epoch_iter`].
pub struct EpochIter<'a> {
    loader: &'a mut DataLoader,
    done: bool,
}

impl Iterator for EpochIter<'_> {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done {
            return None;
        }
        let r = self.loader.next_batch();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

impl std::iter::FusedIterator for EpochIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorDataset;
    use nabla_core::Tensor;

    fn ds(n: usize) -> TensorDataset {
        let x: Vec<f32> = (0..n).map(|v| v as f32).collect();
        let y: Vec<i64> = (0..n as i64).collect();
        TensorDataset::new(
            Tensor::from_vec(x, &[n, 1]).unwrap(),
            Tensor::from_vec(y, &[n]).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn batch_counts_and_drop_last() {
        let l = DataLoader::new(ds(10), LoaderConfig::new(3)).unwrap();
        assert_eq!(l.len(), 4);
        let l = DataLoader::new(ds(10), LoaderConfig::new(3).with_drop_last(true)).unwrap();
        assert_eq!(l.len(), 3);
        assert!(DataLoader::new(ds(10), LoaderConfig::new(0)).is_err());
    }

    #[test]
    fn unshuffled_epoch_is_in_order_with_partial_last_batch() {
        let mut l = DataLoader::new(ds(7), LoaderConfig::new(3)).unwrap();
        let b: Vec<Vec<usize>> = l.epoch_iter().map(|b| b.unwrap().indices).collect();
        assert_eq!(b, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert_eq!(
            l.cursor(),
            Cursor {
                epoch: 1,
                position: 0,
                seed: 0
            }
        );
    }

    #[test]
    fn shuffled_epochs_differ_and_depend_on_seed_and_epoch() {
        let cfg = LoaderConfig::new(100).with_shuffle(true).with_seed(9);
        let l = DataLoader::new(ds(100), cfg.clone()).unwrap();
        let o0 = l.epoch_order(0);
        let o1 = l.epoch_order(1);
        assert_ne!(o0, o1);
        let mut s = o0.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        let l2 = DataLoader::new(ds(100), cfg.with_seed(10)).unwrap();
        assert_ne!(l2.epoch_order(0), o0);
        let l3 = DataLoader::new(
            ds(100),
            LoaderConfig::new(7).with_shuffle(true).with_seed(9),
        )
        .unwrap();
        assert_eq!(l3.epoch_order(1), o1);
    }

    #[test]
    fn resume_rejects_a_position_past_the_end() {
        let mut l = DataLoader::new(ds(10), LoaderConfig::new(5)).unwrap();
        assert!(l.resume(Cursor::from_array([0, 3, 0])).is_err());
        l.resume(Cursor::from_array([4, 2, 0])).unwrap();
        assert!(l.next_batch().is_none());
        assert_eq!(l.cursor().to_array(), [5, 0, 0]);
    }

    #[test]
    fn shard_ranges_are_disjoint_cover_the_batch_and_differ_by_at_most_one() {
        assert!(Shard::new(0, 0).is_err());
        assert!(Shard::new(2, 2).is_err());
        for world in 1..6 {
            for n in 0..20 {
                let parts: Vec<_> = (0..world)
                    .map(|r| Shard::new(r, world).unwrap().range(n))
                    .collect();
                let mut next = 0;
                for p in &parts {
                    assert_eq!(p.start, next, "n {n} world {world}: {parts:?}");
                    next = p.end;
                }
                assert_eq!(next, n);
                let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "{lens:?}");
            }
        }
    }

    #[test]
    fn sharded_loaders_split_the_same_shuffled_batches_and_resume() {
        // 23 samples, batch 7: whole batches of 7, 7, 7, 2; three ranks
        let cfg = LoaderConfig::new(7).with_shuffle(true).with_seed(3);
        for prefetch in [0, 2] {
            let cfg = cfg.clone().with_prefetch(prefetch);
            let mut whole = DataLoader::new(ds(23), cfg.clone()).unwrap();
            let mut parts: Vec<DataLoader> = (0..3)
                .map(|r| {
                    let c = cfg.clone().with_shard(Shard::new(r, 3).unwrap());
                    DataLoader::new(ds(23), c).unwrap()
                })
                .collect();
            for epoch in 0..2 {
                for pos in 0..4u64 {
                    let w = whole.next_batch().unwrap().unwrap();
                    let mut joined = Vec::new();
                    for (r, p) in parts.iter_mut().enumerate() {
                        let (off, n) = p.shard_span(pos);
                        assert_eq!(n, w.len());
                        assert_eq!(off, joined.len(), "rank {r} at {epoch}/{pos}");
                        let b = p.next_batch().unwrap().unwrap();
                        assert_eq!(b.x.shape()[0], b.len());
                        assert_eq!(b.x.shape()[1..], w.x.shape()[1..]);
                        joined.extend(b.indices);
                    }
                    assert_eq!(joined, w.indices, "epoch {epoch} batch {pos}");
                }
                assert!(whole.next_batch().is_none());
                for p in &mut parts {
                    assert!(p.next_batch().is_none());
                    assert_eq!(p.cursor(), whole.cursor());
                }
            }
            // the last batch has 2 samples: rank 2's part is empty, with the right shape
            let c = cfg.clone().with_shard(Shard::new(2, 3).unwrap());
            let mut p = DataLoader::new(ds(23), c).unwrap();
            p.resume(Cursor::from_array([0, 3, 3])).unwrap();
            let b = p.next_batch().unwrap().unwrap();
            assert!(b.is_empty());
            assert_eq!(b.x.shape(), &[0, 1]);
            assert_eq!(b.y.shape(), &[0]);
            // a resumed shard continues exactly where the whole loader does
            let mut a =
                DataLoader::new(ds(23), cfg.clone().with_shard(Shard::new(1, 3).unwrap())).unwrap();
            a.resume(Cursor::from_array([1, 2, 3])).unwrap();
            let mut w = DataLoader::new(ds(23), cfg.clone()).unwrap();
            w.resume(Cursor::from_array([1, 2, 3])).unwrap();
            let wb = w.next_batch().unwrap().unwrap();
            assert_eq!(a.next_batch().unwrap().unwrap().indices, wb.indices[3..5]);
        }
    }
}
