//! The passes of log-softmax over contiguous data seen as `[outer, len, inner]` around the
//! softmax dim: one forward pass per slice, and one backward pass `dx = g - exp(y) * sum(g)`.
//! Slices are split across threads by whole slices, so results do not depend on the thread
//! count.

use crate::cpu::PAR_THRESHOLD;
use crate::dtype::Float;
use crate::parallel::{for_ranges, SharedMut};
use crate::storage::{take_buffer, StorageElem};

/// `e^x` for the `x <= 0` (or NaN) that log-softmax exponentiates: f64 from the standard
/// library; f32 by the vectorizable polynomial of the recurrent gates (a few ulp from libm),
/// 0 below -87 where that one clamps (libm's values there are below 1.7e-38, nothing beside
/// a slice's largest term, which is 1).
pub(crate) trait ExpNonPos: Float {
    fn exp_np(self) -> Self;
}

impl ExpNonPos for f64 {
    #[inline(always)]
    fn exp_np(self) -> f64 {
        self.exp()
    }
}

impl ExpNonPos for f32 {
    #[inline(always)]
    fn exp_np(self) -> f32 {
        let e = crate::cpu::recurrent::exp_f32(self);
        if self < -87.0 {
            0.0
        } else {
            e
        }
    }
}

/// A tensor seen as `[outer, len, inner]` around the softmax dim.
#[derive(Clone, Copy)]
pub(crate) struct Slices {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Slices {
    pub(crate) fn of(shape: &[usize], dim: usize) -> Slices {
        if shape.is_empty() {
            // a 0-d tensor is one slice of one element
            return Slices {
                outer: 1,
                len: 1,
                inner: 1,
            };
        }
        Slices {
            outer: shape[..dim].iter().product(),
            len: shape[dim],
            inner: shape[dim + 1..].iter().product(),
        }
    }

    /// Runs `f(o, dst)` for every outer index `o`, `dst` the `[len, inner]` block of `o` in
    /// `out`, split across threads when large.
    fn for_each<T: Send>(&self, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
        let block = self.len * self.inner;
        if block == 0 {
            return;
        }
        let shared = SharedMut::new(out);
        let run = |os: std::ops::Range<usize>| {
            for o in os {
                // SAFETY: outer indices are disjoint, so are their blocks
                f(o, unsafe { shared.range(o * block..(o + 1) * block) });
            }
        };
        if self.outer > 1 && self.outer * block >= PAR_THRESHOLD {
            for_ranges(self.outer, 1, run);
        } else {
            run(0..self.outer);
        }
    }
}

/// `y` from `x`, both `[outer, len, inner]` contiguous.
pub(crate) fn forward<T: ExpNonPos + StorageElem>(x: &[T], s: Slices) -> Vec<T> {
    let mut y = take_buffer::<T>(x.len());
    let block = s.len * s.inner;
    s.for_each(&mut y, |o, dst| {
        let src = &x[o * block..][..block];
        if s.inner == 1 {
            // contiguous slices: the exponentials in one vectorizable pass, then their sum
            let m = slice_max(src.iter().copied());
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v - m).exp_np();
            }
            let sum = dst.iter().fold(T::ZERO, |a, &v| a + v);
            let lse = sum.ln() + m;
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v - lse;
            }
            return;
        }
        for i in 0..s.inner {
            let at = |j: usize| src[j * s.inner + i];
            let m = slice_max((0..s.len).map(at));
            let mut sum = T::ZERO;
            for j in 0..s.len {
                sum += (at(j) - m).exp_np();
            }
            let lse = sum.ln() + m;
            for j in 0..s.len {
                dst[j * s.inner + i] = at(j) - lse;
            }
        }
    });
    y
}

/// The largest value, NaN if any is NaN (-inf for none: an empty slice never gets here).
fn slice_max<T: Float>(vals: impl Iterator<Item = T>) -> T {
    let mut m = T::NEG_INFINITY;
    for v in vals {
        if v.is_nan_() || m.is_nan_() {
            m = if v.is_nan_() { v } else { m };
        } else if v > m {
            m = v;
        }
    }
    m
}

/// `dx = g - exp(y) * sum(g)` per slice, all `[outer, len, inner]` contiguous.
pub(crate) fn backward<T: ExpNonPos + StorageElem>(g: &[T], y: &[T], s: Slices) -> Vec<T> {
    let mut dx = take_buffer::<T>(g.len());
    let block = s.len * s.inner;
    s.for_each(&mut dx, |o, dst| {
        let (g, y) = (&g[o * block..][..block], &y[o * block..][..block]);
        if s.inner == 1 {
            let sg = g.iter().fold(T::ZERO, |a, &v| a + v);
            for ((d, &gv), &yv) in dst.iter_mut().zip(g).zip(y) {
                *d = gv - yv.exp_np() * sg;
            }
            return;
        }
        for i in 0..s.inner {
            let mut sg = T::ZERO;
            for j in 0..s.len {
                sg += g[j * s.inner + i];
            }
            for j in 0..s.len {
                let k = j * s.inner + i;
                dst[k] = g[k] - y[k].exp_np() * sg;
            }
        }
    });
    dx
}
