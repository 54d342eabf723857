//! Elementwise kernels over slices (`map`, `zip` and their variants) and the broadcasting
//! driver of the binary ops ([`zip_broadcast`]): loops the compiler vectorizes, compiled for
//! AVX-512 and AVX2 and chosen at run time (so a portable build runs the wide code), and split
//! across threads ([`crate::parallel`]) above a size threshold. Chunk boundaries never depend
//! on the thread count, so results are bitwise identical for any number of threads.

use crate::cpu::{CHUNK, PAR_THRESHOLD};
use crate::layout::Layout;
use crate::parallel::{for_ranges, threads, SharedMut};
use crate::storage::{take_buffer, StorageElem};
use crate::tensor::Tensor;
use crate::Result;
use multiversion::multiversion;

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn map_seq<T: Copy, U: Copy, F: Fn(T) -> U>(src: &[T], dst: &mut [U], f: &F) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f(s);
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn zip_seq<T: Copy, U: Copy, F: Fn(T, T) -> U>(a: &[T], b: &[T], dst: &mut [U], f: &F) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = f(x, y);
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn zip_in_place_seq<T: Copy, F: Fn(T, T) -> T>(a: &mut [T], b: &[T], f: &F) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = f(*x, y);
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn zip3_in_place_seq<T: Copy, F: Fn(T, T, T) -> T>(a: &mut [T], b: &[T], c: &[T], f: &F) {
    for ((x, &y), &z) in a.iter_mut().zip(b).zip(c) {
        *x = f(*x, y, z);
    }
}

/// `a[i] = f(a[i], b[i], c[i])`.
pub(crate) fn zip3_in_place<T, F>(a: &mut [T], b: &[T], c: &[T], f: F)
where
    T: Copy + Send + Sync,
    F: Fn(T, T, T) -> T + Sync,
{
    if a.len() >= PAR_THRESHOLD && threads() > 1 {
        let n = a.len();
        let d = SharedMut::new(a);
        for_ranges(n, CHUNK, |r| {
            // SAFETY: for_ranges hands out disjoint ranges.
            zip3_in_place_seq(unsafe { d.range(r.clone()) }, &b[r.clone()], &c[r], &f)
        });
    } else {
        zip3_in_place_seq(a, b, c, &f);
    }
}

/// `a[i] = f(a[i], b[i])`.
pub(crate) fn zip_in_place<T, F>(a: &mut [T], b: &[T], f: F)
where
    T: Copy + Send + Sync,
    F: Fn(T, T) -> T + Sync,
{
    if a.len() >= PAR_THRESHOLD && threads() > 1 {
        let n = a.len();
        let d = SharedMut::new(a);
        for_ranges(n, CHUNK, |r| {
            // SAFETY: for_ranges hands out disjoint ranges.
            zip_in_place_seq(unsafe { d.range(r.clone()) }, &b[r], &f)
        });
    } else {
        zip_in_place_seq(a, b, &f);
    }
}

