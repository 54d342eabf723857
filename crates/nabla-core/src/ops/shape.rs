//! Views (no copy: reshape, permute, expand, narrow) and copying shape ops (cat, pad, ...).

use super::Op;
use crate::dtype::DType;
use crate::layout::{fmt_shape, norm_axis, wrap_dim, Dims, Layout};
use crate::storage::{take_buffer, Storage, StorageElem};
use crate::tensor::Tensor;
use crate::{Error, Result};

impl Tensor {
    /// The same elements with a new shape; one dimension may be `-1` (inferred). A view when
    /// the layout allows, else a copy.
    ///
    /// Fails when the element counts differ.
    pub fn reshape_infer(&self, shape: &[isize]) -> Result<Tensor> {
        let known: usize = shape
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        let infer = shape.iter().filter(|&&d| d < 0).count();
        if infer > 1 || shape.iter().any(|&d| d < -1) {
            return Err(Error::arg(
                "reshape",
                format!("bad shape {shape:?}: at most one -1"),
            ));
        }
        let resolved: Vec<usize> = shape
            .iter()
            .map(|&d| {
                if d >= 0 {
                    d as usize
                } else {
                    self.numel().checked_div(known).unwrap_or(0)
                }
            })
            .collect();
        self.reshape(&resolved)
    }

