//! Sums over slices: one vectorized pass per fixed chunk, the chunks' partial sums combined in
//! index order (chunks in parallel above a size threshold), so any thread count gives the
//! same bits.

use crate::cpu::{CHUNK, PAR_THRESHOLD};
use crate::dtype::Float;
use crate::parallel::{for_ranges, threads, SharedMut};
use multiversion::multiversion;

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn sum_seq<T: Float>(x: &[T]) -> T {
    // 16 independent accumulators in a fixed order: vectorizes, and is deterministic.
    let mut acc = [T::ZERO; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    let mut s = T::ZERO;
    for r in it.remainder() {
        s += *r;
    }
    let mut t = T::ZERO;
    for a in acc {
        t += a;
    }
    t + s
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn sum_sq_seq<T: Float>(x: &[T]) -> f64 {
    // squares in f64: a finite f32 above ~1.8e19 would overflow when squared in f32
    let mut acc = [0.0f64; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for i in 0..16 {
            let v = c[i].to_f64();
            acc[i] += v * v;
        }
    }
    let mut t = 0.0f64;
    for r in it.remainder() {
        let v = r.to_f64();
        t += v * v;
    }
    for a in acc {
        t += a;
    }
    t
}

/// `f` of each `CHUNK` of `x`, in order (in parallel above the threshold).
fn chunk_partials<T: Float, R: Copy + Default + Send>(x: &[T], f: fn(&[T]) -> R) -> Vec<R> {
    if x.len() >= PAR_THRESHOLD && threads() > 1 {
        let out_len = x.len().div_ceil(CHUNK);
        let mut out = vec![R::default(); out_len];
        let o = SharedMut::new(&mut out);
        for_ranges(out_len, 1, |r| {
            // SAFETY: for_ranges hands out disjoint ranges.
            for (i, p) in r.clone().zip(unsafe { o.range(r) }) {
                *p = f(&x[i * CHUNK..((i + 1) * CHUNK).min(x.len())]);
            }
        });
        out
    } else {
        x.chunks(CHUNK).map(f).collect()
    }
}

/// Sum of squares, without a temporary: fixed-size chunks (accumulated in `T`, vectorized)
/// combined in f64 in index order, so any thread count gives the same bits.
pub(crate) fn sum_sq_f64<T: Float>(x: &[T]) -> f64 {
    let partials = chunk_partials(x, sum_sq_seq);
    partials.into_iter().sum()
}

/// Sum of a slice: fixed-size chunks combined in index order, so any thread count gives the
/// same bits.
pub(crate) fn sum<T: Float>(x: &[T]) -> T {
    if x.len() <= CHUNK {
        return sum_seq(x);
    }
    let partials = chunk_partials(x, sum_seq);
    let mut s = T::ZERO;
    for p in partials {
        s += p;
    }
    s
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
fn add_into<T: Float>(acc: &mut [T], x: &[T]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a += b;
    }
}

/// Column sums of a row-major `[rows, cols]` block: `out[j] = sum_i x[i, j]` (rows in order).
pub(crate) fn sum_rows_into<T: Float>(x: &[T], cols: usize, out: &mut [T]) {
    out.fill(T::ZERO);
    if cols == 0 {
        return;
    }
    if x.len() >= PAR_THRESHOLD && threads() > 1 && cols >= 64 {
        // split the columns: each thread sums all rows of its own column block, rows in order
        let rows = x.len() / cols;
        let o = SharedMut::new(out);
        for_ranges(cols, 64, |c| {
            // SAFETY: for_ranges hands out disjoint ranges.
            let o = unsafe { o.range(c.clone()) };
            for r in 0..rows {
                add_into(o, &x[r * cols + c.start..r * cols + c.end]);
            }
        });
    } else {
        for row in x.chunks(cols) {
            add_into(out, row);
        }
    }
}
