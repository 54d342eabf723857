//! What a [`super::DataLoader`] is told ([`LoaderConfig`], [`Shard`]) and where it stands
//! ([`Cursor`]).

use crate::error::{Error, Result};

/// Where a [`DataLoader`](super::DataLoader) stands: the epoch, the number of batches of that epoch already
/// yielded, and the shuffle seed. Three plain numbers, to be stored in a checkpoint and given
/// back to [`DataLoader::resume`](super::DataLoader::resume).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The epoch (0-based).
    pub epoch: u64,
    /// Batches of `epoch` already yielded; the next batch is batch number `position`.
    pub position: u64,
    /// The shuffle seed.
    pub seed: u64,
}

impl Cursor {
    /// `[epoch, position, seed]`.
    pub fn to_array(self) -> [u64; 3] {
        [self.epoch, self.position, self.seed]
    }
    /// From `[epoch, position, seed]`.
    pub fn from_array(a: [u64; 3]) -> Self {
        Cursor {
            epoch: a[0],
            position: a[1],
            seed: a[2],
        }
    }
}

/// The part of every batch that one process of a data-parallel run takes: rank `rank` of
/// `world` processes. Each global batch (the same seeded shuffle on every rank) is cut into
/// `world` contiguous, disjoint slices whose sizes differ by at most one; rank `r` takes slice
/// `r` (the first `B % world` ranks hold one sample more). The whole batch is
/// [`Shard::WHOLE`] (rank 0 of 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This process's index, `0..world`.
    pub rank: usize,
    /// Number of processes the batch is split across (at least 1).
    pub world: usize,
}

impl Shard {
    /// The whole batch: rank 0 of 1.
    pub const WHOLE: Shard = Shard { rank: 0, world: 1 };

    /// Rank `rank` of `world`.
    ///
    /// Fails when `world` is 0 or `rank >= world`.
    pub fn new(rank: usize, world: usize) -> Result<Self> {
        if world == 0 || rank >= world {
            return Err(Error::invalid(
                "Shard",
                format!("rank {rank} of {world} processes: need 0 <= rank < world"),
            ));
        }
        Ok(Shard { rank, world })
    }

    /// The rows of a batch of `n` samples this rank takes: `start..end` with
    /// `start = rank·⌊n/world⌋ + min(rank, n % world)`. Empty when `n < world` and
    /// `rank >= n`.
    ///
    /// ```
    /// use nabla_data::Shard;
    /// let parts: Vec<_> = (0..3).map(|r| Shard::new(r, 3).unwrap().range(10)).collect();
    /// assert_eq!(parts, vec![0..4, 4..7, 7..10]);
    /// ```
    pub fn range(&self, n: usize) -> std::ops::Range<usize> {
        let w = self.world.max(1);
        let (q, rem) = (n / w, n % w);
        let start = self.rank * q + self.rank.min(rem);
        let len = q + usize::from(self.rank < rem);
        start.min(n)..(start + len).min(n)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

/// How a [`DataLoader`](super::DataLoader) batches; PyTorch's defaults (`batch_size` 1, no shuffle, keep the
/// last partial batch, prefetch 2 batches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch (at least 1).
    pub batch_size: usize,
    /// Whether each epoch visits the samples in a fresh random order.
    pub shuffle: bool,
    /// The shuffle seed: epoch `e`'s order depends only on `(seed, e)`.
    pub seed: u64,
    /// Whether to drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// How many batches the background thread may prepare ahead (0: no thread, batches are
    /// made on the caller's thread).
    pub prefetch: usize,
    /// The part of each batch this loader yields (data-parallel training); the batch count,
    /// the order and the [`Cursor`] are those of the whole batches.
    pub shard: Shard,
    /// How many samples an epoch visits: the first this many of its order (with `shuffle`,
    /// a fresh random subset each epoch, as PyTorch's `RandomSampler(num_samples=...)`
    /// without replacement). `None`: every sample.
    pub num_samples: Option<usize>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 1,
            shuffle: false,
            seed: 0,
            drop_last: false,
            prefetch: 2,
            shard: Shard::WHOLE,
            num_samples: None,
        }
    }
}

impl LoaderConfig {
    /// The defaults with this batch size.
    pub fn new(batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            ..Default::default()
        }
    }
    /// Sets [`LoaderConfig::batch_size`].
    pub fn with_batch_size(mut self, v: usize) -> Self {
        self.batch_size = v;
        self
    }
    /// Sets [`LoaderConfig::shuffle`].
    pub fn with_shuffle(mut self, v: bool) -> Self {
        self.shuffle = v;
        self
    }
    /// Sets [`LoaderConfig::seed`].
    pub fn with_seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Sets [`LoaderConfig::drop_last`].
    pub fn with_drop_last(mut self, v: bool) -> Self {
        self.drop_last = v;
        self
    }
    /// Sets [`LoaderConfig::prefetch`].
    pub fn with_prefetch(mut self, v: usize) -> Self {
        self.prefetch = v;
        self
    }
    /// Sets [`LoaderConfig::shard`].
    pub fn with_shard(mut self, v: Shard) -> Self {
        self.shard = v;
        self
    }
    /// Sets [`LoaderConfig::num_samples`].
    pub fn with_num_samples(mut self, v: usize) -> Self {
        self.num_samples = Some(v);
        self
    }
    /// The samples an epoch of a dataset of `n` visits.
    pub fn epoch_samples(&self, n: usize) -> usize {
        self.num_samples.map_or(n, |k| k.min(n))
    }
}