    /// The same elements with a new shape (a view when the layout allows, else a copy).
    ///
    /// Fails when the element counts differ: `reshape: cannot view [2, 3] (6 elements) as [4]`.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.numel() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "cannot view {} ({} elements) as {} ({} elements)",
                    fmt_shape(self.shape()),
                    self.numel(),
                    fmt_shape(shape),
                    n
                ),
            ));
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        match self.layout().reshape_view(shape) {
            Some(l) => Ok(self.view(l, Op::Reshape)),
            None => self.contiguous()?.reshape(shape),
        }
    }

    /// Flattens dims `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let s = norm_axis("flatten", start, self.rank())?;
        let e = norm_axis("flatten", end, self.rank())?;
        if s > e {
            return Err(Error::arg(
                "flatten",
                format!("start dim {start} after end dim {end}"),
            ));
        }
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        shape.push(self.shape()[s..=e].iter().product());
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(&shape)
    }

    /// Flattens everything into one dimension.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])
    }

    /// Removes a dimension of size 1 (a no-op when its size is not 1, as in PyTorch).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            // PyTorch accepts dim 0 or -1 for a 0-d tensor
            return norm_axis("squeeze", dim, 1).map(|_| self.clone());
        }
        let d = norm_axis("squeeze", dim, self.rank())?;
        if self.rank() == 0 || self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut shape = self.shape().to_vec();
        shape.remove(d);
        self.reshape(&shape)
    }

    /// Inserts a dimension of size 1 at `dim` (`-1` appends).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = norm_axis("unsqueeze", dim, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(d, 1);
        self.reshape(&shape)
    }

    /// Reorders the dimensions (a view).
    ///
    /// Fails when `perm` is not a permutation of `0..rank`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen: smallvec::SmallVec<[bool; 8]> = smallvec::smallvec![false; self.rank()];
        if perm.len() != self.rank()
            || perm
                .iter()
                .any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::arg(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the dims of {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        Ok(self.view(
            self.layout().permute(perm),
            Op::Permute {
                perm: Dims::from_slice(perm),
            },
        ))
    }

    /// Swaps two dimensions (a view). A 0-d tensor accepts dims 0 and -1 (itself), as PyTorch.
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let a = wrap_dim("transpose", d0, self.rank())?;
        let b = wrap_dim("transpose", d1, self.rank())?;
        if self.rank() == 0 {
            // PyTorch accepts transpose(0, 0) (and -1) of a 0-d tensor: itself
            return Ok(self.clone());
        }
        if a == b {
            return Ok(self.clone());
        }
        let mut perm: Dims = (0..self.rank()).collect();
        perm.swap(a, b);
        // a swap of two dims needs no permutation check
        Ok(self.view(self.layout().swap_dims(a, b), Op::Permute { perm }))
    }

    /// The transpose of a matrix (rank ≤ 2), like `torch.Tensor.t`.
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            _ => Err(Error::shape(
                "t",
                format!(
                    "expects a tensor of rank <= 2, got {}",
                    fmt_shape(self.shape())
                ),
            )),
        }
    }

    /// A broadcast view with the given shape (size-1 dims repeat with stride 0).
    ///
    /// Fails when the shape is not a broadcast of this one.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        let l = self.layout().broadcast_to("broadcast_to", shape)?;
        Ok(self.view(l, Op::Expand))
    }

    /// Same as [`Tensor::broadcast_to`] (PyTorch's `expand`).
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        self.broadcast_to(shape)
    }

    /// Elements `start..start + len` of dimension `dim` (a view).
    ///
    /// Fails when the range is out of bounds.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        if dim >= self.rank() {
            return Err(Error::arg(
                "narrow",
                format!("dim {dim} out of range for {}", fmt_shape(self.shape())),
            ));
        }
        if start
            .checked_add(len)
            .is_none_or(|end| end > self.shape()[dim])
        {
            return Err(Error::arg(
                "narrow",
                format!(
                    "range {}..{} out of bounds for dim {dim} of {}",
                    start,
                    start.saturating_add(len),
                    fmt_shape(self.shape())
                ),
            ));
        }
        if start == 0 && len == self.shape()[dim] {
            return Ok(self.clone());
        }
        Ok(self.view(
            self.layout().narrow(dim, start, len),
            Op::Narrow { dim, start },
        ))
    }

    /// A row-major packed copy (or `self` when already contiguous).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let s = match self.dtype() {
            DType::F32 => Storage::F32(self.data_pooled::<f32>()?),
            DType::F64 => Storage::F64(self.data_pooled::<f64>()?),
            DType::I64 => Storage::I64(self.data_pooled::<i64>()?),
        };
        Ok(Tensor::from_op(s, self.shape(), Op::Copy, &[self]))
    }

    /// Concatenates along `dim`; all other dims must match.
    ///
    /// Fails on an empty list, mismatched shapes or dtypes.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::arg("cat", "needs at least one tensor"))?;
        let d = norm_axis("cat", dim, first.rank())?;
        let mut total = 0;
        for t in tensors {
            first.check_same_dtype("cat", t)?;
            let ok = t.rank() == first.rank()
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (a, b))| i == d || a == b);
            if !ok {
                return Err(Error::shape(
                    "cat",
                    format!(
                        "shapes {} and {} differ outside dim {d}",
                        fmt_shape(first.shape()),
                        fmt_shape(t.shape())
                    ),
                ));
            }
            total += t.shape()[d];
        }
        let mut shape = first.shape().to_vec();
        shape[d] = total;
        let outer: usize = shape[..d].iter().product();
        let inner: usize = shape[d + 1..].iter().product();
        fn cat_typed<T: StorageElem>(
            ts: &[&Tensor],
            d: usize,
            outer: usize,
            inner: usize,
            n: usize,
        ) -> Result<Storage> {
            let datas: Vec<_> = ts.iter().map(|t| t.data::<T>()).collect::<Result<_>>()?;
            let mut out = take_buffer::<T>(n);
            let mut pos = 0;
            for o in 0..outer {
                for (t, dd) in ts.iter().zip(&datas) {
                    let blk = t.shape()[d] * inner;
                    out[pos..pos + blk].copy_from_slice(&dd[o * blk..(o + 1) * blk]);
                    pos += blk;
                }
            }
            Ok(T::into_storage(out))
        }
        let n = shape.iter().product();
        let s = match first.dtype() {
            DType::F32 => cat_typed::<f32>(tensors, d, outer, inner, n)?,
            DType::F64 => cat_typed::<f64>(tensors, d, outer, inner, n)?,
            DType::I64 => cat_typed::<i64>(tensors, d, outer, inner, n)?,
        };
        Ok(Tensor::from_op(s, &shape, Op::Cat { dim: d }, tensors))
    }

    /// Stacks equal-shaped tensors along a new dimension `dim`.
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::arg("stack", "needs at least one tensor"))?;
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::shape(
                    "stack",
                    format!(
                        "shapes {} and {} differ",
                        fmt_shape(first.shape()),
                        fmt_shape(t.shape())
                    ),
                ));
            }
        }
        let d = norm_axis("stack", dim, first.rank() + 1)? as isize;
        let us: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = us.iter().collect();
        Tensor::cat(&refs, d)
    }

    /// Splits into pieces of `size` along `dim` (the last may be smaller), as views, like
    /// `torch.split` with an integer: a dim of size 0 gives one empty piece.
    ///
    /// Fails when `size` is 0 or `dim` is out of range.
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = norm_axis("split", dim, self.rank())?;
        if size == 0 {
            return Err(Error::arg("split", "split size must be positive"));
        }
        let n = self.shape()[d];
        (0..n.div_ceil(size).max(1))
            .map(|i| self.narrow(d, i * size, size.min(n - i * size)))
            .collect()
    }

    /// Splits along `dim` into pieces of the given `sizes`, as views, like `torch.split` with
    /// a list of sizes (`split_with_sizes`); sizes may be 0.
    ///
    /// Fails when the sizes do not add up to the dim's size or `dim` is out of range.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = norm_axis("split_sizes", dim, self.rank())?;
        let n = self.shape()[d];
        let total = sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s));
        if total != Some(n) {
            return Err(Error::arg(
                "split_sizes",
                format!(
                    "sizes {sizes:?} must add up to {n}, the size of dim {d} of {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let piece = self.narrow(d, start, len);
                start += len;
                piece
            })
            .collect()
    }

    /// Splits into at most `chunks` pieces along `dim`, as views, like `torch.chunk`: each of
    /// `ceil(n / chunks)` elements, the last smaller, so there may be fewer pieces than asked
    /// (5 into 3: sizes 2, 2, 1; 6 into 4: 2, 2, 2). A dim of size 0 gives `chunks` empty
    /// pieces.
    ///
    /// Fails when `chunks` is 0 or `dim` is out of range.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = norm_axis("chunk", dim, self.rank())?;
        if chunks == 0 {
            return Err(Error::arg("chunk", "number of chunks must be positive"));
        }
        if self.shape()[d] == 0 {
            return self.split_sizes(&vec![0; chunks], dim);
        }
        let size = self.shape()[d].div_ceil(chunks);
        self.split(size, dim)
    }

    /// Pads with a constant: `pads[i] = (before, after)` for dim `i`; when `pads` is shorter
    /// than the rank, the remaining trailing dims are not padded.
    ///
    /// Fails when `pads` has more entries than the tensor has dims.
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if pads.len() > self.rank() {
            return Err(Error::arg(
                "pad",
                format!(
                    "{} pad pairs for a tensor of shape {}",
                    pads.len(),
                    fmt_shape(self.shape())
                ),
            ));
        }
        let mut full = pads.to_vec();
        full.resize(self.rank(), (0, 0));
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(&full)
            .map(|(d, (b, a))| d + b + a)
            .collect();
        let mut interior = Layout::contiguous(&shape);
        for (d, (b, _)) in full.iter().enumerate() {
            interior = interior.narrow(d, *b, self.shape()[d]);
        }
        fn pad_typed<T: StorageElem>(
            src: &Tensor,
            value: f64,
            n: usize,
            interior: &Layout,
        ) -> Result<Storage> {
            let data = src.data::<T>()?;
            let mut v = take_buffer::<T>(n);
            crate::strided::scatter_fill(&data, interior, &mut v, T::from_f64(value));
            Ok(T::into_storage(v))
        }
        let n = shape.iter().product();
        let s = match self.dtype() {
            DType::F32 => pad_typed::<f32>(self, value, n, &interior)?,
            DType::F64 => pad_typed::<f64>(self, value, n, &interior)?,
            DType::I64 => pad_typed::<i64>(self, value, n, &interior)?,
        };
        Ok(Tensor::from_op(s, &shape, Op::Pad { pads: full }, &[self]))
    }
}
