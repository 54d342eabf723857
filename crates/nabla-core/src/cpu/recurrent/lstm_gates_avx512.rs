//! The LSTM cell's forward gate pass in AVX-512 for f32, all rows of one block of units in one
//! call: the same formulas as [`super::gates::lstm_fwd`] and the same `exp`/`tanh` polynomials as
//! [`super::cell_activations`], with each division (`1 / (1 + e)`, three sigmoids and two tanh per
//! unit) done as a 14-bit reciprocal estimate and one Newton step, because the generic pass spends
//! its time waiting on the divisions (measurements in `docs/performance.md`). Results are within
//! a few ulp of the generic pass (tested below).

/// One LSTM forward gate pass over `n` rows of `u` units. Gate `k` of a row starts `k * h`
/// after the row's `gx`, `b` and `saved` pointers and `k * u` after its `gh` pointer (the
/// block's recurrent products); saved rows hold `i, f, g, o, tanh(c)` in that order.
pub(super) struct LstmRows {
    pub(super) n: usize,
    pub(super) u: usize,
    pub(super) h: usize,
    pub(super) gx: *const f32,
    pub(super) gx_rs: usize,
    /// When not null, row `r`'s `gx` starts `gx_rows[r]` after `gx` (rows picked from a
    /// table) instead of `r * gx_rs`.
    pub(super) gx_rows: *const usize,
    pub(super) gh: *const f32,
    pub(super) gh_rs: usize,
    pub(super) b: *const f32,
    pub(super) cp: *const f32,
    pub(super) cp_rs: usize,
    /// `c` and `h` outputs, row stride `out_rs`.
    pub(super) co: *mut f32,
    pub(super) ho: *mut f32,
    pub(super) out_rs: usize,
    pub(super) sv: *mut f32,
    pub(super) sv_rs: usize,
}

