//! The [`Dataset`] trait, the in-memory [`TensorDataset`] and [`Subset`].

use crate::error::{Error, Result};
use crate::split::{random_split, Split};
use nabla_core::{DType, Tensor};
use std::sync::Arc;

/// A collated batch: features, targets, and the dataset indices they came from.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Features, `[B, ...]` (the samples' feature shapes stacked along a new dim 0).
    pub x: Tensor,
    /// Targets, `[B]` (class indices, i64) or `[B, k]` (f32), stacked the same way.
    pub y: Tensor,
    /// The dataset index of each row, in order.
    pub indices: Vec<usize>,
}

impl Batch {
    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// A source of `(features, target)` samples addressed by index `0..len()`.
///
/// Implement [`Dataset::get`]; override [`Dataset::get_batch`] when a whole batch can be
/// gathered faster than sample by sample (as [`TensorDataset`] does with one `index_select`
/// per tensor). `Send + Sync` so a [`crate::DataLoader`] can read it from its prefetch thread.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there is no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample at `index`: `(features, target)`.
    ///
    /// Fails when `index >= len()` or the sample cannot be produced.
    fn get(&self, index: usize) -> Result<(Tensor, Tensor)>;

    /// The samples at `indices`, collated: features and targets each stacked along a new
    /// dim 0. The default calls [`Dataset::get`] for each index and stacks.
    ///
    /// Fails when an index is out of range, `indices` is empty (there is no shape to give an
    /// empty batch), or the samples' shapes or dtypes differ.
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        if indices.is_empty() {
            return Err(Error::invalid("get_batch", "empty list of indices"));
        }
        let n = self.len();
        let mut xs = Vec::with_capacity(indices.len());
        let mut ys = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index("get_batch", i, n)?;
            let (x, y) = self.get(i)?;
            xs.push(x);
            ys.push(y);
        }
        let xr: Vec<&Tensor> = xs.iter().collect();
        let yr: Vec<&Tensor> = ys.iter().collect();
        Ok(Batch {
            x: Tensor::stack(&xr, 0)?,
            y: Tensor::stack(&yr, 0)?,
            indices: indices.to_vec(),
        })
    }
}

pub(crate) fn check_index(op: &'static str, i: usize, n: usize) -> Result<()> {
    if i >= n {
        return Err(Error::invalid(
            op,
            format!("index {i} out of range for a dataset of {n} samples"),
        ));
    }
    Ok(())
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        (**self).get_batch(indices)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        (**self).get_batch(indices)
    }
}

/// A dataset held in two tensors: features `x` `[N, ...]` (usually f32) and targets `y`
/// `[N]` (i64 class indices) or `[N, k]` (f32), like `torch.utils.data.TensorDataset`.
///
/// A batch is gathered with one `index_select` per tensor.
/// ```
/// use nabla_core::Tensor;
/// use nabla_data::{Dataset, TensorDataset};
/// let x = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], &[3, 2]).unwrap();
/// let y = Tensor::from_vec(vec![0i64, 1, 0], &[3]).unwrap();
/// let ds = TensorDataset::new(x, y).unwrap();
/// let b = ds.get_batch(&[2, 0]).unwrap();
/// assert_eq!(b.x.to_vec::<f32>().unwrap(), vec![4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(b.y.to_vec::<i64>().unwrap(), vec![0, 0]);
/// ```
#[derive(Clone, Debug)]
pub struct TensorDataset {
    x: Tensor,
    y: Tensor,
}

impl TensorDataset {
    /// Pairs features `[N, ...]` with targets `[N, ...]` (both detached from any graph).
    ///
    /// Fails when either is 0-dimensional or their first dimensions differ.
    pub fn new(x: Tensor, y: Tensor) -> Result<Self> {
        if x.rank() == 0 || y.rank() == 0 {
            return Err(Error::invalid(
                "TensorDataset::new",
                format!(
                    "features {:?} and targets {:?} need a sample dimension",
                    x.shape(),
                    y.shape()
                ),
            ));
        }
        if x.shape()[0] != y.shape()[0] {
            return Err(Error::invalid(
                "TensorDataset::new",
                format!(
                    "features {:?} and targets {:?} differ in the number of samples ({} != {})",
                    x.shape(),
                    y.shape(),
                    x.shape()[0],
                    y.shape()[0]
                ),
            ));
        }
        Ok(TensorDataset {
            x: x.detach(),
            y: y.detach(),
        })
    }

    /// The features, `[N, ...]`.
    pub fn x(&self) -> &Tensor {
        &self.x
    }

    /// The targets, `[N]` or `[N, k]`.
    pub fn y(&self) -> &Tensor {
        &self.y
    }

    /// Takes the dataset apart into `(x, y)`.
    pub fn into_parts(self) -> (Tensor, Tensor) {
        (self.x, self.y)
    }

