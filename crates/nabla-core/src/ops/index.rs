//! Indexing ops: index_select, gather, scatter_add, index_add (indices are i64 tensors).

use super::Op;
use crate::cpu::PAR_THRESHOLD as PAR_ELEMS;
use crate::dtype::DType;
use crate::layout::{fmt_shape, norm_axis};
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// `idx` (i64) as offsets below `bound`, or an error naming `op`.
pub(crate) fn indices(op: &'static str, idx: &Tensor, bound: usize) -> Result<Vec<usize>> {
    if idx.dtype() != DType::I64 {
        return Err(Error::dtype(
            op,
            format!(
                "indices must be i64, got {} {}",
                idx.dtype(),
                fmt_shape(idx.shape())
            ),
        ));
    }
    let v = idx.data::<i64>()?;
    v.iter()
        .map(|&i| {
            if i < 0 || i as usize >= bound {
                Err(Error::arg(
                    op,
                    format!("index {i} out of range for a dim of size {bound}"),
                ))
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

fn add_values<T: StorageElem + std::ops::AddAssign>(dst: &mut T, v: T) {
    *dst += v;
}

impl Tensor {
    /// Picks the entries `idx` (1-d, i64) along `dim`, like `torch.index_select`.
    ///
    /// Fails when `idx` is not 1-d i64 or holds an index out of range.
    pub fn index_select(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_axis("index_select", dim, self.rank())?;
        if idx.rank() != 1 {
            return Err(Error::shape(
                "index_select",
                format!("indices must be 1-d, got {}", fmt_shape(idx.shape())),
            ));
        }
        let ix = indices("index_select", idx, self.shape()[d])?;
        let mut shape = self.shape().to_vec();
        shape[d] = ix.len();
        let outer: usize = self.shape()[..d].iter().product();
        let inner: usize = self.shape()[d + 1..].iter().product();
        let size = self.shape()[d];
        fn index_select_typed<T: StorageElem>(
            t: &Tensor,
            ix: &[usize],
            outer: usize,
            size: usize,
            inner: usize,
        ) -> Result<Storage> {
            let src = t.data::<T>()?;
            let rows = outer * ix.len();
            let mut out = take_buffer::<T>(rows * inner);
            let dst = SharedMut::new(&mut out);
            // output row p is entry ix[p % len] of outer block p / len
            let copy = |ps: std::ops::Range<usize>| {
                for p in ps {
                    let s = (p / ix.len() * size + ix[p % ix.len()]) * inner;
                    // SAFETY: the tasks' row ranges are disjoint.
                    unsafe { dst.range(p * inner..(p + 1) * inner) }
                        .copy_from_slice(&src[s..s + inner]);
                }
            };
            if rows * inner >= PAR_ELEMS && rows > 1 && threads() > 1 {
                for_ranges(rows, 1, copy);
            } else {
                copy(0..rows);
            }
            Ok(T::into_storage(out))
        }
        let s = match self.dtype() {
            DType::F32 => index_select_typed::<f32>(self, &ix, outer, size, inner)?,
            DType::F64 => index_select_typed::<f64>(self, &ix, outer, size, inner)?,
            DType::I64 => index_select_typed::<i64>(self, &ix, outer, size, inner)?,
        };
        Ok(Tensor::from_op(
            s,
            &shape,
            Op::IndexSelect { dim: d },
            &[self, idx],
        ))
    }

    /// `out[..., idx[j], ...] += src[..., j, ...]` along `dim`, like `torch.index_add`.
    ///
    /// Fails when shapes do not fit: `src` must equal `self` except `src.shape[dim] == idx.len`.
    pub fn index_add(&self, dim: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.check_same_dtype("index_add", src)?;
        let dim = norm_axis("index_add", dim, self.rank())?;
        if idx.rank() != 1 || src.rank() != self.rank() {
            return Err(Error::shape(
                "index_add",
                format!(
                    "self {}, indices {} and source {} do not fit along dim {dim}",
                    fmt_shape(self.shape()),
                    fmt_shape(idx.shape()),
                    fmt_shape(src.shape())
                ),
            ));
        }
        let ok = src
            .shape()
            .iter()
            .zip(self.shape())
            .enumerate()
            .all(|(i, (a, b))| if i == dim { *a == idx.numel() } else { a == b });
        if !ok {
            return Err(Error::shape(
                "index_add",
                format!(
                    "self {}, indices {} and source {} do not fit along dim {dim}",
                    fmt_shape(self.shape()),
                    fmt_shape(idx.shape()),
                    fmt_shape(src.shape())
                ),
            ));
        }
        let ix = indices("index_add", idx, self.shape()[dim])?;
        let outer: usize = self.shape()[..dim].iter().product();
        let inner: usize = self.shape()[dim + 1..].iter().product();
        let size = self.shape()[dim];
        fn index_add_typed<T: StorageElem + std::ops::AddAssign>(
            t: &Tensor,
            src: &Tensor,
            ix: &[usize],
            outer: usize,
            size: usize,
            inner: usize,
        ) -> Result<Storage> {
            let mut out = t.data_pooled::<T>()?;
            let s = src.data::<T>()?;
            let shared = SharedMut::new(&mut out);
            // columns `cols` of every (outer, index) pair, pairs in order: each element sums
            // its sources in the same order whatever the column split
            let add = |cols: std::ops::Range<usize>| {
                for o in 0..outer {
                    for (j, &i) in ix.iter().enumerate() {
                        let dst = (o * size + i) * inner;
                        let from = (o * ix.len() + j) * inner;
                        // SAFETY: the tasks' column ranges are disjoint.
                        let d = unsafe { shared.range(dst + cols.start..dst + cols.end) };
                        for (d, &v) in d.iter_mut().zip(&s[from + cols.start..from + cols.end]) {
                            add_values(d, v);
                        }
                    }
                }
            };
            if outer * ix.len() * inner >= PAR_ELEMS && inner >= 128 && threads() > 1 {
                for_ranges(inner, 64, add);
            } else {
                add(0..inner);
            }
            Ok(T::into_storage(out))
        }
        let s = match self.dtype() {
            DType::F32 => index_add_typed::<f32>(self, src, &ix, outer, size, inner)?,
            DType::F64 => index_add_typed::<f64>(self, src, &ix, outer, size, inner)?,
            DType::I64 => index_add_typed::<i64>(self, src, &ix, outer, size, inner)?,
        };
        Ok(Tensor::from_op(
            s,
            self.shape(),
            Op::IndexAdd { dim },
            &[self, idx, src],
        ))
    }

    fn check_gather(&self, op: &'static str, d: usize, idx: &Tensor) -> Result<()> {
        let ok = idx.rank() == self.rank()
            && idx
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(i, (a, b))| i == d || a <= b);
        if !ok {
            return Err(Error::shape(
                op,
                format!(
                    "input {} and index {} do not fit along dim {d}",
                    fmt_shape(self.shape()),
                    fmt_shape(idx.shape())
                ),
            ));
        }
        Ok(())
    }

    /// `out[i][j] = self[i][idx[i][j]]` (for dim 1; likewise any dim), like `torch.gather`.
    ///
    /// Fails when ranks differ, `idx` is larger than `self` outside `dim`, or an index is out
    /// of range.
    pub fn gather(&self, dim: isize, idx: &Tensor) -> Result<Tensor> {
        let d = norm_axis("gather", dim, self.rank())?;
        self.check_gather("gather", d, idx)?;
        let ix = indices("gather", idx, self.shape()[d])?;
        let il = crate::layout::Layout::contiguous(idx.shape());
        let strides = crate::layout::contiguous_strides(self.shape());
        fn gather_typed<T: StorageElem>(
            t: &Tensor,
            ix: &[usize],
            ishape: &[usize],
            strides: &[usize],
            d: usize,
        ) -> Result<Storage> {
            let src = t.data::<T>()?;
            let mut out = take_buffer::<T>(ix.len());
            let mut pos = vec![0usize; ishape.len()];
            for (n, o) in out.iter_mut().enumerate() {
                let mut off = 0;
                for k in 0..ishape.len() {
                    off += if k == d { ix[n] } else { pos[k] } * strides[k];
                }
                *o = src[off];
                // advance pos
                for k in (0..ishape.len()).rev() {
                    pos[k] += 1;
                    if pos[k] < ishape[k] {
                        break;
                    }
                    pos[k] = 0;
                }
            }
            Ok(T::into_storage(out))
        }
        let s = match self.dtype() {
            DType::F32 => gather_typed::<f32>(self, &ix, il.shape(), &strides, d)?,
            DType::F64 => gather_typed::<f64>(self, &ix, il.shape(), &strides, d)?,
            DType::I64 => gather_typed::<i64>(self, &ix, il.shape(), &strides, d)?,
        };
        Ok(Tensor::from_op(
            s,
            idx.shape(),
            Op::Gather { dim: d },
            &[self, idx],
        ))
    }

    /// `out = self; out[i][idx[i][j]] += src[i][j]` (for dim 1; likewise any dim), like
    /// `torch.scatter_add`. `idx` and `src` have the same shape.
    pub fn scatter_add(&self, dim: isize, idx: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.check_same_dtype("scatter_add", src)?;
        let dim = norm_axis("scatter_add", dim, self.rank())?;
        self.check_gather("scatter_add", dim, idx)?;
        if idx.shape() != src.shape() {
            return Err(Error::shape(
                "scatter_add",
                format!(
                    "index {} and source {} differ",
                    fmt_shape(idx.shape()),
                    fmt_shape(src.shape())
                ),
            ));
        }
        let ix = indices("scatter_add", idx, self.shape()[dim])?;
        let strides = crate::layout::contiguous_strides(self.shape());
        fn scatter_add_typed<T: StorageElem + std::ops::AddAssign>(
            t: &Tensor,
            src: &Tensor,
            ix: &[usize],
            strides: &[usize],
            d: usize,
        ) -> Result<Storage> {
            let mut out = t.data_pooled::<T>()?;
            let s = src.data::<T>()?;
            let ishape = src.shape();
            let mut pos = vec![0usize; ishape.len()];
            for (n, &v) in s.iter().enumerate() {
                let mut off = 0;
                for k in 0..ishape.len() {
                    off += if k == d { ix[n] } else { pos[k] } * strides[k];
                }
                add_values(&mut out[off], v);
                for k in (0..ishape.len()).rev() {
                    pos[k] += 1;
                    if pos[k] < ishape[k] {
                        break;
                    }
                    pos[k] = 0;
                }
            }
            Ok(T::into_storage(out))
        }
        let s = match self.dtype() {
            DType::F32 => scatter_add_typed::<f32>(self, src, &ix, &strides, dim)?,
            DType::F64 => scatter_add_typed::<f64>(self, src, &ix, &strides, dim)?,
            DType::I64 => scatter_add_typed::<i64>(self, src, &ix, &strides, dim)?,
        };
        Ok(Tensor::from_op(
            s,
            self.shape(),
            Op::ScatterAdd { dim },
            &[self, idx, src],
        ))
    }
}

/// An i64 index tensor from a slice (convenience for `index_select`, `gather`, ...).
pub fn index_tensor(v: &[i64], shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(v.to_vec(), shape)
}