impl LstmRows {
    /// # Safety
    /// [`crate::cpu::simd::avx512f`] is true and every pointer addresses the elements the fields
    /// describe (readable, and writable for `co`, `ho`, `sv`), outputs not overlapping inputs.
    pub(super) unsafe fn run(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: passed on from the caller.
        unsafe {
            x86::run(self)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the AVX-512 gate pass is x86_64 only");
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LstmRows;
    use std::arch::x86_64::*;

    /// `e^x` as [`super::super::cell_activations::exp_f32`] computes it.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn exp(x: __m512) -> __m512 {
        // max/min return their second operand when either is NaN: x goes second to stay NaN
        let x = _mm512_min_ps(
            _mm512_set1_ps(88.0),
            _mm512_max_ps(_mm512_set1_ps(-87.0), x),
        );
        let magic = _mm512_set1_ps(12_582_912.0);
        let t = _mm512_fmadd_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E), magic);
        let n = _mm512_sub_ps(t, magic);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_2e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5e-1,
        ] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let p = _mm512_fmadd_ps(
            _mm512_mul_ps(p, r),
            r,
            _mm512_add_ps(r, _mm512_set1_ps(1.0)),
        );
        let e = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B40_0000 - 127));
        _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32::<23>(e)))
    }

    /// `1 / d` for `d` in `[1, 2^126]` (or NaN): an estimate and one Newton step.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn recip(d: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(d);
        _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0)))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn sigm(x: __m512) -> __m512 {
        // e^-x <= e^87 < 2^126
        recip(_mm512_add_ps(
            _mm512_set1_ps(1.0),
            exp(_mm512_sub_ps(_mm512_setzero_ps(), x)),
        ))
    }

    /// `tanh` as [`super::super::cell_activations::tanh_f32`] computes it.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tanh(x: __m512) -> __m512 {
        let sign = _mm512_set1_epi32(i32::MIN);
        let xi = _mm512_castps_si512(x);
        let a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, xi));
        let z = _mm512_mul_ps(x, x);
        let mut s = _mm512_set1_ps(-5.704_988_7e-3);
        for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
            s = _mm512_fmadd_ps(s, z, _mm512_set1_ps(c));
        }
        let small = _mm512_fmadd_ps(_mm512_mul_ps(s, z), x, x);
        // 1 - 2 / (e^2a + 1), the denominator kept below 2^126 (tanh is 1 there anyway)
        let d = _mm512_min_ps(
            _mm512_set1_ps(f32::from_bits(0x7E80_0000)),
            _mm512_add_ps(exp(_mm512_add_ps(a, a)), _mm512_set1_ps(1.0)),
        );
        let big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0), recip(d), _mm512_set1_ps(1.0));
        let big = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_andnot_si512(sign, _mm512_castps_si512(big)),
            _mm512_and_si512(sign, xi),
        ));
        let is_small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, _mm512_set1_ps(0.625));
        _mm512_mask_blend_ps(is_small, big, small)
    }

    /// The pre-activation `gx + gh + b` of one gate's units under mask `m`.
    ///
    /// # Safety
    /// The three pointers address the mask's elements.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn pre(m: __mmask16, x: *const f32, y: *const f32, b: *const f32) -> __m512 {
        // SAFETY: the caller's bounds.
        unsafe {
            let s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x), _mm512_maskz_loadu_ps(m, y));
            _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, b))
        }
    }

    /// # Safety
    /// As [`LstmRows::run`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run(p: &LstmRows) {
        // SAFETY (the whole body): the caller's bounds; masked loads and stores touch only
        // the first `u` units of each row.
        unsafe {
            for r in 0..p.n {
                let gx = if p.gx_rows.is_null() {
                    p.gx.add(r * p.gx_rs)
                } else {
                    p.gx.add(*p.gx_rows.add(r))
                };
                let gh = p.gh.add(r * p.gh_rs);
                let cp = p.cp.add(r * p.cp_rs);
                let (co, ho) = (p.co.add(r * p.out_rs), p.ho.add(r * p.out_rs));
                let sv = p.sv.add(r * p.sv_rs);
                let mut j = 0;
                while j < p.u {
                    let m = crate::cpu::simd::lane_mask(p.u - j);
                    let (x, y, b) = (gx.add(j), gh.add(j), p.b.add(j));
                    let i = sigm(pre(m, x, y, b));
                    let f = sigm(pre(m, x.add(p.h), y.add(p.u), b.add(p.h)));
                    let g = tanh(pre(m, x.add(2 * p.h), y.add(2 * p.u), b.add(2 * p.h)));
                    let o = sigm(pre(m, x.add(3 * p.h), y.add(3 * p.u), b.add(3 * p.h)));
                    let c = _mm512_fmadd_ps(
                        f,
                        _mm512_maskz_loadu_ps(m, cp.add(j)),
                        _mm512_mul_ps(i, g),
                    );
                    let tc = tanh(c);
                    _mm512_mask_storeu_ps(co.add(j), m, c);
                    _mm512_mask_storeu_ps(ho.add(j), m, _mm512_mul_ps(o, tc));
                    for (k, v) in [i, f, g, o, tc].into_iter().enumerate() {
                        _mm512_mask_storeu_ps(sv.add(k * p.h + j), m, v);
                    }
                    j += 16;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gates;
    use super::*;

    #[test]
    fn matches_the_generic_pass_within_a_few_ulp() {
        if !crate::cpu::simd::avx512f() {
            return;
        }
        // u = 21: a full vector and a masked tail; values wide enough for every branch of
        // tanh and both ends of the exp clamp, plus NaN and infinities
        let (n, u, h) = (3, 21, 25);
        let mut seed = 1u32;
        let mut rnd = |scale: f32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * scale
        };
        let mut gx: Vec<f32> = (0..n * 4 * h)
            .map(|i| rnd(if i % 7 == 0 { 400.0 } else { 6.0 }))
            .collect();
        gx[5] = f32::NAN;
        gx[h + 2] = f32::INFINITY;
        gx[2 * h + 3] = f32::NEG_INFINITY;
        let gh: Vec<f32> = (0..n * 4 * u).map(|_| rnd(2.0)).collect();
        let b: Vec<f32> = (0..4 * h).map(|_| rnd(1.0)).collect();
        let cp: Vec<f32> = (0..n * h).map(|_| rnd(8.0)).collect();
        let (mut co, mut ho) = (vec![0f32; n * h], vec![0f32; n * h]);
        let mut sv = vec![0f32; n * 5 * h];
        let rows = LstmRows {
            n,
            u,
            h,
            gx: gx.as_ptr(),
            gx_rs: 4 * h,
            gx_rows: std::ptr::null(),
            gh: gh.as_ptr(),
            gh_rs: 4 * u,
            b: b.as_ptr(),
            cp: cp.as_ptr(),
            cp_rs: h,
            co: co.as_mut_ptr(),
            ho: ho.as_mut_ptr(),
            out_rs: h,
            sv: sv.as_mut_ptr(),
            sv_rs: 5 * h,
        };
        // SAFETY: avx512f() checked the CPU; the buffers have the sizes the fields describe.
        unsafe { rows.run() };
        let close = |a: f32, w: f32| {
            (a.is_nan() && w.is_nan()) || a == w || (a - w).abs() <= 1e-6 * w.abs().max(1.0)
        };
        for r in 0..n {
            let (mut c1, mut h1) = (vec![0f32; u], vec![0f32; u]);
            let mut s1 = vec![vec![0f32; u]; 5];
            let [s0, s1_, s2, s3, s4] = &mut s1[..] else {
                unreachable!()
            };
            let g = |k: usize| &gx[r * 4 * h + k * h..][..u];
            let q = |k: usize| &gh[r * 4 * u + k * u..][..u];
            let bk = |k: usize| &b[k * h..][..u];
            gates::lstm_fwd(
                [g(0), g(1), g(2), g(3)],
                [q(0), q(1), q(2), q(3)],
                [bk(0), bk(1), bk(2), bk(3)],
                &cp[r * h..][..u],
                &mut c1,
                &mut h1,
                [s0, s1_, s2, s3, s4],
            );
            for j in 0..u {
                let at = |v: &[f32]| v[r * h + j];
                assert!(
                    close(at(&co), c1[j]),
                    "c row {r} unit {j}: {} vs {}",
                    at(&co),
                    c1[j]
                );
                assert!(
                    close(at(&ho), h1[j]),
                    "h row {r} unit {j}: {} vs {}",
                    at(&ho),
                    h1[j]
                );
                for (k, s) in s1.iter().enumerate() {
                    let got = sv[r * 5 * h + k * h + j];
                    assert!(
                        close(got, s[j]),
                        "saved {k} row {r} unit {j}: {got} vs {}",
                        s[j]
                    );
                }
            }
            // the units past u are not written
            for j in u..h {
                assert_eq!(co[r * h + j], 0.0);
                assert_eq!(sv[r * 5 * h + 4 * h + j], 0.0);
            }
        }
    }
}
