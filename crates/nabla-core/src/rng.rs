//! Random numbers: a NumPy-compatible MT19937 and seeded, named streams.
//!
//! `Mt19937::new(seed)` is NumPy's `np.random.seed(seed)` (init_genrand) and
//! [`Mt19937::random`] is `np.random.random()`, bit for bit; [`Mt19937::standard_normal`] is
//! the legacy `np.random.randn` (polar Box–Muller with its cached second value).

use crate::dtype::DType;
use crate::tensor::Tensor;
use crate::{Error, Result};

const N: usize = 624;
const M: usize = 397;

/// The Mersenne Twister MT19937, as NumPy's legacy `RandomState` uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Mt19937 {
    mt: Vec<u32>,
    idx: usize,
    gauss: Option<f64>,
}

/// The complete state of an [`Mt19937`] (for checkpoints).
#[derive(Clone, Debug, PartialEq)]
pub struct MtState {
    /// The 624 state words.
    pub key: Vec<u32>,
    /// Position in the key.
    pub pos: usize,
    /// Cached second normal deviate.
    pub gauss: Option<f64>,
}

impl Mt19937 {
    /// Seeds like `np.random.seed(seed)` (init_genrand with the low 32 bits).
    pub fn new(seed: u32) -> Self {
        let mut mt = vec![0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1812433253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 {
            mt,
            idx: N,
            gauss: None,
        }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % N] & 0x7fff_ffff);
            let mut v = self.mt[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.mt[i] = v;
        }
        self.idx = 0;
    }

    /// The next 32-bit output (genrand_int32).
    pub fn next_u32(&mut self) -> u32 {
        if self.idx >= N {
            self.twist();
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// A double in [0, 1) with 53 random bits, exactly `np.random.random()`.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) / 9007199254740992.0
    }

    /// A standard normal deviate, exactly NumPy's legacy `randn` (polar method).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random() - 1.0;
            let x2 = 2.0 * self.random() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// A uniformly random integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let bound = (u64::MAX / n) * n;
        loop {
            let v = ((self.next_u32() as u64) << 32) | self.next_u32() as u64;
            if v < bound {
                return v % n;
            }
        }
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// The full state.
    pub fn state(&self) -> MtState {
        MtState {
            key: self.mt.clone(),
            pos: self.idx,
            gauss: self.gauss,
        }
    }

    /// Restores a state from [`Mt19937::state`].
    ///
    /// Fails when the key does not have 624 words or the position is beyond it.
    pub fn from_state(s: &MtState) -> Result<Self> {
        if s.key.len() != N || s.pos > N {
            return Err(Error::arg(
                "Mt19937::from_state",
                format!("bad state: {} words, position {}", s.key.len(), s.pos),
            ));
        }
        Ok(Mt19937 {
            mt: s.key.clone(),
            idx: s.pos,
            gauss: s.gauss,
        })
    }
}

/// Derives the seed of a named stream from a run seed (SplitMix64 over the seed and an FNV-1a
/// hash of the name), so "init", "dropout" and "shuffle" never share draws.
pub fn stream_seed(seed: u64, name: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z ^ (z >> 32)) as u32
}

/// Named random streams driven by one seed.
#[derive(Clone, Debug)]
pub struct Rng {
    seed: u64,
    streams: std::collections::BTreeMap<String, Mt19937>,
}

impl Rng {
    /// All streams derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            seed,
            streams: Default::default(),
        }
    }
    /// The run seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The stream with this name (created on first use).
    pub fn stream(&mut self, name: &str) -> &mut Mt19937 {
        let seed = self.seed;
        self.streams
            .entry(name.to_string())
            .or_insert_with(|| Mt19937::new(stream_seed(seed, name)))
    }
    /// Every stream's state, by name (for checkpoints).
    pub fn states(&self) -> Vec<(String, MtState)> {
        self.streams
            .iter()
            .map(|(k, v)| (k.clone(), v.state()))
            .collect()
    }
    /// Restores the streams from [`Rng::states`].
    pub fn restore(seed: u64, states: &[(String, MtState)]) -> Result<Self> {
        let mut r = Rng::new(seed);
        for (k, s) in states {
            r.streams.insert(k.clone(), Mt19937::from_state(s)?);
        }
        Ok(r)
    }
}

impl Tensor {
    /// Uniform samples in [0, 1), drawn as `np.random.random(shape)` draws them.
    pub fn rand(shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
        Tensor::uniform(shape, 0.0, 1.0, dtype, rng)
    }
    /// Uniform samples in [lo, hi): `lo + (hi - lo) * random()`.
    pub fn uniform(
        shape: &[usize],
        lo: f64,
        hi: f64,
        dtype: DType,
        rng: &mut Mt19937,
    ) -> Result<Tensor> {
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * rng.random()).collect();
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
    /// Standard normal samples, drawn as `np.random.randn(*shape)` draws them.
    pub fn randn(shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
        Tensor::normal(shape, 0.0, 1.0, dtype, rng)
    }
    /// Normal samples with mean and standard deviation.
    pub fn normal(
        shape: &[usize],
        mean: f64,
        std: f64,
        dtype: DType,
        rng: &mut Mt19937,
    ) -> Result<Tensor> {
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| mean + std * rng.standard_normal()).collect();
        Tensor::from_vec(v, shape)?.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_seed_1_bitwise() {
        let mut r = Mt19937::new(1);
        let want = [
            0.417022004702574,
            0.7203244934421581,
            0.00011437481734488664,
            0.30233257263183977,
            0.14675589081711304,
            0.0923385947687978,
        ];
        for w in want {
            assert_eq!(r.random().to_bits(), f64::to_bits(w));
        }
    }

    #[test]
    fn numpy_randn_seed_0() {
        // np.random.seed(0); np.random.randn(4)
        let mut r = Mt19937::new(0);
        let want = [
            1.764052345967664,
            0.4001572083672233,
            0.9787379841057392,
            2.240893199201458,
        ];
        for w in want {
            let g = r.standard_normal();
            assert!((g - w).abs() < 1e-15, "{g} vs {w}");
        }
    }

    #[test]
    fn state_round_trip_and_streams_differ() {
        let mut r = Mt19937::new(7);
        r.random();
        r.standard_normal();
        let s = r.state();
        let mut q = Mt19937::from_state(&s).unwrap();
        assert_eq!(r.random(), q.random());
        assert_eq!(r.standard_normal(), q.standard_normal());
        let mut rng = Rng::new(3);
        let a = rng.stream("init").random();
        let b = rng.stream("dropout").random();
        assert_ne!(a, b);
        assert!(Mt19937::from_state(&MtState {
            key: vec![1; 3],
            pos: 0,
            gauss: None
        })
        .is_err());
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut r = Mt19937::new(5);
        let mut v: Vec<usize> = (0..100).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