    /// The shape of one sample's features (`x.shape()[1..]`).
    pub fn feature_shape(&self) -> &[usize] {
        &self.x.shape()[1..]
    }

    /// The number of classes, `max(y) + 1`, when `y` is a 1-d i64 tensor of class indices
    /// (`None` otherwise or when empty).
    pub fn num_classes(&self) -> Option<usize> {
        if self.y.dtype() != DType::I64 || self.y.rank() != 1 {
            return None;
        }
        let v = self.y.data::<i64>().ok()?;
        v.iter()
            .copied()
            .max()
            .map(|m| usize::try_from(m).map_or(0, |m| m + 1))
    }

    /// A new dataset holding the samples at `indices`, in that order (copies them).
    ///
    /// Fails when an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<TensorDataset> {
        let idx = index_tensor("TensorDataset::select", indices, self.len())?;
        Ok(TensorDataset {
            x: self.x.index_select(0, &idx)?,
            y: self.y.index_select(0, &idx)?,
        })
    }

    /// The same samples with features flattened to `[N, prod(feature_shape)]` (for MLPs).
    pub fn flatten(&self) -> Result<TensorDataset> {
        let f: usize = self.feature_shape().iter().product();
        Ok(TensorDataset {
            x: self.x.reshape(&[self.len(), f])?,
            y: self.y.clone(),
        })
    }

    /// Splits into two datasets with [`random_split`] (seeded), e.g. `[0.8, 0.2]`.
    ///
    /// Fails as [`random_split`] does.
    pub fn split(
        &self,
        split: impl Into<Split>,
        seed: u64,
    ) -> Result<(TensorDataset, TensorDataset)> {
        let (a, b) = random_split(self.len(), split, seed)?;
        Ok((self.select(&a)?, self.select(&b)?))
    }

    /// Holds out the fraction `f` (in `[0, 1)`) as a validation set, the way nabla's
    /// experiments split `data.validation_split` with `train.seed` = `seed`: returns
    /// `(train, validation)`, the validation part `None` when it would be empty.
    ///
    /// Fails when `f` is outside `[0, 1)`.
    pub fn split_validation(
        &self,
        f: f64,
        seed: u64,
    ) -> Result<(TensorDataset, Option<TensorDataset>)> {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::invalid(
                "TensorDataset::split_validation",
                format!("the fraction must be in [0, 1), got {f}"),
            ));
        }
        if f == 0.0 {
            return Ok((self.clone(), None));
        }
        let (a, b) = self.split([1.0 - f, f], seed ^ 0x5a1)?;
        Ok((a, (!b.is_empty()).then_some(b)))
    }

    /// Holds out the fraction `f` as a test set, the way nabla's experiments split
    /// `data.test_split` (digits, diabetes, CSV) with `train.seed` = `seed`: returns
    /// `(rest, test)`.
    ///
    /// Fails when `f` is outside `[0, 1)`.
    pub fn split_test(&self, f: f64, seed: u64) -> Result<(TensorDataset, TensorDataset)> {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::invalid(
                "TensorDataset::split_test",
                format!("the fraction must be in [0, 1), got {f}"),
            ));
        }
        self.split([1.0 - f, f], seed ^ 0x7e57)
    }
}

fn index_tensor(op: &'static str, indices: &[usize], n: usize) -> Result<Tensor> {
    let mut v = Vec::with_capacity(indices.len());
    for &i in indices {
        check_index(op, i, n)?;
        v.push(i as i64);
    }
    Tensor::from_vec(v, &[indices.len()])
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.x.shape()[0]
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        let idx = index_tensor("TensorDataset::get", &[index], self.len())?;
        let x = self.x.index_select(0, &idx)?;
        let y = self.y.index_select(0, &idx)?;
        Ok((
            x.reshape(&self.x.shape()[1..])?,
            y.reshape(&self.y.shape()[1..])?,
        ))
    }

    /// Gathers with one `index_select` per tensor; an empty `indices` gives an empty batch.
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        let idx = index_tensor("TensorDataset::get_batch", indices, self.len())?;
        Ok(Batch {
            x: self.x.index_select(0, &idx)?,
            y: self.y.index_select(0, &idx)?,
            indices: indices.to_vec(),
        })
    }
}

