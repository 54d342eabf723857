//! Shapes and strided layouts: how a tensor's elements sit in its storage.

use crate::{Error, Result};
use smallvec::SmallVec;

/// A shape or strides held inline up to 4 dims (no heap allocation for the tensors of
/// everyday networks; a tiny op's cost is mostly its allocations).
pub(crate) type Dims = SmallVec<[usize; 4]>;

/// Formats a shape as `[2, 3]`.
pub fn fmt_shape(s: &[usize]) -> String {
    format!("{s:?}")
}

/// Row-major (C-contiguous) strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    contiguous_dims(shape).into_vec()
}

/// [`contiguous_strides`] held inline.
#[inline]
pub(crate) fn contiguous_dims(shape: &[usize]) -> Dims {
    // Up to rank 4 the strides are computed as scalars and written once: filling an array
    // element by element and copying it out stalls on the reload (store forwarding).
    let d = |i: usize| shape[i].max(1);
    let buf = match *shape {
        [] => return Dims::new(),
        [_] => ([1, 0, 0, 0], 1),
        [_, _] => ([d(1), 1, 0, 0], 2),
        [_, _, _] => {
            let s1 = d(2);
            ([s1 * d(1), s1, 1, 0], 3)
        }
        [_, _, _, _] => {
            let s2 = d(3);
            let s1 = s2 * d(2);
            ([s1 * d(1), s1, s2, 1], 4)
        }
        _ => {
            let mut strides: Dims = SmallVec::from_elem(0, shape.len());
            let mut acc = 1;
            for i in (0..shape.len()).rev() {
                strides[i] = acc;
                acc *= shape[i].max(1);
            }
            return strides;
        }
    };
    SmallVec::from_buf_and_len(buf.0, buf.1)
}

/// Resolves a possibly negative axis against a rank (`-1` is the last axis).
pub fn norm_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    // a 0-d tensor has no axes (callers index the shape with the result)
    if a < 0 || a >= r {
        return Err(Error::arg(
            op,
            format!("axis {axis} out of range for a tensor of rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Like [`norm_axis`], but a 0-d tensor accepts dim 0 and -1, as PyTorch's dim wrapping does
/// for scalars (it counts as having one dim of size 1); the result is then 0 and callers treat
/// it as naming no axis of the 0-d tensor.
pub(crate) fn wrap_dim(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    if rank > 0 {
        return norm_axis(op, axis, rank);
    }
    if axis == 0 || axis == -1 {
        Ok(0)
    } else {
        Err(Error::arg(
            op,
            format!("axis {axis} out of range for a tensor of rank 0 (which accepts 0 and -1)"),
        ))
    }
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    broadcast_dims(op, a, b).map(SmallVec::into_vec)
}

/// [`broadcast_shapes`] held inline.
pub(crate) fn broadcast_dims(op: &'static str, a: &[usize], b: &[usize]) -> Result<Dims> {
    if a == b {
        return Ok(SmallVec::from_slice(a));
    }
    let n = a.len().max(b.len());
    let mut out: Dims = SmallVec::from_elem(0, n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} cannot be broadcast (dim {}: {} vs {})",
                    fmt_shape(a),
                    fmt_shape(b),
                    i,
                    da,
                    db
                ),
            ));
        };
    }
    Ok(out)
}

/// Where a tensor's elements are: shape, strides (in elements) and offset into storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    shape: Dims,
    strides: Dims,
    offset: usize,
}

