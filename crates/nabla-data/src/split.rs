//! Cutting `n` samples into random parts: [`Split`], [`random_split`], [`random_split_n`].

use crate::error::{Error, Result};
use nabla_core::{stream_seed, Mt19937};

/// How to cut `n` samples into parts: fractions summing to 1 or sizes summing to `n`.
#[derive(Clone, Debug, PartialEq)]
pub enum Split {
    /// Fractions of `n`, each in `[0, 1]`, summing to 1 (within 1e-6). Sizes are
    /// `floor(n * f)`, and the remainder is handed out one by one from the first part on,
    /// as `torch.utils.data.random_split` does.
    Fractions(Vec<f64>),
    /// Exact sizes summing to `n`.
    Sizes(Vec<usize>),
}

impl From<Vec<f64>> for Split {
    fn from(v: Vec<f64>) -> Self {
        Split::Fractions(v)
    }
}
impl From<&[f64]> for Split {
    fn from(v: &[f64]) -> Self {
        Split::Fractions(v.to_vec())
    }
}
impl<const K: usize> From<[f64; K]> for Split {
    fn from(v: [f64; K]) -> Self {
        Split::Fractions(v.to_vec())
    }
}
impl From<Vec<usize>> for Split {
    fn from(v: Vec<usize>) -> Self {
        Split::Sizes(v)
    }
}
impl From<&[usize]> for Split {
    fn from(v: &[usize]) -> Self {
        Split::Sizes(v.to_vec())
    }
}
impl<const K: usize> From<[usize; K]> for Split {
    fn from(v: [usize; K]) -> Self {
        Split::Sizes(v.to_vec())
    }
}

impl Split {
    /// The size of each part for `n` samples.
    ///
    /// Fails when there is no part, a fraction is outside `[0, 1]` or not finite, the
    /// fractions do not sum to 1, or the sizes do not sum to `n`.
    pub fn sizes(&self, n: usize) -> Result<Vec<usize>> {
        match self {
            Split::Sizes(s) => {
                if s.is_empty() {
                    return Err(Error::invalid("random_split", "no part to split into"));
                }
                let total: usize = s.iter().sum();
                if total != n {
                    return Err(Error::invalid(
                        "random_split",
                        format!("sizes {s:?} sum to {total}, not to the {n} samples"),
                    ));
                }
                Ok(s.clone())
            }
            Split::Fractions(f) => {
                if f.is_empty() {
                    return Err(Error::invalid("random_split", "no part to split into"));
                }
                if let Some(bad) = f.iter().find(|x| !x.is_finite() || **x < 0.0 || **x > 1.0) {
                    return Err(Error::invalid(
                        "random_split",
                        format!("fraction {bad} is not in [0, 1] (fractions {f:?})"),
                    ));
                }
                let sum: f64 = f.iter().sum();
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(Error::invalid(
                        "random_split",
                        format!("fractions {f:?} sum to {sum}, not 1"),
                    ));
                }
                let mut sizes: Vec<usize> =
                    f.iter().map(|x| (n as f64 * x).floor() as usize).collect();
                let total: usize = sizes.iter().sum();
                let k = sizes.len();
                for i in 0..n.saturating_sub(total) {
                    sizes[i % k] += 1;
                }
                Ok(sizes)
            }
        }
    }
}

/// Splits the indices `0..n` at random into parts (seeded: the same `(n, split, seed)`
/// always gives the same parts). The permutation comes from an [`Mt19937`] seeded with
/// `stream_seed(seed, "random_split")`.
///
/// Fails as [`Split::sizes`] does.
pub fn random_split_n(n: usize, split: impl Into<Split>, seed: u64) -> Result<Vec<Vec<usize>>> {
    let sizes = split.into().sizes(n)?;
    let mut perm: Vec<usize> = (0..n).collect();
    Mt19937::new(stream_seed(seed, "random_split")).shuffle(&mut perm);
    let mut out = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for s in sizes {
        out.push(perm[at..at + s].to_vec());
        at += s;
    }
    Ok(out)
}

/// Splits the indices `0..n` at random into two parts, e.g. `random_split(n, [0.8, 0.2], 42)`
/// or `random_split(n, [1500, 297], 42)`; see [`random_split_n`].
///
/// Fails as [`Split::sizes`] does, and when the split does not have exactly two parts.
/// ```
/// let (train, test) = nabla_data::random_split(10, [0.7, 0.3], 1).unwrap();
/// assert_eq!((train.len(), test.len()), (7, 3));
/// ```
pub fn random_split(
    n: usize,
    split: impl Into<Split>,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let split = split.into();
    let parts = match &split {
        Split::Fractions(v) => v.len(),
        Split::Sizes(v) => v.len(),
    };
    if parts != 2 {
        return Err(Error::invalid(
            "random_split",
            format!("expected two parts, got {parts} ({split:?}); use random_split_n"),
        ));
    }
    let mut v = random_split_n(n, split, seed)?;
    let b = v.pop().unwrap_or_default();
    let a = v.pop().unwrap_or_default();
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_split_is_seeded_and_partitions() {
        let (a, b) = random_split(100, [0.8, 0.2], 3).unwrap();
        assert_eq!((a.len(), b.len()), (80, 20));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(random_split(100, [0.8, 0.2], 3).unwrap(), (a.clone(), b));
        assert_ne!(random_split(100, [0.8, 0.2], 4).unwrap().0, a);
        // torch's remainder rule: floor sizes, then one each from the first part on
        let parts = random_split_n(10, [0.33, 0.33, 0.34], 0).unwrap();
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![4, 3, 3]);
        let (a, b) = random_split(7, [5usize, 2], 0).unwrap();
        assert_eq!((a.len(), b.len()), (5, 2));
    }

    #[test]
    fn random_split_errors() {
        for (s, want) in [
            (Split::Fractions(vec![0.5, 0.6]), "sum to"),
            (Split::Fractions(vec![1.5, -0.5]), "not in [0, 1]"),
            (Split::Sizes(vec![3, 3]), "sum to 6, not to the 7"),
            (Split::Sizes(vec![7]), "expected two parts"),
            (Split::Sizes(vec![]), "expected two parts"),
        ] {
            let e = random_split(7, s, 0).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        assert!(random_split_n(7, Split::Fractions(vec![]), 0).is_err());
    }
}
