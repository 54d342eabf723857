//! The gate arithmetic of the recurrent cells for one batch row and one block of hidden
//! units, forward and backward, with PyTorch's formulas. Every argument is a slice of the
//! block's `u` units (one per gate where a gate is named), so the loops are plain
//! element-wise passes that the compiler vectorizes, compiled for AVX-512 and AVX2 with a
//! runtime choice.

use super::act::GateAct;
use multiversion::multiversion;

/// Elman cell: `h = act(gx + gh + b)`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn rnn_fwd<T: GateAct>(gx: &[T], gh: &[T], b: &[T], ho: &mut [T], relu: bool) {
    let u = ho.len();
    let (gx, gh, b) = (&gx[..u], &gh[..u], &b[..u]);
    for j in 0..u {
        let a = gx[j] + gh[j] + b[j];
        ho[j] = if !relu {
            a.th()
        } else if a < T::ZERO {
            // NaN stays NaN, as relu
            T::ZERO
        } else {
            a
        };
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
    let u = ho.len();
    let [xi, xf, xg, xo] = gx.map(|s| &s[..u]);
    let [hi, hf, hg, ho_] = gh.map(|s| &s[..u]);
    let [bi, bf, bg, bo] = b.map(|s| &s[..u]);
    let (cp, co) = (&cp[..u], &mut co[..u]);
    let [si, sf, sg, so, st] = sv.map(|s| &mut s[..u]);
    for j in 0..u {
        let i = (xi[j] + hi[j] + bi[j]).sigm();
        let f = (xf[j] + hf[j] + bf[j]).sigm();
        let g = (xg[j] + hg[j] + bg[j]).th();
        let o = (xo[j] + ho_[j] + bo[j]).sigm();
        let c = f * cp[j] + i * g;
        let tc = c.th();
        co[j] = c;
        ho[j] = o * tc;
        si[j] = i;
        sf[j] = f;
        sg[j] = g;
        so[j] = o;
        st[j] = tc;
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
    let u = ho.len();
    let [xr, xz, xn] = gx.map(|s| &s[..u]);
    let [hr, hz, hn_] = gh.map(|s| &s[..u]);
    let [br, bz, bn] = b.map(|s| &s[..u]);
    let hp = &hp[..u];
    let [sr, sz, sn, shn] = sv.map(|s| &mut s[..u]);
    for j in 0..u {
        let r = (xr[j] + hr[j] + br[j]).sigm();
        let z = (xz[j] + hz[j] + bz[j]).sigm();
        let hn = hn_[j] + bn[j];
        let n = (xn[j] + r * hn).th();
        ho[j] = n + z * (hp[j] - n);
        sr[j] = r;
        sz[j] = z;
        sn[j] = n;
        shn[j] = hn;
    }
}

/// Elman cell backward: `dh += gin`, then the pre-activation gradient `dg` from the output
/// `h`.
#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512dq+avx2+fma+bmi1+bmi2",
    "x86_64+avx2+fma",
))]
pub(super) fn rnn_bwd<T: GateAct>(dh: &[T], gin: &[T], h: &[T], dg: &mut [T], relu: bool) {
    let u = dg.len();
    let (dh, gin, h) = (&dh[..u], &gin[..u], &h[..u]);
    for j in 0..u {
        let d = dh[j] + gin[j];
        dg[j] = if !relu {
            d * (T::ONE - h[j] * h[j])
        } else if h[j] <= T::ZERO {
            // NaN passes its gradient, as relu's rule
            T::ZERO
        } else {
            d
        };
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
    let u = dc.len();
    let (dh, cp) = (&dh[..u], &cp[..u]);
    let [gh, gc] = gin.map(|s| &s[..u]);
    let [si, sf, sg, so, st] = sv.map(|s| &s[..u]);
    let [di, df, dgg, dout] = dg.map(|s| &mut s[..u]);
    for j in 0..u {
        let (i, f, g, o, tc) = (si[j], sf[j], sg[j], so[j], st[j]);
        let dhj = dh[j] + gh[j];
        let dc2 = dc[j] + gc[j] + dhj * o * (T::ONE - tc * tc);
        di[j] = dc2 * g * i * (T::ONE - i);
        df[j] = dc2 * cp[j] * f * (T::ONE - f);
        dgg[j] = dc2 * i * (T::ONE - g * g);
        dout[j] = dhj * tc * o * (T::ONE - o);
        dc[j] = dc2 * f;
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
    let u = dh.len();
    let (gin, hp) = (&gin[..u], &hp[..u]);
    let [sr, sz, sn, shn] = sv.map(|s| &s[..u]);
    let [xr, xz, xn] = dgx.map(|s| &mut s[..u]);
    let [hr, hz, hn] = dgh.map(|s| &mut s[..u]);
    for j in 0..u {
        let (r, z, n, hnv) = (sr[j], sz[j], sn[j], shn[j]);
        let d = dh[j] + gin[j];
        let dn = d * (T::ONE - z) * (T::ONE - n * n);
        let dz = d * (hp[j] - n) * z * (T::ONE - z);
        let dr = dn * hnv * r * (T::ONE - r);
        xr[j] = dr;
        xz[j] = dz;
        xn[j] = dn;
        hr[j] = dr;
        hz[j] = dz;
        hn[j] = dn * r;
        dh[j] = d * z;
    }
}