impl Layout {
    /// A contiguous row-major layout.
    #[inline]
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: SmallVec::from_slice(shape),
            strides: contiguous_dims(shape),
            offset: 0,
        }
    }
    pub(crate) fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        Layout {
            shape: SmallVec::from_vec(shape),
            strides: SmallVec::from_vec(strides),
            offset,
        }
    }
    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    /// Offset of the first element in storage.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the elements are row-major and packed (offset may be non-zero).
    pub fn is_contiguous(&self) -> bool {
        // an empty layout is contiguous (as in PyTorch), whatever its strides: otherwise a fresh
        // `contiguous` layout such as [2, 0] (strides [1, 1]) would not count as contiguous
        if self.numel() == 0 {
            return true;
        }
        let mut acc = 1;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc *= self.shape[i];
        }
        true
    }
    /// The contiguous range of storage this layout covers, if it is contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        if self.is_contiguous() {
            Some(self.offset..self.offset + self.numel())
        } else {
            None
        }
    }
    /// Calls `f` with the storage offset of every element, in row-major order.
    #[inline]
    pub fn for_each_offset(&self, mut f: impl FnMut(usize)) {
        let n = self.numel();
        if n == 0 {
            return;
        }
        let rank = self.shape.len();
        if rank == 0 {
            f(self.offset);
            return;
        }
        let inner = self.shape[rank - 1];
        let inner_stride = self.strides[rank - 1];
        let mut idx = vec![0usize; rank - 1];
        let mut base = self.offset;
        loop {
            let mut o = base;
            for _ in 0..inner {
                f(o);
                o += inner_stride;
            }
            // advance the outer index
            let mut d = rank - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                base += self.strides[d];
                if idx[d] < self.shape[d] {
                    break;
                }
                base -= self.strides[d] * self.shape[d];
                idx[d] = 0;
            }
        }
    }
    /// The layout viewed with a broadcast shape (stride 0 on expanded dims).
    pub fn broadcast_to(&self, op: &'static str, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.shape.len() {
            return Err(Error::shape(
                op,
                format!(
                    "cannot broadcast {} to {}",
                    fmt_shape(&self.shape),
                    fmt_shape(shape)
                ),
            ));
        }
        let extra = shape.len() - self.shape.len();
        let mut strides: Dims = SmallVec::from_elem(0, shape.len());
        for i in 0..shape.len() {
            if i < extra {
                continue;
            }
            let (d, s) = (self.shape[i - extra], self.strides[i - extra]);
            if d == shape[i] {
                strides[i] = s;
            } else if d == 1 {
                strides[i] = 0;
            } else {
                return Err(Error::shape(
                    op,
                    format!(
                        "cannot broadcast {} to {}",
                        fmt_shape(&self.shape),
                        fmt_shape(shape)
                    ),
                ));
            }
        }
        Ok(Layout {
            shape: SmallVec::from_slice(shape),
            strides,
            offset: self.offset,
        })
    }
    /// Permutes the dimensions.
    pub(crate) fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }
    /// Dims `a` and `b` swapped (a transpose).
    pub(crate) fn swap_dims(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }
    /// Narrows one dimension.
    pub(crate) fn narrow(&self, dim: usize, start: usize, len: usize) -> Layout {
        let mut shape = self.shape.clone();
        shape[dim] = len;
        // an empty view keeps its offset, so it never points past its storage
        let empty = shape.contains(&0);
        Layout {
            shape,
            strides: self.strides.clone(),
            offset: self.offset + if empty { 0 } else { start * self.strides[dim] },
        }
    }
    /// A view with a new shape if possible without copying (PyTorch's `view` rules).
    pub(crate) fn reshape_view(&self, shape: &[usize]) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                shape: SmallVec::from_slice(shape),
                strides: contiguous_dims(shape),
                offset: self.offset,
            });
        }
        // Try to merge/split dims: collect runs of old dims that are contiguous among themselves.
        let old: Vec<(usize, usize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(d, _)| **d != 1)
            .map(|(d, s)| (*d, *s))
            .collect();
        let mut new_strides = vec![0usize; shape.len()];
        let mut oi = 0;
        let mut ni = 0;
        while ni < shape.len() {
            if shape[ni] == 1 {
                new_strides[ni] = 1;
                ni += 1;
                continue;
            }
            if oi >= old.len() {
                return None;
            }
            // gather a chunk of old dims whose product equals a chunk of new dims
            let mut oprod = old[oi].0;
            let mut nprod = shape[ni];
            let n_start = ni;
            while oprod != nprod {
                if oprod < nprod {
                    oi += 1;
                    if oi >= old.len() {
                        return None;
                    }
                    // must be contiguous with the previous old dim
                    if old[oi - 1].1 != old[oi].0 * old[oi].1 {
                        return None;
                    }
                    oprod *= old[oi].0;
                } else {
                    ni += 1;
                    if ni >= shape.len() {
                        return None;
                    }
                    nprod *= shape[ni];
                }
            }
            // assign strides to new dims n_start..=ni, innermost gets old[oi].1
            let mut st = old[oi].1;
            for k in (n_start..=ni).rev() {
                new_strides[k] = st;
                st *= shape[k];
            }
            oi += 1;
            ni += 1;
        }
        if oi != old.len() {
            return None;
        }
        Some(Layout {
            shape: SmallVec::from_slice(shape),
            strides: SmallVec::from_vec(new_strides),
            offset: self.offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes("t", &[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert_eq!(broadcast_shapes("t", &[], &[3]).unwrap(), vec![3]);
        assert_eq!(broadcast_shapes("t", &[0, 1], &[1, 5]).unwrap(), vec![0, 5]);
        let e = broadcast_shapes("add", &[2, 3], &[4])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("add") && e.contains("[2, 3]") && e.contains("[4]"),
            "{e}"
        );
    }

    #[test]
    fn offsets_of_a_transposed_view() {
        let l = Layout::contiguous(&[2, 3]).permute(&[1, 0]);
        let mut v = vec![];
        l.for_each_offset(|o| v.push(o));
        assert_eq!(v, vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
    }

    #[test]
    fn reshape_view_of_non_contiguous() {
        // [4, 6] narrowed to columns 0..6 of a [4, 8] is not contiguous; merging rows is impossible
        let l = Layout::contiguous(&[4, 8]).narrow(1, 0, 6);
        assert!(l.reshape_view(&[24]).is_none());
        assert_eq!(l.reshape_view(&[4, 2, 3]).unwrap().strides(), &[8, 3, 1]);
        let t = Layout::contiguous(&[2, 3, 4]).permute(&[2, 0, 1]);
        assert_eq!(t.reshape_view(&[4, 6]).unwrap().strides(), &[1, 4]);
    }
}
