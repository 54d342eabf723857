//! Copies between a strided [`Layout`] and row-major order, by runs: the layout's dims are
//! merged where they address memory as one, so a transposed or narrowed view is copied as a
//! few long slices (`copy_from_slice`) rather than element by element, and large copies are
//! split across [`crate::parallel`]'s threads. A copy moves values only, so the split does
//! not change any result.

use crate::layout::Layout;
use crate::parallel::{for_ranges, threads, SharedMut};
use std::ops::Range;

use crate::cpu::PAR_THRESHOLD as PAR_ELEMS;

/// A layout as runs: `outer` dims (sizes and strides) of runs of `len` elements each, the
/// elements of a run `step` apart in storage.
struct Runs {
    offset: usize,
    outer: Vec<(usize, usize)>,
    len: usize,
    step: usize,
}

impl Runs {
    fn of(l: &Layout) -> Runs {
        // innermost first; size-1 dims address nothing
        let mut dims: Vec<(usize, usize)> = l
            .shape()
            .iter()
            .zip(l.strides())
            .rev()
            .filter(|(&d, _)| d != 1)
            .map(|(&d, &s)| (d, s))
            .collect();
        // merge a dim into the one inside it where it steps over that dim exactly
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(dims.len());
        for (d, s) in dims.drain(..) {
            match merged.last_mut() {
                Some((id, is)) if s == *id * *is => *id *= d,
                _ => merged.push((d, s)),
            }
        }
        let (len, step) = if merged.is_empty() {
            (1, 1)
        } else {
            merged.remove(0)
        };
        merged.reverse();
        Runs {
            offset: l.offset(),
            outer: merged,
            len,
            step,
        }
    }

    /// Calls `f(i, o, k)` for the elements `elems` (row-major indices) in pieces: `k`
    /// elements from row-major index `i`, at storage offsets `o, o + step, …`.
    fn for_each(&self, elems: Range<usize>, mut f: impl FnMut(usize, usize, usize)) {
        if elems.is_empty() {
            return;
        }
        // the outer index of the first run, innermost outer dim last
        let mut run = elems.start / self.len;
        let mut idx = vec![0usize; self.outer.len()];
        let mut base = self.offset;
        for (k, &(d, s)) in self.outer.iter().enumerate().rev() {
            idx[k] = run % d;
            base += idx[k] * s;
            run /= d;
        }
        let mut i = elems.start;
        let mut within = elems.start % self.len;
        while i < elems.end {
            let k = (self.len - within).min(elems.end - i);
            f(i, base + within * self.step, k);
            i += k;
            within = 0;
            // the next run
            for (k, &(d, s)) in self.outer.iter().enumerate().rev() {
                idx[k] += 1;
                base += s;
                if idx[k] < d {
                    break;
                }
                base -= s * d;
                idx[k] = 0;
            }
        }
    }
}

/// Splits `0..n` elements across the threads when `n` is large, else runs one range.
fn split(n: usize, f: impl Fn(Range<usize>) + Sync) {
    if n >= PAR_ELEMS && threads() > 1 {
        for_ranges(n, 4096, f);
    } else {
        f(0..n);
    }
}

/// `dst[i] = src[offset(i)]` for every element `i` of `layout` in row-major order.
///
/// Panics if `dst` is shorter than the layout or `src` does not hold its offsets.
pub(crate) fn gather<T: Copy + Send + Sync>(src: &[T], layout: &Layout, dst: &mut [T]) {
    let n = layout.numel();
    let dst = &mut dst[..n];
    let runs = Runs::of(layout);
    if transposes(&runs) {
        return gather_transposed(src, &runs, dst);
    }
    let out = SharedMut::new(dst);
    split(n, |r| {
        runs.for_each(r, |i, o, k| {
            // SAFETY: the tasks' element ranges are disjoint, so are the pieces inside one.
            let d = unsafe { out.range(i..i + k) };
            if runs.step == 1 {
                d.copy_from_slice(&src[o..o + k]);
            } else if runs.step == 0 {
                d.fill(src[o]);
            } else {
                for (j, d) in d.iter_mut().enumerate() {
                    *d = src[o + j * runs.step];
                }
            }
        })
    });
}

