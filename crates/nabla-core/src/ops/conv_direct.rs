//! The forward of stride-1 convolutions in f32 on an AVX-512 CPU, without im2col: on the wide
//! grid of [`super::conv_wide`], `col` row `r = (c, i, j)` at wide position `q` is
//! `xp[base(r) + q]`, so the product `w · col` can read its right-hand operand straight from
//! the padded planes, 48 positions (three vectors) at a time, with no `col` matrix and no
//! packing of it. A microkernel keeps 8 output channels x 48 positions in 24 registers and
//! runs over all `kg` rows: per row three unaligned loads of the planes, eight weight
//! broadcasts, 24 FMAs.
//!
//! Each vector's real positions (`x < ow`) are the consecutive outputs from
//! `(q / wp) * ow + min(q % wp, ow)` on, so a compressing masked store writes them (with the
//! bias added) and drops the extra ones. The extra positions read elements outside their
//! channel's window, whose values are never stored, so unlike the gradients on the wide grid
//! the forward needs no finiteness check.
//!
//! Every output is one sum over `r` in order, whatever the tiling, so results are bitwise the
//! same for any thread count.

use super::im2col::{split, ConvGeom, Ptr};
use super::unfold::{copy_run, pad_planes};
use crate::dtype::{as_f32, as_f32_mut, Float};
use crate::storage::{take_buffer, StorageElem};

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output channels per microkernel.
const MR: usize = 8;
/// Vectors of 16 positions per microkernel.
const NV: usize = 3;
/// Positions per microkernel.
const NR: usize = NV * 16;

/// Whether the kernel runs on this CPU.
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Offsets of the `col` rows in a group's padded `[cg, hp, wp]` planes (wide position 0).
fn row_offsets(g: &ConvGeom) -> Vec<usize> {
    let (hp, wp) = g.padded();
    let (kh, kw) = (g.kh, g.kw);
    (0..g.kg())
        .map(|r| {
            let (c, ij) = (r / (kh * kw), r % (kh * kw));
            let (i, j) = (ij / kw, ij % kw);
            c * hp * wp + i * g.dilation.0 * wp + j * g.dilation.1
        })
        .collect()
}

/// `[rows / MR][k][MR]` blocks of the matrix `v(m, r)`, `m < rows`, `r < k` (zeros past
/// `rows`): the microkernel's left-hand operand.
fn pack(rows: usize, k: usize, v: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let mut out = vec![0.0f32; rows.div_ceil(MR) * k * MR];
    for m in 0..rows {
        let dst = &mut out[(m / MR) * k * MR..][..k * MR];
        for r in 0..k {
            dst[r * MR + m % MR] = v(m, r);
        }
    }
    out
}

/// The positions a direct product runs over: `t0..t1` on a grid of rows `wp` wide, of which
/// those in columns `x0..x0 + xw` are real; the real ones are the consecutive outputs of an
/// `xw`-wide plane whose first row is grid row `row0`.
struct Grid {
    t0: usize,
    t1: usize,
    wp: usize,
    x0: usize,
    xw: usize,
    row0: usize,
}

impl Grid {
    fn strips(&self) -> usize {
        (self.t1 - self.t0).div_ceil(NR)
    }

    /// For strip `s`: per vector, the mask of its real positions and the output index of the
    /// first of them.
    fn masks(&self, s: usize) -> ([u16; NV], [usize; NV]) {
        let mut masks = [0u16; NV];
        let mut first = [0usize; NV];
        for v in 0..NV {
            let tv = self.t0 + s * NR + 16 * v;
            for l in 0..16 {
                let t = tv + l;
                if t < self.t1 && (self.x0..self.x0 + self.xw).contains(&(t % self.wp)) {
                    masks[v] |= 1 << l;
                }
            }
            let col = (tv % self.wp).saturating_sub(self.x0).min(self.xw);
            first[v] = (tv / self.wp).saturating_sub(self.row0) * self.xw + col;
        }
        (masks, first)
    }
}