/// `dst[i] = f(src[i])`.
pub(crate) fn map<T, U, F>(src: &[T], dst: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: Fn(T) -> U + Sync,
{
    if src.len() >= PAR_THRESHOLD && threads() > 1 {
        let d = SharedMut::new(dst);
        // SAFETY: for_ranges hands out disjoint ranges.
        for_ranges(src.len(), CHUNK, |r| {
            map_seq(&src[r.clone()], unsafe { d.range(r) }, &f)
        });
    } else {
        map_seq(src, dst, &f);
    }
}

/// `dst[i] = f(a[i], b[i])`.
fn zip<T, U, F>(a: &[T], b: &[T], dst: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: Fn(T, T) -> U + Sync,
{
    if a.len() >= PAR_THRESHOLD && threads() > 1 {
        let d = SharedMut::new(dst);
        for_ranges(a.len(), CHUNK, |r| {
            // SAFETY: for_ranges hands out disjoint ranges.
            zip_seq(&a[r.clone()], &b[r.clone()], unsafe { d.range(r) }, &f)
        });
    } else {
        zip_seq(a, b, dst, &f);
    }
}

/// `dst[i] = f(a[i], b[i % b.len()])`: the right operand repeats (a broadcast suffix).
fn zip_repeat_rhs<T, U, F>(a: &[T], b: &[T], dst: &mut [U], f: F)
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: Fn(T, T) -> U + Sync,
{
    let k = b.len();
    if k == 0 {
        return;
    }
    if k == 1 {
        let y = b[0];
        return map(a, dst, |x| f(x, y));
    }
    let rows = (CHUNK / k).max(1) * k;
    let apply = |d: &mut [U], x: &[T]| {
        for (dd, xx) in d.chunks_mut(k).zip(x.chunks(k)) {
            zip_seq(xx, b, dd, &f);
        }
    };
    if a.len() >= PAR_THRESHOLD && threads() > 1 {
        let d = SharedMut::new(dst);
        // SAFETY: for_ranges hands out disjoint ranges.
        for_ranges(a.len(), rows, |r| {
            apply(unsafe { d.range(r.clone()) }, &a[r])
        });
    } else {
        apply(dst, a);
    }
}

/// If `l` reads a contiguous block of `k` elements repeated over its leading dims (stride 0),
/// returns (offset, k). A contiguous layout is the case k = numel.
fn repeat_period(l: &Layout) -> Option<(usize, usize)> {
    let shape = l.shape();
    let strides = l.strides();
    let mut k = 1;
    let mut i = shape.len();
    // contiguous suffix
    while i > 0 {
        let d = shape[i - 1];
        if d != 1 && strides[i - 1] != k {
            break;
        }
        k *= d;
        i -= 1;
    }
    // the rest must be broadcast (stride 0) or size 1
    for j in 0..i {
        if shape[j] != 1 && strides[j] != 0 {
            return None;
        }
    }
    Some((l.offset(), k))
}

/// Elements of a (possibly broadcast) layout, gathered in row-major order.
fn gather<T: Copy + Default + StorageElem>(s: &[T], l: &Layout) -> Vec<T> {
    let mut v = take_buffer::<T>(l.numel());
    crate::strided::gather(s, l, &mut v);
    v
}

/// `f(a, b)` elementwise over the broadcast shape, for element type `T` into `U`.
pub(crate) fn zip_broadcast<T, U, F>(
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: F,
) -> Result<Vec<U>>
where
    T: StorageElem,
    U: StorageElem,
    F: Fn(T, T) -> U + Sync + Copy,
{
    let (sa, sb) = (a.typed_storage::<T>(), b.typed_storage::<T>());
    let n: usize = shape.iter().product();
    let mut out = take_buffer::<U>(n);
    if n == 0 {
        return Ok(out);
    }
    // same shape, both packed: no broadcast layouts to work out
    if a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous() {
        let (oa, ob) = (a.layout().offset(), b.layout().offset());
        zip(&sa[oa..oa + n], &sb[ob..ob + n], &mut out, f);
        return Ok(out);
    }
    let la = a.layout().broadcast_to("broadcast", shape)?;
    let lb = b.layout().broadcast_to("broadcast", shape)?;
    match (repeat_period(&la), repeat_period(&lb)) {
        (Some((oa, ka)), Some((ob, kb))) if ka == n && kb == n => {
            zip(&sa[oa..oa + n], &sb[ob..ob + n], &mut out, f);
        }
        (Some((oa, ka)), Some((ob, kb))) if ka == n => {
            zip_repeat_rhs(&sa[oa..oa + n], &sb[ob..ob + kb], &mut out, f);
        }
        (Some((oa, ka)), Some((ob, kb))) if kb == n => {
            zip_repeat_rhs(&sb[ob..ob + n], &sa[oa..oa + ka], &mut out, move |y, x| {
                f(x, y)
            });
        }
        _ => {
            let ga = gather(sa, &la);
            let gb = gather(sb, &lb);
            zip(&ga, &gb, &mut out, f);
        }
    }
    Ok(out)
}