/// Side of the square tiles of [`gather_transposed`].
const TILE: usize = 16;

/// Whether the runs are the columns of a matrix stored the other way round: strided runs
/// whose next dim out is contiguous (a transposed view such as `w.t()`), long enough both
/// ways for tiles to pay.
fn transposes(r: &Runs) -> bool {
    r.step > 1 && r.len >= TILE && r.outer.last().is_some_and(|&(d, s)| s == 1 && d >= TILE)
}

/// [`gather`] for [`transposes`]'s runs, in `TILE x TILE` tiles: each tile reads `TILE`
/// contiguous pieces of the source and writes `TILE` of the destination, where the run by
/// run copy would read one element per cache line. The tiles of output rows are split
/// across the threads when the copy is large.
fn gather_transposed<T: Copy + Send + Sync>(src: &[T], runs: &Runs, dst: &mut [T]) {
    let (cols, step) = (runs.len, runs.step);
    let (rows, _) = *runs.outer.last().expect("transposes() saw an outer dim");
    let outer = &runs.outer[..runs.outer.len() - 1];
    let mats: usize = outer.iter().map(|&(d, _)| d).product();
    let bands = rows.div_ceil(TILE);
    // 32-bit elements: whole tiles through AVX-512 registers
    let wide = std::mem::size_of::<T>() == 4 && crate::cpu::simd::avx512f();
    let out = SharedMut::new(dst);
    let band = |u: usize| {
        let (m, b) = (u / bands, u % bands);
        // the source offset of matrix m (row-major over the outer dims)
        let (mut base, mut rest) = (runs.offset, m);
        for &(d, s) in outer.iter().rev() {
            base += (rest % d) * s;
            rest /= d;
        }
        let (r0, r1) = (b * TILE, ((b + 1) * TILE).min(rows));
        // SAFETY: band (m, b) alone writes output rows r0..r1 of matrix m.
        let d = unsafe { out.range((m * rows + r0) * cols..(m * rows + r1) * cols) };
        let mut c0 = 0;
        while c0 < cols {
            let c1 = (c0 + TILE).min(cols);
            #[cfg(target_arch = "x86_64")]
            if wide && r1 - r0 == TILE && c1 - c0 == TILE {
                // SAFETY: AVX-512F checked; T is 4 bytes wide and moved as bits; the tile's
                // 16 source pieces and 16 output rows lie inside `src` and `d`.
                unsafe {
                    crate::cpu::simd::transpose16::tile(
                        src.as_ptr().add(base + c0 * step + r0).cast(),
                        step,
                        d.as_mut_ptr().add(c0).cast(),
                        cols,
                    );
                }
                c0 = c1;
                continue;
            }
            for c in c0..c1 {
                let piece = &src[base + c * step + r0..][..r1 - r0];
                for (r, &v) in piece.iter().enumerate() {
                    d[r * cols + c] = v;
                }
            }
            c0 = c1;
        }
    };
    let units = mats * bands;
    if runs.len * rows * mats >= PAR_ELEMS && threads() > 1 {
        crate::parallel::for_ranges(units, 1, |us| us.for_each(band));
    } else {
        (0..units).for_each(band);
    }
}

/// `dst` = `value` everywhere except at the layout's offsets, where `dst[offset(i)] = src[i]`:
/// the interior of a padded tensor and its border, each element written once. The layout's
/// offsets must increase in row-major order (a narrowed contiguous layout).
///
/// Panics if `src` is shorter than the layout, `dst` does not hold its offsets, or the
/// offsets do not increase.
pub(crate) fn scatter_fill<T: Copy + Send + Sync>(
    src: &[T],
    layout: &Layout,
    dst: &mut [T],
    value: T,
) {
    let n = layout.numel();
    if n == 0 {
        dst.fill(value);
        return;
    }
    let runs = Runs::of(layout);
    // increasing offsets: each dim steps past everything inside it
    assert!(runs.step >= 1, "scatter_fill: offsets must increase");
    let mut extent = (runs.len - 1) * runs.step + 1;
    for &(d, s) in runs.outer.iter().rev() {
        assert!(s >= extent, "scatter_fill: offsets must increase");
        extent += (d - 1) * s;
    }
    assert!(
        runs.offset + extent <= dst.len(),
        "scatter_fill: the layout runs past the buffer"
    );
    let out = SharedMut::new(dst);
    let src = &src[..n];
    split(n, |r| fill_part(&runs, src, &out, r, value));
}

