//! The gate arithmetic of the recurrent cells for one batch row and one block of hidden
//! units, forward and backward, with PyTorch's formulas. Every argument is a slice of the
//! block's `u` units (one per gate where a gate is named). Each kernel is one per-unit formula
//! run by [`chunked`] over chunks of [`L`] units that it computes into local arrays, so the
//! compiler vectorizes them without runtime alias checks (with the slices passed straight in,
//! half of an LSTM cell's time went to a scalar fallback loop); compiled for AVX-512 and AVX2
//! with a runtime choice.

use super::cell_activations::GateAct;
use multiversion::multiversion;

/// Units per vectorized chunk.
const L: usize = 16;

/// Runs `f(inputs, in_outs) -> (new in_outs, outputs)` for every unit: `ins` are read,
/// `io` read and rewritten, `outs` written; all of one length. Full chunks of [`L`] units go
/// through local arrays (no aliasing, so they vectorize), the rest one by one.
#[inline(always)]
fn chunked<T: GateAct, F: Unit<T, I, P, O>, const I: usize, const P: usize, const O: usize>(
    ins: [&[T]; I],
    io: [&mut [T]; P],
    outs: [&mut [T]; O],
    _f: F,
) {
    let u = if O > 0 { outs[0].len() } else { io[0].len() };
    for s in &ins {
        assert!(
            s.len() >= u,
            "chunked: an input is shorter than the outputs"
        );
    }
    for s in &io {
        assert!(
            s.len() >= u,
            "chunked: an in-out is shorter than the outputs"
        );
    }
    let mut j = 0;
    while j + L <= u {
        // SAFETY: j + L <= u and every slice holds at least u elements (asserted above).
        let src: [&[T; L]; I] =
            std::array::from_fn(|k| unsafe { &*ins[k].as_ptr().add(j).cast::<[T; L]>() });
        // SAFETY: as above.
        let cur: [[T; L]; P] =
            std::array::from_fn(|k| unsafe { *io[k].as_ptr().add(j).cast::<[T; L]>() });
        let mut po = [[T::ZERO; L]; P];
        let mut oo = [[T::ZERO; L]; O];
        for l in 0..L {
            let (p, o) = F::apply(
                std::array::from_fn(|k| src[k][l]),
                std::array::from_fn(|k| cur[k][l]),
            );
            for k in 0..P {
                po[k][l] = p[k];
            }
            for k in 0..O {
                oo[k][l] = o[k];
            }
        }
        for k in 0..P {
            io[k][j..j + L].copy_from_slice(&po[k]);
        }
        for k in 0..O {
            outs[k][j..j + L].copy_from_slice(&oo[k]);
        }
        j += L;
    }
    for j in j..u {
        let (p, o) = F::apply(
            std::array::from_fn(|k| ins[k][j]),
            std::array::from_fn(|k| io[k][j]),
        );
        for k in 0..P {
            io[k][j] = p[k];
        }
        for k in 0..O {
            outs[k][j] = o[k];
        }
    }
}

/// A per-unit formula: inputs and in-outs to new in-outs and outputs (a trait with an
/// always-inlined method rather than a closure, so the chunk loop inlines it and vectorizes).
trait Unit<T, const I: usize, const P: usize, const O: usize> {
    fn apply(i: [T; I], p: [T; P]) -> ([T; P], [T; O]);
}

/// Elman cell: `h = act(gx + gh + b)`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn rnn_fwd<T: GateAct>(gx: &[T], gh: &[T], b: &[T], ho: &mut [T], relu: bool) {
    if relu {
        chunked([gx, gh, b], [], [ho], RnnFwdOne::<true>);
    } else {
        chunked([gx, gh, b], [], [ho], RnnFwdOne::<false>);
    }
}

/// [`Unit`] of `rnn_fwd`.
struct RnnFwdOne<const RELU: bool>;

impl<T: GateAct, const RELU: bool> Unit<T, 3, 0, 1> for RnnFwdOne<RELU> {
    #[inline(always)]
    fn apply([x, h, b]: [T; 3], _: [T; 0]) -> ([T; 0], [T; 1]) {
        let a = x + h + b;
        let y = if !RELU {
            a.th()
        } else if a < T::ZERO {
            // NaN stays NaN, as relu
            T::ZERO
        } else {
            a
        };
        ([], [y])
    }
}

/// LSTM cell, gates i, f, g, o: writes `c`, `h` and the saved `i, f, g, o, tanh(c)`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn lstm_fwd<T: GateAct>(
    gx: [&[T]; 4],
    gh: [&[T]; 4],
    b: [&[T]; 4],
    cp: &[T],
    co: &mut [T],
    ho: &mut [T],
    sv: [&mut [T]; 5],
) {
    let [xi, xf, xg, xo] = gx;
    let [hi, hf, hg, hq] = gh;
    let [bi, bf, bg, bo] = b;
    let [si, sf, sg, so, st] = sv;
    chunked(
        [xi, xf, xg, xo, hi, hf, hg, hq, bi, bf, bg, bo, cp],
        [],
        [co, ho, si, sf, sg, so, st],
        LstmFwdOne,
    );
}

/// [`Unit`] of `lstm_fwd`.
struct LstmFwdOne;

impl<T: GateAct> Unit<T, 13, 0, 7> for LstmFwdOne {
    #[inline(always)]
    fn apply(
        [xi, xf, xg, xo, hi, hf, hg, hq, bi, bf, bg, bo, cp]: [T; 13],
        []: [T; 0],
    ) -> ([T; 0], [T; 7]) {
        let i = (xi + hi + bi).sigm();
        let f = (xf + hf + bf).sigm();
        let g = (xg + hg + bg).th();
        let o = (xo + hq + bo).sigm();
        let c = f * cp + i * g;
        let tc = c.th();
        ([], [c, o * tc, i, f, g, o, tc])
    }
}

