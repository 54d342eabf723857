//! Per-feature standardization fitted on the training split: the [`Standardizer`].

use crate::dataset::TensorDataset;
use crate::error::{Error, Result};
use nabla_core::{DType, Tensor};

/// Per-feature standardization `(x - mean) / std`, like scikit-learn's `StandardScaler`:
/// fit it on the training split only, then apply it to every split.
///
/// `std` is the population standard deviation (ddof 0); a constant feature gets std 1, so it
/// maps to 0 instead of dividing by zero. Statistics are computed in f64.
/// ```
/// use nabla_core::Tensor;
/// use nabla_data::Standardizer;
/// let train = Tensor::from_vec(vec![1.0f32, 10.0, 3.0, 10.0], &[2, 2]).unwrap();
/// let s = Standardizer::fit(&train).unwrap();
/// assert_eq!(s.mean(), &[2.0, 10.0]);
/// assert_eq!(s.std(), &[1.0, 1.0]);
/// let test = Tensor::from_vec(vec![4.0f32, 12.0], &[1, 2]).unwrap();
/// assert_eq!(s.transform(&test).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

fn float_values(op: &'static str, x: &Tensor) -> Result<(usize, usize, Vec<f64>)> {
    if x.dtype() == DType::I64 {
        return Err(Error::invalid(op, "expected f32 or f64 features, got i64"));
    }
    if x.rank() == 0 {
        return Err(Error::invalid(
            op,
            "expected features [N, ...], got a scalar",
        ));
    }
    let n = x.shape()[0];
    let f: usize = x.shape()[1..].iter().product();
    Ok((n, f, x.to_vec_f64()))
}

impl Standardizer {
    /// Fits mean and std per feature on `x` `[N, ...]` (a feature is one position of the
    /// trailing dimensions).
    ///
    /// Fails when `x` is i64, 0-dimensional or has no row.
    pub fn fit(x: &Tensor) -> Result<Self> {
        let (n, f, v) = float_values("Standardizer::fit", x)?;
        if n == 0 {
            return Err(Error::invalid("Standardizer::fit", "no sample to fit on"));
        }
        let mut mean = vec![0.0; f];
        for row in v.chunks_exact(f.max(1)) {
            for (m, &a) in mean.iter_mut().zip(row) {
                *m += a;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0; f];
        for row in v.chunks_exact(f.max(1)) {
            for ((s, &a), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (a - m) * (a - m);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n as f64).sqrt();
                if sd > 0.0 && sd.is_finite() {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Standardizer { mean, std })
    }

    /// Fits on the features of a dataset (pass the training split).
    pub fn fit_dataset(ds: &TensorDataset) -> Result<Self> {
        Self::fit(ds.x())
    }

    /// From stored statistics (e.g. a checkpoint).
    ///
    /// Fails when the lengths differ or a std is not positive and finite.
    pub fn from_parts(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        if mean.len() != std.len() {
            return Err(Error::invalid(
                "Standardizer::from_parts",
                format!("{} means but {} stds", mean.len(), std.len()),
            ));
        }
        if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(Error::invalid(
                "Standardizer::from_parts",
                format!("std {s} is not positive and finite"),
            ));
        }
        Ok(Standardizer { mean, std })
    }

    /// The mean of each feature.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The standard deviation of each feature (1 for constant features).
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    fn apply(&self, op: &'static str, x: &Tensor, inverse: bool) -> Result<Tensor> {
        let (_, f, mut v) = float_values(op, x)?;
        if f != self.mean.len() {
            return Err(Error::invalid(
                op,
                format!(
                    "features {:?} have {f} values per sample, the standardizer was fitted on {}",
                    x.shape(),
                    self.mean.len()
                ),
            ));
        }
        for row in v.chunks_exact_mut(f.max(1)) {
            for ((a, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *a = if inverse { *a * s + m } else { (*a - m) / s };
            }
        }
        Tensor::from_vec(v, x.shape())?.to_dtype(x.dtype())
    }

    /// `(x - mean) / std`, same shape and dtype as `x`.
    ///
    /// Fails when `x` is i64 or has a different number of features than the fit.
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        self.apply("Standardizer::transform", x, false)
    }

    /// `x * std + mean`, undoing [`Standardizer::transform`].
    ///
    /// Fails as [`Standardizer::transform`] does.
    pub fn inverse_transform(&self, x: &Tensor) -> Result<Tensor> {
        self.apply("Standardizer::inverse_transform", x, true)
    }

    /// The dataset with standardized features (targets unchanged).
    ///
    /// Fails as [`Standardizer::transform`] does.
    pub fn transform_dataset(&self, ds: &TensorDataset) -> Result<TensorDataset> {
        TensorDataset::new(self.transform(ds.x())?, ds.y().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_fits_train_only() {
        let train = Tensor::from_vec(vec![0.0f64, 5.0, 2.0, 5.0, 4.0, 5.0], &[3, 2]).unwrap();
        let s = Standardizer::fit(&train).unwrap();
        assert_eq!(s.mean(), &[2.0, 5.0]);
        let sd = (8.0f64 / 3.0).sqrt();
        assert!((s.std()[0] - sd).abs() < 1e-12);
        assert_eq!(s.std()[1], 1.0);
        let z = s.transform(&train).unwrap();
        assert_eq!(z.dtype(), DType::F64);
        let zv = z.to_vec::<f64>().unwrap();
        assert!((zv[0] + 2.0 / sd).abs() < 1e-12 && zv[1] == 0.0);
        let back = s.inverse_transform(&z).unwrap().to_vec::<f64>().unwrap();
        for (a, b) in back.iter().zip(train.to_vec::<f64>().unwrap()) {
            assert!((a - b).abs() < 1e-12);
        }
        let bad = Tensor::zeros(&[2, 3], DType::F32);
        let e = s.transform(&bad).unwrap_err().to_string();
        assert!(
            e.contains("3 values per sample") && e.contains("fitted on 2"),
            "{e}"
        );
        assert!(Standardizer::fit(&Tensor::zeros(&[0, 2], DType::F32)).is_err());
        assert!(Standardizer::fit(&Tensor::zeros(&[2, 2], DType::I64)).is_err());
        assert!(Standardizer::from_parts(vec![0.0], vec![0.0]).is_err());
        assert!(Standardizer::from_parts(vec![0.0], vec![1.0, 2.0]).is_err());
    }
}
