//! A 16 x 16 transpose of 32-bit lanes in AVX-512 registers, for kernels that turn tiles of
//! a matrix round: the weight gradient of the direct convolution (`cpu::conv::direct_weight_grad`)
//! and the copy of a transposed view into row-major order ([`crate::strided`]). The lanes
//! are moved as bits (permutes), so any 32-bit type goes through unchanged, NaN payloads
//! included.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The permute indices of [`transpose16`]'s stage `b`: lane `j` of the first result takes
/// lane `j` of the first source where bit `b` of `j` is clear, else lane `j - b` of the second;
/// the second result takes lane `j + b` of the first or lane `j` of the second.
#[cfg(target_arch = "x86_64")]
const fn stage_index(b: usize, second: bool) -> [i32; 16] {
    let mut out = [0i32; 16];
    let mut j = 0;
    while j < 16 {
        out[j] = match (j & b == 0, second) {
            (true, false) => j,
            (false, false) => 16 + j - b,
            (true, true) => j + b,
            (false, true) => 16 + j,
        } as i32;
        j += 1;
    }
    out
}

#[cfg(target_arch = "x86_64")]
const STAGES: [[[i32; 16]; 2]; 4] = [
    [stage_index(8, false), stage_index(8, true)],
    [stage_index(4, false), stage_index(4, true)],
    [stage_index(2, false), stage_index(2, true)],
    [stage_index(1, false), stage_index(1, true)],
];

/// One stage of [`transpose16`]: rows `i` and `i + B` (bit `B` of `i` clear) exchange their
/// off-diagonal `B`-lane blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn stage<const B: usize>(r: &mut [__m512; 16], idx: &[[i32; 16]; 2]) {
    // SAFETY: the index arrays hold 16 i32 each.
    let (lo, hi) = unsafe {
        (
            _mm512_loadu_si512(idx[0].as_ptr().cast()),
            _mm512_loadu_si512(idx[1].as_ptr().cast()),
        )
    };
    for i in 0..16 {
        if i & B == 0 {
            let (a, c) = (r[i], r[i + B]);
            r[i] = _mm512_permutex2var_ps(a, lo, c);
            r[i + B] = _mm512_permutex2var_ps(a, hi, c);
        }
    }
}

/// Transposes 16 vectors of 16 lanes in place: lane `j` of vector `i` goes to lane `i` of
/// vector `j` (four stages of two-source permutes: at stage `b` the off-diagonal `b x b`
/// blocks of each `2b x 2b` block swap).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn transpose16(r: &mut [__m512; 16]) {
    // SAFETY: forwarded (AVX-512F).
    unsafe {
        stage::<8>(r, &STAGES[0]);
        stage::<4>(r, &STAGES[1]);
        stage::<2>(r, &STAGES[2]);
        stage::<1>(r, &STAGES[3]);
    }
}

/// `dst[j * dst_stride + i] = src[i * src_stride + j]` for `i, j < 16`: one full tile.
///
/// # Safety
/// AVX-512F is available; `src` addresses 16 rows of 16 readable elements `src_stride`
/// apart and `dst` 16 rows of 16 writable ones `dst_stride` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * src_stride)));
        transpose16(&mut r);
        for (j, r) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add(j * dst_stride), *r);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn transpose16_transposes() {
        if !crate::cpu::simd::avx512f() {
            return;
        }
        let m: Vec<f32> = (0..256).map(|k| k as f32).collect();
        // SAFETY: avx512f() checked the CPU; m holds 16 rows of 16.
        let t = unsafe {
            let mut r: [__m512; 16] =
                std::array::from_fn(|i| _mm512_loadu_ps(m.as_ptr().add(16 * i)));
            transpose16(&mut r);
            let mut out = vec![0.0f32; 256];
            for (i, r) in r.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), *r);
            }
            out
        };
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(t[16 * i + j], m[16 * j + i], "({i}, {j})");
            }
        }
    }
}