/// [`scatter_fill`]'s work for the elements `r`: those elements, the border between the
/// element before `r` and the last of `r`, and for the last part the tail.
fn fill_part<T: Copy>(runs: &Runs, src: &[T], out: &SharedMut<'_, T>, r: Range<usize>, value: T) {
    let (n, total) = (src.len(), out.len());
    // the border before this part's first element starts after the element before it
    let mut end = 0;
    if r.start > 0 {
        runs.for_each(r.start - 1..r.start, |_, o, _| end = o + 1);
    }
    let last = r.end == n;
    runs.for_each(r, |i, o, k| {
        // SAFETY (the writes below): offsets increase (checked by the caller), so this part's
        // border and elements lie between the element before it and its last element,
        // disjoint from every other part's.
        if runs.step == 1 {
            unsafe { out.range(end..o) }.fill(value);
            unsafe { out.range(o..o + k) }.copy_from_slice(&src[i..i + k]);
            end = o + k;
        } else {
            for j in 0..k {
                let at = o + j * runs.step;
                unsafe { out.range(end..at) }.fill(value);
                let d = unsafe { out.range(at..at + 1) };
                d[0] = src[i + j];
                end = at + 1;
            }
        }
    });
    if last {
        // SAFETY: the tail after the last element belongs to the last part alone.
        unsafe { out.range(end..total) }.fill(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets by the plain element walk, the reference.
    fn offsets(l: &Layout) -> Vec<usize> {
        let mut v = Vec::new();
        l.for_each_offset(|o| v.push(o));
        v
    }

    fn layouts() -> Vec<Layout> {
        let base = Layout::contiguous(&[4, 3, 5, 2]);
        let mut v = vec![
            base.clone(),
            base.permute(&[1, 0, 2, 3]),
            base.permute(&[3, 2, 1, 0]),
            base.permute(&[0, 1, 3, 2]),
            base.narrow(2, 1, 3),
            base.narrow(0, 1, 2).permute(&[2, 0, 1, 3]),
            base.narrow(3, 1, 1),
            Layout::contiguous(&[1, 7, 1]),
            Layout::contiguous(&[]),
            Layout::contiguous(&[0, 3]),
        ];
        v.push(base.narrow(1, 2, 1).narrow(3, 0, 1));
        // broadcast (stride-0) dims, inner and outer
        let col = Layout::contiguous(&[4, 1, 5]);
        v.push(col.broadcast_to("t", &[4, 3, 5]).unwrap());
        v.push(
            Layout::contiguous(&[3, 1])
                .broadcast_to("t", &[2, 3, 4])
                .unwrap(),
        );
        v
    }

    #[test]
    fn gather_matches_the_element_walk_for_every_split() {
        let src: Vec<u32> = (0..200).collect();
        for l in layouts() {
            let want: Vec<u32> = offsets(&l).iter().map(|&o| src[o]).collect();
            let mut got = vec![u32::MAX; want.len()];
            gather(&src, &l, &mut got);
            assert_eq!(got, want, "{l:?}");
            // every start and end of a piece, as the thread split would cut
            let runs = Runs::of(&l);
            for a in 0..=want.len() {
                for b in a..=want.len() {
                    let mut seen = Vec::new();
                    runs.for_each(a..b, |i, o, k| {
                        for j in 0..k {
                            seen.push((i + j, src[o + j * runs.step]));
                        }
                    });
                    let exp: Vec<(usize, u32)> = (a..b).map(|i| (i, want[i])).collect();
                    assert_eq!(seen, exp, "{l:?} {a}..{b}");
                }
            }
        }
    }

    #[test]
    fn scatter_fill_writes_the_interior_and_fills_the_rest() {
        let full = Layout::contiguous(&[4, 3, 5, 2]);
        let interiors = [
            full.clone(),
            full.narrow(2, 1, 3),
            full.narrow(0, 1, 2).narrow(3, 1, 1),
            full.narrow(1, 0, 1).narrow(2, 4, 1),
            full.narrow(0, 3, 1),
            full.narrow(1, 1, 0),
        ];
        for l in interiors {
            let src: Vec<u32> = (1..=l.numel() as u32).collect();
            let mut want = vec![7u32; full.numel()];
            for (i, o) in offsets(&l).into_iter().enumerate() {
                want[o] = src[i];
            }
            let mut got = vec![0u32; full.numel()];
            scatter_fill(&src, &l, &mut got, 7);
            assert_eq!(got, want, "{l:?}");
            // split as the threads would: at every element
            for cut in 0..=l.numel() {
                let mut got = vec![0u32; full.numel()];
                let out = SharedMut::new(&mut got);
                let runs = Runs::of(&l);
                fill_part(&runs, &src, &out, 0..cut, 7);
                fill_part(&runs, &src, &out, cut..l.numel(), 7);
                assert_eq!(got, want, "{l:?} cut at {cut}");
            }
        }
        let big = Layout::contiguous(&[2, 64, 32, 48]);
        let l = big.narrow(0, 0, 1).narrow(3, 2, 40);
        let src: Vec<f32> = (0..l.numel()).map(|i| i as f32 + 1.0).collect();
        let mut want = vec![-1f32; big.numel()];
        for (i, o) in offsets(&l).into_iter().enumerate() {
            want[o] = src[i];
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut got = vec![0f32; big.numel()];
        pool.install(|| scatter_fill(&src, &l, &mut got, -1.0));
        assert_eq!(got, want);
    }

    #[test]
    fn transposed_gathers_copy_tile_by_tile_and_the_ragged_edges() {
        // whole tiles, ragged edges both ways, a batch of matrices, a narrowed source, a
        // transpose whose runs are too short for tiles
        let cases = [
            Layout::contiguous(&[48, 32]).permute(&[1, 0]),
            Layout::contiguous(&[37, 21]).permute(&[1, 0]),
            Layout::contiguous(&[3, 33, 17]).permute(&[0, 2, 1]),
            Layout::contiguous(&[2, 3, 40, 18]).permute(&[1, 0, 3, 2]),
            Layout::contiguous(&[50, 40])
                .narrow(0, 3, 40)
                .narrow(1, 5, 30)
                .permute(&[1, 0]),
            Layout::contiguous(&[16, 15]).permute(&[1, 0]),
            // large enough to split across the threads
            Layout::contiguous(&[700, 300]).permute(&[1, 0]),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (i, l) in cases.into_iter().enumerate() {
            assert_eq!(transposes(&Runs::of(&l)), i != 5, "{l:?}");
            let n = l.numel() + 2000;
            let s32: Vec<u32> = (0..n as u32).collect();
            let want: Vec<u32> = offsets(&l).iter().map(|&o| s32[o]).collect();
            let mut got = vec![u32::MAX; want.len()];
            gather(&s32, &l, &mut got);
            assert_eq!(got, want, "{l:?}");
            let mut got = vec![u32::MAX; want.len()];
            if i != 5 {
                pool.install(|| gather_transposed(&s32, &Runs::of(&l), &mut got));
                assert_eq!(got, want, "{l:?} on 2 threads");
            }
            // 8-byte elements take the scalar tiles
            let s64: Vec<u64> = (0..n as u64).collect();
            let want: Vec<u64> = offsets(&l).iter().map(|&o| s64[o]).collect();
            let mut got = vec![u64::MAX; want.len()];
            gather(&s64, &l, &mut got);
            assert_eq!(got, want, "{l:?} u64");
        }
    }

    #[test]
    fn large_gathers_split_across_threads_copy_the_same() {
        let base = Layout::contiguous(&[64, 32, 48]);
        let l = base.permute(&[1, 0, 2]);
        let src: Vec<f32> = (0..base.numel()).map(|i| i as f32).collect();
        let want: Vec<f32> = offsets(&l).iter().map(|&o| src[o]).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut got = vec![0f32; want.len()];
        pool.install(|| gather(&src, &l, &mut got));
        assert_eq!(got, want);
    }
}
