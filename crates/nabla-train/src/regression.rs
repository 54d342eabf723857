//! Regression metrics: mean absolute error, root mean squared error and the coefficient of
//! determination R², accumulated over batches.

use nabla_core::{Error, Result, Tensor};
use serde::{Deserialize, Serialize};

/// Regression metrics over a data set, as scikit-learn's `mean_absolute_error`,
/// `root_mean_squared_error` and `r2_score` compute them (over every element of the
/// targets; with several target columns, R² is that of all elements pooled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// R² = 1 − SS_res / SS_tot (1 is perfect, 0 is predicting the mean; NaN when every
    /// target is the same).
    pub r2: f64,
    /// Elements compared.
    pub count: u64,
}

/// Accumulates [`RegressionMetrics`] batch by batch (sums in f64).
///
/// ```
/// use nabla_core::Tensor;
/// use nabla_train::RegressionAccumulator;
/// let mut acc = RegressionAccumulator::new();
/// let y = Tensor::from_vec(vec![3.0f32, -0.5, 2.0, 7.0], &[4, 1]).unwrap();
/// let p = Tensor::from_vec(vec![2.5f32, 0.0, 2.0, 8.0], &[4, 1]).unwrap();
/// acc.update(&p, &y).unwrap();
/// let m = acc.finish();
/// // sklearn: mean_absolute_error = 0.5, r2_score = 0.9486081370449679
/// assert!((m.mae - 0.5).abs() < 1e-12);
/// assert!((m.r2 - 0.9486081370449679).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RegressionAccumulator {
    n: u64,
    abs: f64,
    sq: f64,
    y_sum: f64,
    y_sq: f64,
}

impl RegressionAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a batch of predictions and targets of the same shape (float dtypes).
    ///
    /// Fails when the shapes differ or a tensor is not float.
    pub fn update(&mut self, pred: &Tensor, target: &Tensor) -> Result<()> {
        if pred.shape() != target.shape() {
            return Err(Error::Shape {
                op: "regression metrics",
                msg: format!(
                    "predictions {:?} and targets {:?} differ in shape",
                    pred.shape(),
                    target.shape()
                ),
            });
        }
        if !pred.dtype().is_float() || !target.dtype().is_float() {
            return Err(Error::DType {
                op: "regression metrics",
                msg: format!(
                    "predictions ({:?}) and targets ({:?}) must be float",
                    pred.dtype(),
                    target.dtype()
                ),
            });
        }
        let p = pred.to_vec_f64();
        let y = target.to_vec_f64();
        for (p, y) in p.iter().zip(&y) {
            let d = y - p;
            self.abs += d.abs();
            self.sq += d * d;
            self.y_sum += y;
            self.y_sq += y * y;
        }
        self.n += y.len() as u64;
        Ok(())
    }
    /// The sums: count, Σ|y − p|, Σ(y − p)², Σy, Σy² (to add up over the ranks of a
    /// data-parallel run).
    pub fn to_sums(&self) -> [f64; 5] {
        [self.n as f64, self.abs, self.sq, self.y_sum, self.y_sq]
    }
    /// An accumulator holding these sums (see [`RegressionAccumulator::to_sums`]).
    pub fn from_sums(s: [f64; 5]) -> Self {
        RegressionAccumulator {
            n: s[0] as u64,
            abs: s[1],
            sq: s[2],
            y_sum: s[3],
            y_sq: s[4],
        }
    }
    /// The metrics so far (NaN for an empty accumulator).
    pub fn finish(&self) -> RegressionMetrics {
        let n = self.n as f64;
        let ss_tot = self.y_sq - self.y_sum * self.y_sum / n;
        RegressionMetrics {
            mae: self.abs / n,
            rmse: (self.sq / n).sqrt(),
            r2: 1.0 - self.sq / ss_tot,
            count: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_errors() {
        // sklearn.metrics on y=[1,2,3,4], p=[1.5,2,2,5]: mae 0.625, rmse sqrt(0.5625)=0.75,
        // r2 = 1 - 2.25/5 = 0.55
        let mut a = RegressionAccumulator::new();
        let y = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap();
        let p = Tensor::from_vec(vec![1.5f64, 2.0], &[2]).unwrap();
        a.update(&p, &y).unwrap();
        let y = Tensor::from_vec(vec![3.0f64, 4.0], &[2]).unwrap();
        let p = Tensor::from_vec(vec![2.0f64, 5.0], &[2]).unwrap();
        a.update(&p, &y).unwrap();
        let m = a.finish();
        assert!((m.mae - 0.625).abs() < 1e-12);
        assert!((m.rmse - 0.75).abs() < 1e-12);
        assert!((m.r2 - 0.55).abs() < 1e-12);
        assert_eq!(m.count, 4);
        let bad = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
        assert!(a.update(&bad, &y).is_err());
        let ints = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
        assert!(a.update(&ints, &ints).is_err());
    }
}
