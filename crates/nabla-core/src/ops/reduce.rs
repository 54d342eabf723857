//! Reductions over any set of axes (sum, mean, max, min, argmax, var, std, logsumexp) and the
//! numerically stable softmax family.

use super::Op;
use crate::cpu::{sums, PAR_THRESHOLD};
use crate::dtype::{DType, Float};
use crate::layout::{fmt_shape, norm_axis, wrap_dim, Dims};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Max,
    Min,
}

/// The sorted axes that `dims` name (empty: all). A 0-d tensor accepts dim 0 and -1, as in
/// PyTorch, and reduces over nothing (its one element is the result).
fn norm_axes(op: &'static str, dims: &[isize], rank: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut v = Vec::with_capacity(dims.len());
    for &d in dims {
        let a = wrap_dim(op, d, rank)?;
        if v.contains(&a) {
            return Err(Error::arg(op, format!("dim {d} repeated")));
        }
        v.push(a);
    }
    if rank == 0 {
        return Ok(Vec::new());
    }
    v.sort_unstable();
    Ok(v)
}

/// `shape` with the dims in `axes` removed (a reduction without keepdim).
fn without_axes(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

fn reduce_rows<T: Float + StorageElem>(data: &[T], rows: usize, len: usize, kind: Kind) -> Vec<T> {
    let mut out = take_buffer::<T>(rows);
    let f = |(i, o): (usize, &mut T)| {
        let row = &data[i * len..(i + 1) * len];
        *o = match kind {
            Kind::Sum => sums::sum(row),
            Kind::Max => row.iter().fold(T::NEG_INFINITY, |a, &b| a.max_(b)),
            Kind::Min => row.iter().fold(T::INFINITY, |a, &b| a.min_(b)),
        };
    };
    if rows > 1 && rows * len >= PAR_THRESHOLD && crate::parallel::threads() > 1 {
        let o = crate::parallel::SharedMut::new(&mut out);
        crate::parallel::for_ranges(rows, 1, |r| {
            // SAFETY: for_ranges hands out disjoint ranges.
            r.clone().zip(unsafe { o.range(r) }).for_each(f)
        });
    } else {
        out.iter_mut().enumerate().for_each(f);
    }
    out
}

impl Tensor {
    /// The primitive reduction; `axes` sorted and unique; keeps reduced dims as size 1.
    fn reduce_prim(&self, name: &'static str, axes: &[usize], kind: Kind) -> Result<Tensor> {
        self.check_float(name)?;
        let mut out_shape = self.shape().to_vec();
        for &a in axes {
            out_shape[a] = 1;
        }
        let len: usize = axes.iter().map(|&a| self.shape()[a]).product();
        if len == 0 && kind != Kind::Sum {
            return Err(Error::shape(
                name,
                format!(
                    "cannot reduce over an empty dimension of {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let rows: usize = out_shape.iter().product();
        fn reduce_prim_typed<T: Float + StorageElem>(
            t: &Tensor,
            axes: &[usize],
            kind: Kind,
            rows: usize,
            len: usize,
        ) -> Result<Storage> {
            let rank = t.rank();
            let leading = axes.iter().enumerate().all(|(i, &a)| i == a);
            if kind == Kind::Sum && leading && t.is_contiguous() && !axes.is_empty() {
                let data = t.data::<T>()?;
                let mut out = take_buffer::<T>(rows);
                if rows == 1 {
                    // everything: one vectorized sum (column sums of width 1 would cost a
                    // kernel call per element)
                    out[0] = sums::sum(&data);
                } else {
                    // reduce leading dims: column sums over a [len, rows] block
                    sums::sum_rows_into(&data, rows, &mut out);
                }
                return Ok(T::into_storage(out));
            }
            let mut perm: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
            perm.extend_from_slice(axes);
            let p = t.layout().permute(&perm);
            let moved = if p.is_contiguous() {
                let s = t.typed_storage::<T>();
                std::borrow::Cow::Borrowed(&s[p.offset()..p.offset() + p.numel()])
            } else {
                let s = t.typed_storage::<T>();
                let mut v = take_buffer::<T>(p.numel());
                let mut i = 0;
                p.for_each_offset(|o| {
                    v[i] = s[o];
                    i += 1;
                });
                std::borrow::Cow::Owned(v)
            };
            Ok(T::into_storage(reduce_rows(&moved, rows, len, kind)))
        }
        let s = match self.dtype() {
            DType::F32 => reduce_prim_typed::<f32>(self, axes, kind, rows, len)?,
            DType::F64 => reduce_prim_typed::<f64>(self, axes, kind, rows, len)?,
            DType::I64 => return Err(Error::dtype(name, "needs a float tensor")),
        };
        let op = match kind {
            Kind::Sum => Op::Sum {
                axes: Dims::from_slice(axes),
            },
            Kind::Max => Op::Max {
                axes: Dims::from_slice(axes),
            },
            Kind::Min => Op::Min {
                axes: Dims::from_slice(axes),
            },
        };
        Ok(Tensor::from_op(s, &out_shape, op, &[self]))
    }

    fn reduce(
        &self,
        name: &'static str,
        dims: &[isize],
        keepdim: bool,
        kind: Kind,
    ) -> Result<Tensor> {
        let axes = norm_axes(name, dims, self.rank())?;
        self.reduce_axes(name, &axes, keepdim, kind)
    }

    fn reduce_axes(
        &self,
        name: &'static str,
        axes: &[usize],
        keepdim: bool,
        kind: Kind,
    ) -> Result<Tensor> {
        let r = self.reduce_prim(name, axes, kind)?;
        if keepdim {
            Ok(r)
        } else {
            let shape = without_axes(self.shape(), axes);
            r.reshape(&shape)
        }
    }

    pub(crate) fn sum_axes_keepdim(&self, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let mut a = axes.to_vec();
        a.sort_unstable();
        a.dedup();
        self.reduce_axes("sum", &a, keepdim, Kind::Sum)
    }

    /// Sum of all elements (a 0-d tensor).
    pub fn sum(&self) -> Result<Tensor> {
        self.reduce("sum", &[], false, Kind::Sum)
    }
    /// Sum over `dims` (an empty list means all dims), keeping them as size 1 if `keepdim`.
    ///
    /// Fails when a dim is out of range or repeated.
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce("sum", dims, keepdim, Kind::Sum)
    }
    /// The sum of squared elements as an f64 (e.g. a gradient's squared L2 norm), in one
    /// pass without a temporary tensor; not differentiable.
    ///
    /// Fails on an i64 tensor.
    pub fn sum_sq_f64(&self) -> Result<f64> {
        match self.dtype() {
            DType::F32 => Ok(sums::sum_sq_f64(&self.data::<f32>()?)),
            DType::F64 => Ok(sums::sum_sq_f64(&self.data::<f64>()?)),
            DType::I64 => Err(Error::dtype("sum_sq_f64", "needs a float tensor")),
        }
    }
    /// Mean of all elements.
    pub fn mean(&self) -> Result<Tensor> {
        self.mean_dims(&[], false)
    }
    /// Mean over `dims` (empty: all).
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("mean", dims, self.rank())?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        self.reduce_axes("mean", &axes, keepdim, Kind::Sum)?
            .div_scalar(n as f64)
    }
    /// Largest element (gradient shared evenly among ties, like `torch.amax`; a NaN makes the
    /// result and every gradient of its slice NaN, as there).
    pub fn max(&self) -> Result<Tensor> {
        self.reduce("max", &[], false, Kind::Max)
    }
    /// Largest over `dims` (empty: all), like `torch.amax`: ties share the gradient evenly.
    /// (PyTorch's `max(dim)` instead gives it all to the first index; here that is
    /// [`Tensor::argmax`] with [`Tensor::gather`].)
    pub fn max_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce("max", dims, keepdim, Kind::Max)
    }
    /// Smallest element.
    pub fn min(&self) -> Result<Tensor> {
        self.reduce("min", &[], false, Kind::Min)
    }
    /// Smallest over `dims` (empty: all), like `torch.amin`.
    pub fn min_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce("min", dims, keepdim, Kind::Min)
    }
    /// Variance over `dims` (empty: all) with `correction` (1: unbiased, PyTorch's default).
    /// Where `correction >= n` the result is NaN (a constant slice) or inf, as PyTorch; the
    /// gradient there is NaN, where PyTorch gives `±inf` for a non-constant slice (a
    /// deliberate difference at this degenerate point: the rule is composed of ops whose
    /// `inf - inf` through the mean gives NaN).
    pub fn var_dims(&self, dims: &[isize], keepdim: bool, correction: usize) -> Result<Tensor> {
        let axes = norm_axes("var", dims, self.rank())?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        let ad: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        let mean = self.mean_dims(&ad, true)?;
        let dev = self.sub(&mean)?.sqr()?;
        let denom = n.saturating_sub(correction) as f64;
        dev.sum_dims(&ad, keepdim)?.div_scalar(denom)
    }
    /// Unbiased variance of all elements.
    pub fn var(&self) -> Result<Tensor> {
        self.var_dims(&[], false, 1)
    }
    /// Standard deviation over `dims` (empty: all) with `correction`.
    ///
    /// Where the spread is exactly 0 (a constant slice, or one element with correction 0) the
    /// gradient is 0, as PyTorch's `std_backward` (not `0 * inf`); where `correction >= n` the
    /// value is NaN or inf and the gradient NaN, as PyTorch.
    pub fn std_dims(&self, dims: &[isize], keepdim: bool, correction: usize) -> Result<Tensor> {
        norm_axes("std", dims, self.rank())?;
        let v = self.var_dims(dims, keepdim, correction)?;
        // sqrt(v + z) * (1 - z), z = [v == 0]: the same values, and d/dv is 0 where v == 0
        let z = v.eq_scalar(0.0)?;
        v.add(&z)?.sqrt()?.mul(&z.affine(-1.0, 1.0)?)
    }
    /// Unbiased standard deviation of all elements.
    pub fn std(&self) -> Result<Tensor> {
        self.std_dims(&[], false, 1)
    }
    /// `log(sum(exp(x)))` over `dims`, computed stably by subtracting the max.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("logsumexp", dims, self.rank())?;
        let m = self.max_dims(dims, true)?.detach();
        // rows that are all -inf would give nan; use 0 there as PyTorch does
        let m = Tensor::where_cond(&m.isfinite()?, &m, &Tensor::zeros(&[], m.dtype()))?;
        let s = self.sub(&m)?.exp()?.sum_dims(dims, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            let shape = without_axes(self.shape(), &axes);
            s.reshape(&shape)
        }
    }
    /// Softmax along `dim`: `exp(x - max) / sum(exp(x - max))`. A 0-d tensor accepts dim 0
    /// and -1 (giving 1), as PyTorch.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        wrap_dim("softmax", dim, self.rank())?;
        let m = self.max_dims(&[dim], true)?.detach();
        let e = self.sub(&m)?.exp()?;
        e.div(&e.sum_dims(&[dim], true)?)
    }
    fn arg_reduce(
        &self,
        name: &'static str,
        dim: Option<isize>,
        keepdim: bool,
        max: bool,
    ) -> Result<Tensor> {
        if self.rank() == 0 {
            // PyTorch: dim 0 or -1 of a 0-d tensor, index 0 (a 0-d result, keepdim or not)
            if let Some(d) = dim {
                wrap_dim(name, d, 0)?;
            }
            return Tensor::from_vec(vec![0i64], &[]);
        }
        let (t, d) = match dim {
            Some(d) => (self.clone(), norm_axis(name, d, self.rank())?),
            None => (self.flatten_all()?, 0),
        };
        if t.shape()[d] == 0 {
            return Err(Error::shape(
                name,
                format!("cannot reduce an empty dim of {}", fmt_shape(self.shape())),
            ));
        }
        let mut perm: Vec<usize> = (0..t.rank()).filter(|&x| x != d).collect();
        perm.push(d);
        let moved = t.permute(&perm)?;
        let len = t.shape()[d];
        let rows = t.numel() / len;
        let v = moved.to_vec_f64();
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = &v[r * len..(r + 1) * len];
            let mut best = 0usize;
            for (i, &x) in row.iter().enumerate() {
                let b = row[best];
                // first occurrence wins; NaN counts as the extreme, like PyTorch
                if !b.is_nan() && (x.is_nan() || (max && x > b) || (!max && x < b)) {
                    best = i;
                }
            }
            out.push(best as i64);
        }
        let mut shape: Vec<usize> = t.shape().to_vec();
        if keepdim && dim.is_some() {
            shape[d] = 1;
        } else {
            shape.remove(d);
        }
        Tensor::from_vec(out, &shape)
    }
    /// Index of the largest element along `dim` (or of the flattened tensor for `None`), as i64.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce("argmax", dim, keepdim, true)
    }
    /// Index of the smallest element along `dim` (or of the flattened tensor), as i64.
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce("argmin", dim, keepdim, false)
    }
}
