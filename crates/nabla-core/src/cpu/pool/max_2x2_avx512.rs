//! The 2x2, stride-2 max pooling of CNNs (every benchmark net pools so) in AVX-512, for f32,
//! a plane at a time: the compiler leaves the generic kernels of [`super::max`]
//! scalar, since a window's two taps per row are neighbours (a deinterleave) and the indices
//! are 64-bit. Rows are done 16 outputs at a time, the last part of a row with masked loads
//! and stores (CNN rows are short: 5 to 14 outputs in the benchmark nets).
//!
//! Both kernels compute exactly what the generic ones do: the forward keeps the generic tap
//! order and rule (a later tap wins when it is greater or NaN), the backward writes every
//! input element once, `0 + g` at a window's argmax and `0` elsewhere, as the generic
//! zero-fill-then-add does for windows that do not overlap.

#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::lane_mask;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Outputs per vector step.
#[cfg(target_arch = "x86_64")]
const LANES: usize = 16;

/// Masks of one step of `len` outputs (`len <= 16`): the outputs, and the two vectors of
/// `2 * len` inputs (or `dx` elements), low and high.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn step_masks(len: usize) -> (u16, u16, u16) {
    (
        lane_mask(len),
        lane_mask(2 * len),
        lane_mask((2 * len).saturating_sub(LANES)),
    )
}

/// Forward of one plane `x` (`[h, w]`, with `2 oh <= h`, `2 ow <= w`): `best` and `arg`
/// (`[oh, ow]`) get each window's maximum and its flat index in the plane.
///
/// # Safety
/// [`crate::cpu::simd::avx512f`] must be true; `x` holds `h * w` elements with
/// `2 * oh <= h`, `2 * ow <= w`, `w < 2^31`, and `best`, `arg` hold `oh * ow`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn max_2x2_plane(
    x: &[f32],
    best: &mut [f32],
    arg: &mut [i64],
    w: usize,
    (oh, ow): (usize, usize),
) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let twice = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    let (t1, t2, t3) = (
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(w as i32),
        _mm512_set1_epi32(w as i32 + 1),
    );
    for oy in 0..oh {
        let at0 = 2 * oy * w;
        let mut k = 0;
        while k < ow {
            let len = (ow - k).min(LANES);
            let (mo, ma, mb) = step_masks(len);
            // SAFETY: the masks keep every access inside row 2oy or 2oy + 1 of `x` (their
            // first 2 ow elements) and inside output row oy of `best` and `arg`.
            unsafe {
                let load = |at: usize| {
                    let p = x.as_ptr().add(at + 2 * k);
                    let a = _mm512_maskz_loadu_ps(ma, p);
                    let b = _mm512_maskz_loadu_ps(mb, p.add(LANES));
                    (
                        _mm512_permutex2var_ps(a, even, b),
                        _mm512_permutex2var_ps(a, odd, b),
                    )
                };
                let (p0, p1) = load(at0);
                let (q0, q1) = load(at0 + w);
                let mut m = p0;
                let mut tap = _mm512_setzero_si512();
                for (v, code) in [(p1, t1), (q0, t2), (q1, t3)] {
                    let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, m)
                        | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                    m = _mm512_mask_blend_ps(take, m, v);
                    tap = _mm512_mask_blend_epi32(take, tap, code);
                }
                let o = oy * ow + k;
                _mm512_mask_storeu_ps(best.as_mut_ptr().add(o), mo, m);
                let base = _mm512_add_epi64(_mm512_set1_epi64((at0 + 2 * k) as i64), twice);
                let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(tap));
                let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(tap));
                let ap = arg.as_mut_ptr().add(o);
                _mm512_mask_storeu_epi64(ap, mo as u8, _mm512_add_epi64(base, lo));
                let base_hi = _mm512_add_epi64(base, _mm512_set1_epi64(2 * 8));
                let hi_mask = (mo >> 8) as u8;
                _mm512_mask_storeu_epi64(ap.add(8), hi_mask, _mm512_add_epi64(base_hi, hi));
            }
            k += len;
        }
    }
}

/// Backward of one plane: `dst` (`[h, w]`) gets `0 + g[o]` at `idx[o]` (each inside its own
/// window) and `0` everywhere else; `g` and `idx` are `[oh, ow]`.
///
/// # Safety
/// As for [`max_2x2_plane`], with `dst` holding `h * w` elements and `g`, `idx` `oh * ow`,
/// every `idx[o]` inside output `o`'s window.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn max_2x2_backward_plane(
    g: &[f32],
    idx: &[i64],
    dst: &mut [f32],
    w: usize,
    (oh, ow): (usize, usize),
) {
    let lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let twice = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    let zero = _mm512_setzero_ps();
    let taps = [0, 1, w as i64, w as i64 + 1].map(|t| _mm512_set1_epi64(t));
    for oy in 0..oh {
        let at0 = 2 * oy * w;
        let mut k = 0;
        while k < ow {
            let len = (ow - k).min(LANES);
            let (mo, ma, mb) = step_masks(len);
            // SAFETY: the masks keep every access inside output row oy of `g` and `idx` and
            // inside the first 2 ow elements of rows 2oy and 2oy + 1 of `dst`.
            unsafe {
                let o = oy * ow + k;
                let gv = _mm512_add_ps(_mm512_maskz_loadu_ps(mo, g.as_ptr().add(o)), zero);
                let base = _mm512_add_epi64(_mm512_set1_epi64((at0 + 2 * k) as i64), twice);
                let ip = idx.as_ptr().add(o);
                let off_lo = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(mo as u8, ip), base);
                let base_hi = _mm512_add_epi64(base, _mm512_set1_epi64(2 * 8));
                let off_hi = _mm512_sub_epi64(
                    _mm512_maskz_loadu_epi64((mo >> 8) as u8, ip.add(8)),
                    base_hi,
                );
                // per tap: the outputs whose argmax is that tap
                let v = taps.map(|t| {
                    let lo = _mm512_cmpeq_epi64_mask(off_lo, t) as u16;
                    let hi = _mm512_cmpeq_epi64_mask(off_hi, t) as u16;
                    _mm512_maskz_mov_ps((lo | (hi << 8)) & mo, gv)
                });
                for (row, (a, b)) in [(at0, (v[0], v[1])), (at0 + w, (v[2], v[3]))] {
                    let p = dst.as_mut_ptr().add(row + 2 * k);
                    _mm512_mask_storeu_ps(p, ma, _mm512_permutex2var_ps(a, lo_half, b));
                    _mm512_mask_storeu_ps(p.add(LANES), mb, _mm512_permutex2var_ps(a, hi_half, b));
                }
            }
            k += len;
        }
        // the column no window covers (odd widths)
        for r in [at0, at0 + w] {
            dst[r + 2 * ow..r + w].fill(0.0);
        }
    }
    // the row no window covers (odd heights)
    dst[2 * oh * w..].fill(0.0);
}