/// GRU cell, gates r, z, n (`b_hn` inside the reset product): writes `h` and the saved
/// `r, z, n, W_hn h + b_hn`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn gru_fwd<T: GateAct>(
    gx: [&[T]; 3],
    gh: [&[T]; 3],
    b: [&[T]; 3],
    hp: &[T],
    ho: &mut [T],
    sv: [&mut [T]; 4],
) {
    let [xr, xz, xn] = gx;
    let [hr, hz, hq] = gh;
    let [br, bz, bn] = b;
    let [sr, sz, sn, shn] = sv;
    chunked(
        [xr, xz, xn, hr, hz, hq, br, bz, bn, hp],
        [],
        [ho, sr, sz, sn, shn],
        GruFwdOne,
    );
}

/// [`Unit`] of `gru_fwd`.
struct GruFwdOne;

impl<T: GateAct> Unit<T, 10, 0, 5> for GruFwdOne {
    #[inline(always)]
    fn apply([xr, xz, xn, hr, hz, hq, br, bz, bn, hp]: [T; 10], []: [T; 0]) -> ([T; 0], [T; 5]) {
        let r = (xr + hr + br).sigm();
        let z = (xz + hz + bz).sigm();
        let hn = hq + bn;
        let n = (xn + r * hn).th();
        ([], [n + z * (hp - n), r, z, n, hn])
    }
}

/// Elman cell backward: `dh += gin`, then the pre-activation gradient `dg` from the output
/// `h`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn rnn_bwd<T: GateAct>(dh: &[T], gin: &[T], h: &[T], dg: &mut [T], relu: bool) {
    if relu {
        chunked([dh, gin, h], [], [dg], RnnBwdOne::<true>);
    } else {
        chunked([dh, gin, h], [], [dg], RnnBwdOne::<false>);
    }
}

/// [`Unit`] of `rnn_bwd`.
struct RnnBwdOne<const RELU: bool>;

impl<T: GateAct, const RELU: bool> Unit<T, 3, 0, 1> for RnnBwdOne<RELU> {
    #[inline(always)]
    fn apply([dh, gin, h]: [T; 3], _: [T; 0]) -> ([T; 0], [T; 1]) {
        let d = dh + gin;
        let g = if !RELU {
            d * (T::ONE - h * h)
        } else if h <= T::ZERO {
            // NaN passes its gradient, as relu's rule
            T::ZERO
        } else {
            d
        };
        ([], [g])
    }
}

/// LSTM cell backward: `dh += gin_h`, `dc += gin_c`, the gate pre-activation gradients `dg`
/// (i, f, g, o), and `dc` becomes the gradient of the previous `c`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn lstm_bwd<T: GateAct>(
    dh: &[T],
    gin: [&[T]; 2],
    dc: &mut [T],
    sv: [&[T]; 5],
    cp: &[T],
    dg: [&mut [T]; 4],
) {
    let [gh, gc] = gin;
    let [si, sf, sg, so, st] = sv;
    chunked([dh, gh, gc, si, sf, sg, so, st, cp], [dc], dg, LstmBwdOne);
}

/// [`Unit`] of `lstm_bwd`.
struct LstmBwdOne;

impl<T: GateAct> Unit<T, 9, 1, 4> for LstmBwdOne {
    #[inline(always)]
    fn apply([dh, gh, gc, i, f, g, o, tc, cp]: [T; 9], [dc]: [T; 1]) -> ([T; 1], [T; 4]) {
        let dhj = dh + gh;
        let dc2 = dc + gc + dhj * o * (T::ONE - tc * tc);
        (
            [dc2 * f],
            [
                dc2 * g * i * (T::ONE - i),
                dc2 * cp * f * (T::ONE - f),
                dc2 * i * (T::ONE - g * g),
                dhj * tc * o * (T::ONE - o),
            ],
        )
    }
}

/// GRU cell backward: `dh += gin`, the input-side gradients `dgx` (r, z, n), the recurrent
/// ones `dgh`, and `dh` becomes the part of the previous `h`'s gradient that skips the
/// recurrent product (`dh z`).
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn gru_bwd<T: GateAct>(
    dh: &mut [T],
    gin: &[T],
    sv: [&[T]; 4],
    hp: &[T],
    dgx: [&mut [T]; 3],
    dgh: [&mut [T]; 3],
) {
    let [sr, sz, sn, shn] = sv;
    let [xr, xz, xn] = dgx;
    let [hr, hz, hn] = dgh;
    chunked(
        [gin, sr, sz, sn, shn, hp],
        [dh],
        [xr, xz, xn, hr, hz, hn],
        GruBwdOne,
    );
}

/// [`Unit`] of `gru_bwd`.
struct GruBwdOne;

impl<T: GateAct> Unit<T, 6, 1, 6> for GruBwdOne {
    #[inline(always)]
    fn apply([gin, r, z, n, hnv, hp]: [T; 6], [dh]: [T; 1]) -> ([T; 1], [T; 6]) {
        let d = dh + gin;
        let dn = d * (T::ONE - z) * (T::ONE - n * n);
        let dz = d * (hp - n) * z * (T::ONE - z);
        let dr = dn * hnv * r * (T::ONE - r);
        ([d * z], [dr, dz, dn, dr, dz, dn * r])
    }
}