/// One group's direct product over strips `ss` of `grid`: for every output row `m < rows`
/// (plane `m` of `out`, `plane` elements apart), the real positions `t` get
/// `bias[m] + Σ_r packed(m, r) · xg[offs[r] + t]`.
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + t0 + strips * NR` elements for every `r`;
/// `packed` holds [`pack`]'s blocks of `rows x offs.len()`; the real outputs of the strips lie
/// inside `out`'s `rows` planes and no other thread writes them.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    xg: &[f32],
    offs: &[usize],
    packed: &[f32],
    rows: usize,
    grid: &Grid,
    ss: std::ops::Range<usize>,
    out: *mut f32,
    plane: usize,
    bias: Option<&[f32]>,
) {
    let k = offs.len();
    for s in ss {
        let (masks, first) = grid.masks(s);
        for b in 0..rows.div_ceil(MR) {
            let n = MR.min(rows - b * MR);
            let bias = bias.map(|v| &v[b * MR..b * MR + n]);
            // SAFETY: forwarded from the caller.
            unsafe {
                kernel(
                    xg,
                    offs,
                    grid.t0 + s * NR,
                    &packed[b * k * MR..][..k * MR],
                    out.add(b * MR * plane),
                    plane,
                    n,
                    bias,
                    &masks,
                    &first,
                );
            }
        }
    }
}

/// [`super::im2col::conv_forward`] for a stride-1 geometry on the wide grid
/// ([`super::conv_wide::applies`]), or `None` when `T` is not f32 or the CPU lacks AVX-512.
pub(super) fn forward<T: Float + StorageElem>(
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (x, wt) = (as_f32(x)?, as_f32(wt)?);
    let bias = match bias {
        Some(b) => Some(as_f32(b)?),
        None => None,
    };
    if !available() {
        return None;
    }
    let (p, og, kg) = (g.p(), g.og(), g.kg());
    let mut out = take_buffer::<T>(g.n * g.o * p);
    if out.is_empty() {
        return Some(out);
    }
    let (hp, wp) = g.padded();
    let grid = Grid {
        t0: 0,
        t1: (g.oh - 1) * wp + g.ow,
        wp,
        x0: 0,
        xw: g.ow,
        row0: 0,
    };
    let strips = grid.strips();
    let offs = row_offsets(g);
    let packed: Vec<Vec<f32>> = (0..g.groups)
        .map(|grp| pack(og, kg, |m, r| wt[(grp * og + m) * kg + r]))
        .collect();
    // reads reach `offs[r] + t` for t < strips * NR: the planes plus slack
    let planes = g.c * hp * wp;
    let slack = strips * NR + 16;
    let (units, per_unit) = units(g.n, strips);
    let dst = Ptr(out.as_mut_ptr().cast::<f32>());
    split(g.n * units, g.macs(), |us| {
        let mut xs = Vec::new();
        let mut have = None;
        for u in us {
            let (img, t) = (u / units, u % units);
            let src = planes_with_slack(x, g, img, planes + slack, &mut xs, &mut have);
            for (grp, packed) in packed.iter().enumerate() {
                let o0 = grp * og;
                // SAFETY: available() checked the CPU; xs holds the slack; unit (img, t)
                // alone writes the real positions of its strips in image img's planes.
                unsafe {
                    product(
                        &src[grp * g.cg() * hp * wp..],
                        &offs,
                        packed,
                        og,
                        &grid,
                        t * per_unit..((t + 1) * per_unit).min(strips),
                        dst.get().add((img * g.o + o0) * p),
                        p,
                        bias.map(|b| &b[o0..o0 + og]),
                    );
                }
            }
        }
    });
    Some(out)
}

/// Image `img`'s padded planes followed by at least `need - c hp wp` readable elements: the
/// input itself when the geometry does not pad and the next images (or the end of `x`) leave
/// room, else a copy in `xs` (`need` elements, zeros past the planes; kept while `have` is
/// the same image).
fn planes_with_slack<'a>(
    x: &'a [f32],
    g: &ConvGeom,
    img: usize,
    need: usize,
    xs: &'a mut Vec<f32>,
    have: &mut Option<usize>,
) -> &'a [f32] {
    let chw = g.c * g.h * g.w;
    if g.padding == (0, 0) && img * chw + need <= x.len() {
        return &x[img * chw..];
    }
    if xs.len() < need {
        *xs = vec![0.0; need];
        *have = None;
    }
    if *have != Some(img) {
        let planes = g.c * g.padded().0 * g.padded().1;
        let xi = &x[img * chw..][..chw];
        if g.padding == (0, 0) {
            xs[..planes].copy_from_slice(xi);
        } else {
            pad_planes(xi, g, &mut xs[..planes]);
        }
        *have = Some(img);
    }
    xs
}

/// Work units of `n` images of `strips` strips: (units per image, strips per unit), several
/// units per image when the batch is small.
fn units(n: usize, strips: usize) -> (usize, usize) {
    let per_img = 8usize.div_ceil(n.max(1)).min(strips).max(1);
    let per_unit = strips.div_ceil(per_img).max(1);
    (strips.div_ceil(per_unit), per_unit)
}

/// [`super::im2col::conv_input_grad`] for a stride-1 geometry on the wide grid, or `None`
/// when `T` is not f32, the CPU lacks AVX-512 or the groups have fewer than 8 input channels
/// (the microkernel's 8 rows would be mostly padding). The caller has checked that the
/// weight is finite (the zero gaps add `w · 0`).
///
/// The same product as the forward, with the roles turned: `gy` on the wide grid of the
/// padded input (`gyw[o, q]` at `q = y * wp + x`, zeros at the extra columns and around), and
/// `dxp[c, t] = Σ_(o, i, j) w[o, c, i, j] · gyw[o, t - i d0 wp - j d1]` for the positions `t`
/// of the unpadded input, written straight into `dx`.
pub(super) fn input_grad<T: Float + StorageElem>(
    gy: &[T],
    wt: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (gy, wt) = (as_f32(gy)?, as_f32(wt)?);
    if !available() || g.cg() < MR {
        return None;
    }
    let (p, og, cg, kg) = (g.p(), g.og(), g.cg(), g.kg());
    let mut dx = take_buffer::<T>(g.n * g.c * g.h * g.w);
    if dx.is_empty() {
        return Some(dx);
    }
    let (hp, wp) = g.padded();
    let (ph, pw) = g.padding;
    let (khw, (d0, d1)) = (g.kh * g.kw, g.dilation);
    let grid = Grid {
        t0: ph * wp,
        t1: (ph + g.h - 1) * wp + pw + g.w,
        wp,
        x0: pw,
        xw: g.w,
        row0: ph,
    };
    let strips = grid.strips();
    // gyw of channel o at o * len + lead + q; reads reach q from -lead to t1 + strips * NR
    let lead = (g.kh - 1) * d0 * wp + (g.kw - 1) * d1;
    let wide_gy = (g.oh - 1) * wp + g.ow;
    let len = lead + (grid.t0 + strips * NR).max(wide_gy) + 16;
    let offs: Vec<usize> = (0..og * khw)
        .map(|r| {
            let (o, ij) = (r / khw, r % khw);
            o * len + lead - (ij / g.kw) * d0 * wp - (ij % g.kw) * d1
        })
        .collect();
    let packed: Vec<Vec<f32>> = (0..g.groups)
        .map(|grp| {
            pack(cg, og * khw, |c, r| {
                wt[(grp * og + r / khw) * kg + c * khw + r % khw]
            })
        })
        .collect();
    debug_assert!(hp * wp >= grid.t1);
    let (units, per_unit) = units(g.n, strips);
    let hw = g.h * g.w;
    let dst = Ptr(dx.as_mut_ptr().cast::<f32>());
    split(g.n * units, g.macs(), |us| {
        // the zeros (gaps, lead, tail) are never written, so they stay zero
        let mut gw = vec![0.0f32; g.groups * og * len];
        let mut have = None;
        for u in us {
            let (img, t) = (u / units, u % units);
            if have != Some(img) {
                for (o, src) in gy[img * g.o * p..][..g.o * p].chunks_exact(p).enumerate() {
                    let dst = &mut gw[o * len + lead..];
                    for (y, row) in src.chunks_exact(g.ow).enumerate() {
                        copy_run(&mut dst[y * wp..y * wp + g.ow], row);
                    }
                }
                have = Some(img);
            }
            for (grp, packed) in packed.iter().enumerate() {
                // SAFETY: available() checked the CPU; every read offs[r] + t lies in the
                // group's og * len elements of gw; unit (img, t) alone writes the real
                // positions of its strips in image img's planes of dx.
                unsafe {
                    product(
                        &gw[grp * og * len..],
                        &offs,
                        packed,
                        cg,
                        &grid,
                        t * per_unit..((t + 1) * per_unit).min(strips),
                        dst.get().add((img * g.c + grp * cg) * hw),
                        hw,
                        None,
                    );
                }
            }
        }
    });
    Some(dx)
}

/// `out[m, first[v]..]` (compressed by `masks[v]`) = `bias[m] + Σ_r wb[r][m] · xg[offs[r]
/// + q0 + 16 v + lane]` for `m < rows`; output channel `m`'s plane starts at `outp + m * p`.
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + q0 + NR` elements for every `r`; `wb` holds
/// `offs.len() * MR`; the masked outputs lie inside `out`'s planes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    xg: &[f32],
    offs: &[usize],
    q0: usize,
    wb: &[f32],
    outp: *mut f32,
    p: usize,
    rows: usize,
    bias: Option<&[f32]>,
    masks: &[u16; NV],
    first: &[usize; NV],
) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let xp = xg.as_ptr().add(q0);
    let mut w = wb.as_ptr();
    for &off in offs {
        let a = xp.add(off);
        let v = [
            _mm512_loadu_ps(a),
            _mm512_loadu_ps(a.add(16)),
            _mm512_loadu_ps(a.add(32)),
        ];
        for (m, acc) in acc.iter_mut().enumerate() {
            let b = _mm512_set1_ps(*w.add(m));
            for (acc, &v) in acc.iter_mut().zip(&v) {
                *acc = _mm512_fmadd_ps(b, v, *acc);
            }
        }
        w = w.add(MR);
    }
    for (m, acc) in acc.iter().enumerate().take(rows) {
        let b = _mm512_set1_ps(bias.map_or(0.0, |b| b[m]));
        let plane = outp.add(m * p);
        for v in 0..NV {
            let y = if bias.is_some() {
                _mm512_add_ps(acc[v], b)
            } else {
                acc[v]
            };
            _mm512_mask_compressstoreu_ps(plane.add(first[v]).cast(), masks[v], y);
        }
    }
}

/// Output channels of the weight gradient per microkernel (four vectors).
const WO: usize = 64;
/// Positions per block of the weight gradient's loop (the block of `gyᵀ` stays in L1).
const WQ: usize = 128;

/// [`super::im2col::conv_weight_grad`] for a stride-1 geometry on the wide grid, or `None`
/// when `T` is not f32, the CPU lacks AVX-512 or padding the groups' output channels to a
/// multiple of 16 would add more than a quarter. The caller has checked that `x` is finite
/// (the extra positions add `0 · x`).
///
/// Per image, `gy` is turned round to `gyᵀ[q][o]` on the wide positions (zero rows at the
/// extra ones, zero columns up to a multiple of 16 channels), and the sums are kept as
/// `dwᵀ[r][o]`: a microkernel holds `rows x (vectors of 16 channels)` sums (24 registers)
/// and per position broadcasts one plane element per row and loads the position's channels
/// of `gyᵀ`. No horizontal sums; the layout is the `[kg, og]` of
/// [`super::im2col::weight_grad_chunks`].
pub(super) fn weight_grad<T: Float + StorageElem>(
    x: &[T],
    gy: &[T],
    g: &ConvGeom,
) -> Option<Vec<T>> {
    let (x, gy) = (as_f32(x)?, as_f32(gy)?);
    let (p, og, kg) = (g.p(), g.og(), g.kg());
    let ogp = og.next_multiple_of(16);
    // channels padded to vectors of 16: not when most of a vector would be padding
    if !available() || 4 * ogp > 5 * og {
        return None;
    }
    let (hp, wp) = g.padded();
    let wide = (g.oh - 1) * wp + g.ow;
    let offs = row_offsets(g);
    let planes = g.c * hp * wp;
    let dw = super::im2col::weight_grad_chunks(
        g,
        g.n,
        || {
            let xs = Vec::new();
            let gyt = vec![0.0f32; wide * ogp];
            let dwt = vec![0.0f32; g.groups * kg * ogp];
            (xs, gyt, dwt)
        },
        |(xs, gyt, dwt), acc: &mut [T], imgs| {
            dwt.fill(0.0);
            let mut have = None;
            for img in imgs {
                let src = planes_with_slack(x, g, img, planes + wide + 16, xs, &mut have);
                for grp in 0..g.groups {
                    let gyg = &gy[(img * g.o + grp * og) * p..][..og * p];
                    // gyᵀ on the wide positions; the extra rows and padding columns stay 0
                    // SAFETY: available() checked the CPU; gyg is [og, p], gyt [wide, ogp].
                    unsafe { transpose_gy(gyg, og, p, (g.ow, wp), ogp, gyt) };
                    let xg = &src[grp * g.cg() * hp * wp..];
                    let dg = &mut dwt[grp * kg * ogp..][..kg * ogp];
                    // SAFETY: available() checked the CPU; xg holds offs[r] + wide elements
                    // for every r, gyt wide * ogp, dg kg * ogp.
                    unsafe { weight_grad_image(xg, &offs, gyt, wide, ogp, dg) };
                }
            }
            let acc = as_f32_mut(acc).expect("T is f32");
            for grp in 0..g.groups {
                for r in 0..kg {
                    let src = &dwt[(grp * kg + r) * ogp..][..og];
                    acc[grp * og * kg + r * og..][..og].copy_from_slice(src);
                }
            }
        },
    );
    Some(dw)
}

/// The permute indices of [`transpose16`]'s stage `b`: lane `j` of the first result takes
/// lane `j` of the first source where bit `b` of `j` is clear, else lane `j - b` of the second;
/// the second result takes lane `j + b` of the first or lane `j` of the second.
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
unsafe fn transpose16(r: &mut [__m512; 16]) {
    // SAFETY: forwarded (AVX-512F).
    unsafe {
        stage::<8>(r, &STAGES[0]);
        stage::<4>(r, &STAGES[1]);
        stage::<2>(r, &STAGES[2]);
        stage::<1>(r, &STAGES[3]);
    }
}

/// `gyt[q(pos)][o] = gy[o][pos]` for `o < og` and the `p` real positions, `q(pos)` being
/// position `pos`'s wide index (`(pos / ow) * wp + pos % ow`), in 16 x 16 blocks.
///
/// # Safety
/// AVX-512F is available; `gy` holds `og * p` elements, `gyt` `q(p - 1) + 1` rows of `ogp`
/// (a multiple of 16, at least `og`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_gy(
    gy: &[f32],
    og: usize,
    p: usize,
    (ow, wp): (usize, usize),
    ogp: usize,
    gyt: &mut [f32],
) {
    let mut pos0 = 0;
    // the wide index of each lane's position, advanced without divisions
    let (mut y, mut x) = (0, 0);
    let mut qs = [0usize; 16];
    while pos0 < p {
        let n = 16.min(p - pos0);
        let m = if n == 16 { u16::MAX } else { (1u16 << n) - 1 };
        for q in qs.iter_mut().take(n) {
            *q = y * wp + x;
            x += 1;
            if x == ow {
                (y, x) = (y + 1, 0);
            }
        }
        let mut o0 = 0;
        while o0 < og {
            let r: &mut [__m512; 16] = &mut std::array::from_fn(|k| {
                if o0 + k < og {
                    // SAFETY: row o0 + k < og of gy, positions pos0..pos0 + n <= p.
                    unsafe { _mm512_maskz_loadu_ps(m, gy.as_ptr().add((o0 + k) * p + pos0)) }
                } else {
                    _mm512_setzero_ps()
                }
            });
            // SAFETY: forwarded.
            unsafe { transpose16(r) };
            for (r, &q) in r.iter().zip(&qs).take(n) {
                // SAFETY: row q of gyt, channels o0..o0 + 16 <= ogp.
                unsafe { _mm512_storeu_ps(gyt.as_mut_ptr().add(q * ogp + o0), *r) };
            }
            o0 += 16;
        }
        pos0 += 16;
    }
}

/// `dg[r][o] += Σ_q xg[offs[r] + q] · gyt[q][o]` for `q < wide`, every `r` and `o < ogp`,
/// in blocks of [`WQ`] positions (each sum in position order).
///
/// # Safety
/// AVX-512F is available; `xg` holds `offs[r] + wide` elements for every `r`; `gyt` holds
/// `wide * ogp` and `dg` `offs.len() * ogp`, with `ogp` a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn weight_grad_image(
    xg: &[f32],
    offs: &[usize],
    gyt: &[f32],
    wide: usize,
    ogp: usize,
    dg: &mut [f32],
) {
    let kg = offs.len();
    let mut q0 = 0;
    while q0 < wide {
        let nq = WQ.min(wide - q0);
        let mut o0 = 0;
        while o0 < ogp {
            let nv = ((ogp - o0) / 16).min(WO / 16);
            let mut r = 0;
            while r < kg {
                let left = kg - r;
                // SAFETY: forwarded; the tile's rows r.. and channels o0.. are inside dg.
                unsafe {
                    match nv {
                        4 => r += wg_tile::<4, 6>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        3 => r += wg_tile::<3, 8>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        2 => r += wg_tile::<2, 12>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                        _ => r += wg_tile::<1, 24>(xg, offs, gyt, ogp, dg, (q0, nq), o0, r, left),
                    }
                }
            }
            o0 += nv * 16;
        }
        q0 += nq;
    }
}

/// One tile of [`weight_grad_image`]: rows `r0..r0 + min(R, left)`, channels
/// `o0..o0 + 16 NV`, positions `q0..q0 + nq`. Returns the number of rows done.
///
/// # Safety
/// As for [`weight_grad_image`], with the tile inside `dg`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn wg_tile<const NV: usize, const R: usize>(
    xg: &[f32],
    offs: &[usize],
    gyt: &[f32],
    ogp: usize,
    dg: &mut [f32],
    (q0, nq): (usize, usize),
    o0: usize,
    r0: usize,
    left: usize,
) -> usize {
    let rows = R.min(left);
    let mut acc = [[_mm512_setzero_ps(); NV]; R];
    let mut xr = [xg.as_ptr(); R];
    for (i, xr) in xr.iter_mut().enumerate() {
        // rows past the last repeat it (their sums are dropped)
        *xr = xg.as_ptr().add(offs[r0 + i.min(rows - 1)] + q0);
    }
    let dp = dg.as_mut_ptr();
    for (i, acc) in acc.iter_mut().enumerate().take(rows) {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = _mm512_loadu_ps(dp.add((r0 + i) * ogp + o0 + 16 * v));
        }
    }
    let mut gp = gyt.as_ptr().add(q0 * ogp + o0);
    for q in 0..nq {
        let mut gv = [_mm512_setzero_ps(); NV];
        for (v, gv) in gv.iter_mut().enumerate() {
            *gv = _mm512_loadu_ps(gp.add(16 * v));
        }
        for (acc, xr) in acc.iter_mut().zip(&xr) {
            let b = _mm512_set1_ps(*xr.add(q));
            for (a, &gv) in acc.iter_mut().zip(&gv) {
                *a = _mm512_fmadd_ps(b, gv, *a);
            }
        }
        gp = gp.add(ogp);
    }
    for (i, acc) in acc.iter().enumerate().take(rows) {
        for (v, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(dp.add((r0 + i) * ogp + o0 + 16 * v), *a);
        }
    }
    rows
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn transpose_gy(_: &[f32], _: usize, _: usize, _: (usize, usize), _: usize, _: &mut [f32]) {
    unreachable!("available() is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn weight_grad_image(_: &[f32], _: &[usize], _: &[f32], _: usize, _: usize, _: &mut [f32]) {
    unreachable!("available() is false off x86_64")
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    _: &[f32],
    _: &[usize],
    _: usize,
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: usize,
    _: Option<&[f32]>,
    _: &[u16; NV],
    _: &[usize; NV],
) {
    unreachable!("available() is false off x86_64")
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn transpose16_transposes() {
        if !available() {
            return;
        }
        let m: Vec<f32> = (0..256).map(|k| k as f32).collect();
        // SAFETY: available() checked the CPU; m holds 16 rows of 16.
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