/// The samples of another dataset at a list of indices, like `torch.utils.data.Subset`.
///
/// To share one dataset between subsets, wrap it in an `Arc` (which is a [`Dataset`] too).
#[derive(Clone, Debug)]
pub struct Subset<D> {
    dataset: D,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// The samples of `dataset` at `indices` (sample `i` of the subset is
    /// `dataset[indices[i]]`).
    ///
    /// Fails when an index is out of range for `dataset`.
    pub fn new(dataset: D, indices: Vec<usize>) -> Result<Self> {
        let n = dataset.len();
        for &i in &indices {
            check_index("Subset::new", i, n)?;
        }
        Ok(Subset { dataset, indices })
    }
    /// The indices into the underlying dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
    /// The underlying dataset.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        check_index("Subset::get", index, self.indices.len())?;
        self.dataset.get(self.indices[index])
    }
    /// Maps the indices and gathers from the underlying dataset in one call; the batch's
    /// `indices` are the subset's own.
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        let mut inner = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index("Subset::get_batch", i, self.indices.len())?;
            inner.push(self.indices[i]);
        }
        let mut b = self.dataset.get_batch(&inner)?;
        b.indices = indices.to_vec();
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(n: usize) -> TensorDataset {
        let x: Vec<f32> = (0..n * 2).map(|v| v as f32).collect();
        let y: Vec<i64> = (0..n as i64).map(|v| v % 3).collect();
        TensorDataset::new(
            Tensor::from_vec(x, &[n, 2]).unwrap(),
            Tensor::from_vec(y, &[n]).unwrap(),
        )
        .unwrap()
    }

    /// A dataset with only `get`, to exercise the default `get_batch`.
    struct PerSample(TensorDataset);
    impl Dataset for PerSample {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
            self.0.get(i)
        }
    }

    #[test]
    fn get_and_batch_agree() {
        let d = ds(5);
        let (x, y) = d.get(3).unwrap();
        assert_eq!(x.shape(), &[2]);
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(x.to_vec::<f32>().unwrap(), vec![6.0, 7.0]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![0]);
        let fast = d.get_batch(&[4, 1, 3]).unwrap();
        let slow = PerSample(d.clone()).get_batch(&[4, 1, 3]).unwrap();
        assert_eq!(fast.x.shape(), &[3, 2]);
        assert_eq!(slow.x.shape(), &[3, 2]);
        assert_eq!(
            fast.x.to_vec::<f32>().unwrap(),
            slow.x.to_vec::<f32>().unwrap()
        );
        assert_eq!(
            fast.y.to_vec::<i64>().unwrap(),
            slow.y.to_vec::<i64>().unwrap()
        );
        assert_eq!(fast.indices, vec![4, 1, 3]);
        assert_eq!(d.num_classes(), Some(3));
    }

    #[test]
    fn num_classes_of_negative_labels_is_zero() {
        let x = Tensor::zeros(&[3, 2], DType::F32);
        let y = Tensor::from_vec(vec![-1i64, -7, -3], &[3]).unwrap();
        let d = TensorDataset::new(x, y).unwrap();
        assert_eq!(d.num_classes(), Some(0));
    }

    #[test]
    fn out_of_range_is_an_error() {
        let d = ds(5);
        let e = d.get(5).unwrap_err().to_string();
        assert!(
            e.contains("index 5 out of range") && e.contains("5 samples"),
            "{e}"
        );
        assert!(d.get_batch(&[0, 9]).is_err());
        assert!(PerSample(d.clone()).get_batch(&[9]).is_err());
        assert!(PerSample(d.clone()).get_batch(&[]).is_err());
        assert!(Subset::new(d.clone(), vec![1, 7]).is_err());
        let s = Subset::new(d.clone(), vec![1, 4]).unwrap();
        assert!(s.get(2).is_err());
        assert!(d.select(&[5]).is_err());
    }

    #[test]
    fn mismatched_tensors_are_refused() {
        let x = Tensor::zeros(&[3, 2], DType::F32);
        let y = Tensor::zeros(&[4], DType::I64);
        let e = TensorDataset::new(x.clone(), y).unwrap_err().to_string();
        assert!(e.contains("3 != 4"), "{e}");
        let e = TensorDataset::new(x, Tensor::scalar(1i64)).unwrap_err();
        assert!(e.to_string().contains("sample dimension"));
    }

    #[test]
    fn subset_maps_indices() {
        let d = Arc::new(ds(6));
        let s = Subset::new(d.clone(), vec![5, 0, 2]).unwrap();
        assert_eq!(s.len(), 3);
        let b = s.get_batch(&[0, 2]).unwrap();
        assert_eq!(b.x.to_vec::<f32>().unwrap(), vec![10.0, 11.0, 4.0, 5.0]);
        assert_eq!(b.indices, vec![0, 2]);
        let (x, _) = s.get(1).unwrap();
        assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
    }

    #[test]
    fn dataset_split_and_flatten() {
        let x = Tensor::zeros(&[10, 2, 3], DType::F32);
        let y = Tensor::zeros(&[10], DType::I64);
        let d = TensorDataset::new(x, y).unwrap();
        let (a, b) = d.split([0.6, 0.4], 1).unwrap();
        assert_eq!((a.len(), b.len()), (6, 4));
        assert_eq!(d.flatten().unwrap().x().shape(), &[10, 6]);
        assert_eq!(d.feature_shape(), &[2, 3]);
    }
}
