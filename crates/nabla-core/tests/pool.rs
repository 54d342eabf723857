//! Pooling against direct loops written from PyTorch's CPU kernels (output sizes from
//! `pooling_output_shape`, divisors from `avg_pool2d`'s kernel, adaptive windows from
//! `start_index`/`end_index`), hand-computed values, and the tie rule of max pooling.

use nabla_core::{
    AvgPool1dOptions, AvgPool2dOptions, DType, MaxPool1dOptions, MaxPool2dOptions, Mt19937, Tensor,
    Var,
};

mod common;
use common::{bits, on_threads, t};

/// PyTorch's `pooling_output_shape` (dilation 1 for average pooling).
fn out_size(len: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> usize {
    let (len, k, s, p, d) = (len as i64, k as i64, s as i64, p as i64, d as i64);
    let mut o = (len + 2 * p - d * (k - 1) - 1 + if ceil { s - 1 } else { 0 }).div_euclid(s) + 1;
    if ceil && (o - 1) * s >= len + p {
        o -= 1;
    }
    o as usize
}

/// PyTorch's CPU max_pool2d loop: values and flat indices.
fn naive_max(x: &Tensor, o: MaxPool2dOptions) -> (Vec<f64>, Vec<i64>, Vec<usize>) {
    let v = x.to_vec_f64();
    let [n, c, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let oh = out_size(
        h,
        o.kernel.0,
        o.stride.0,
        o.padding.0,
        o.dilation.0,
        o.ceil_mode,
    );
    let ow = out_size(
        w,
        o.kernel.1,
        o.stride.1,
        o.padding.1,
        o.dilation.1,
        o.ceil_mode,
    );
    let (mut vals, mut idx) = (vec![], vec![]);
    for pl in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut ih0 = (oy * o.stride.0) as i64 - o.padding.0 as i64;
                let mut iw0 = (ox * o.stride.1) as i64 - o.padding.1 as i64;
                let ih1 = (ih0 + ((o.kernel.0 - 1) * o.dilation.0) as i64 + 1).min(h as i64);
                let iw1 = (iw0 + ((o.kernel.1 - 1) * o.dilation.1) as i64 + 1).min(w as i64);
                while ih0 < 0 {
                    ih0 += o.dilation.0 as i64;
                }
                while iw0 < 0 {
                    iw0 += o.dilation.1 as i64;
                }
                let mut best = f64::NEG_INFINITY;
                let mut at = ih0 * w as i64 + iw0;
                let mut ih = ih0;
                while ih < ih1 {
                    let mut iw = iw0;
                    while iw < iw1 {
                        let i = ih * w as i64 + iw;
                        let val = v[pl * h * w + i as usize];
                        if val > best || val.is_nan() {
                            best = val;
                            at = i;
                        }
                        iw += o.dilation.1 as i64;
                    }
                    ih += o.dilation.0 as i64;
                }
                vals.push(best);
                idx.push(at);
            }
        }
    }
    (vals, idx, vec![n, c, oh, ow])
}

/// PyTorch's CPU avg_pool2d loop (no divisor override).
fn naive_avg(x: &Tensor, o: AvgPool2dOptions) -> (Vec<f64>, Vec<usize>) {
    let v = x.to_vec_f64();
    let [n, c, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let oh = out_size(h, o.kernel.0, o.stride.0, o.padding.0, 1, o.ceil_mode);
    let ow = out_size(w, o.kernel.1, o.stride.1, o.padding.1, 1, o.ceil_mode);
    let (h, w) = (h as i64, w as i64);
    let mut out = vec![];
    for pl in 0..n * c {
        for oy in 0..oh as i64 {
            for ox in 0..ow as i64 {
                let mut ih0 = oy * o.stride.0 as i64 - o.padding.0 as i64;
                let mut iw0 = ox * o.stride.1 as i64 - o.padding.1 as i64;
                let mut ih1 = (ih0 + o.kernel.0 as i64).min(h + o.padding.0 as i64);
                let mut iw1 = (iw0 + o.kernel.1 as i64).min(w + o.padding.1 as i64);
                let pool = (ih1 - ih0) * (iw1 - iw0);
                ih0 = ih0.max(0);
                iw0 = iw0.max(0);
                ih1 = ih1.min(h);
                iw1 = iw1.min(w);
                if ih0 >= ih1 || iw0 >= iw1 {
                    out.push(0.0);
                    continue;
                }
                let mut s = 0.0;
                for ih in ih0..ih1 {
                    for iw in iw0..iw1 {
                        s += v[pl * (h * w) as usize + (ih * w + iw) as usize];
                    }
                }
                let div = if o.count_include_pad {
                    pool
                } else {
                    (ih1 - ih0) * (iw1 - iw0)
                };
                out.push(s / div as f64);
            }
        }
    }
    (out, vec![n, c, oh, ow])
}

#[track_caller]
fn close(got: &Tensor, want: &[f64], what: &str) {
    let g = got.to_vec_f64();
    assert_eq!(g.len(), want.len(), "{what}: length");
    for (k, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() < 1e-12 * (1.0 + b.abs()),
            "{what}: element {k}: {a} vs {b}"
        );
    }
}

fn max_cases() -> Vec<([usize; 4], MaxPool2dOptions)> {
    let m = MaxPool2dOptions::new;
    let padded = m(3, 3).with_stride(2, 2).with_padding(1, 1);
    vec![
        ([2, 3, 6, 6], m(2, 2)),
        // 2x2 with an unused last row and column (the 2x2 fast path), and in ceil mode
        ([1, 2, 7, 5], m(2, 2)),
        ([1, 2, 7, 5], m(2, 2).with_ceil_mode(true)),
        ([1, 2, 7, 5], m(3, 2).with_stride(2, 1).with_padding(1, 1)),
        ([1, 2, 7, 7], m(3, 3).with_stride(2, 2).with_ceil_mode(true)),
        ([1, 1, 6, 6], padded.with_ceil_mode(true)),
        ([2, 2, 9, 8], m(2, 3).with_dilation(2, 2).with_padding(1, 1)),
        ([1, 1, 5, 5], m(2, 2).with_ceil_mode(true)),
        ([1, 1, 4, 4], padded.with_ceil_mode(true)),
    ]
}

#[test]
fn max_pool2d_matches_pytorchs_loop() {
    let r = &mut Mt19937::new(1);
    for (xs, o) in max_cases() {
        let x = Tensor::randn(&xs, DType::F64, r).unwrap();
        let (y, i) = x.max_pool2d_with_indices(o).unwrap();
        let (v, idx, shape) = naive_max(&x, o);
        assert_eq!(y.shape(), &shape[..], "{xs:?} {o:?}");
        assert_eq!(i.shape(), &shape[..]);
        assert_eq!(i.dtype(), DType::I64);
        close(&y, &v, &format!("max_pool2d {xs:?} {o:?}"));
        assert_eq!(i.to_vec::<i64>().unwrap(), idx, "{xs:?} {o:?}");
        // f32 gives the same values and indices
        let (y32, i32_) = x
            .to_dtype(DType::F32)
            .unwrap()
            .max_pool2d_with_indices(o)
            .unwrap();
        assert_eq!(i32_.to_vec::<i64>().unwrap(), idx);
        let v32: Vec<f64> = v.iter().map(|&a| a as f32 as f64).collect();
        assert_eq!(y32.to_vec_f64(), v32);
    }
}

/// The 2x2, stride-2 pooling of CNNs in f32 (on an AVX-512 CPU a vector kernel, 16 outputs at
/// a time, with a scalar tail), on rows long enough for both parts, odd sizes that leave a
/// row and a column unused, and values with ties, NaNs, infinities and signed zeros: the
/// values and indices are PyTorch's loop's, and the gradient is bitwise that of
/// `zeros().index_put_(idx, g, accumulate=True)` (`+0.0` where `g` is `-0.0`).
#[test]
fn max_pool_2x2_f32_with_ties_nans_and_signed_zeros() {
    let r = &mut Mt19937::new(7);
    for xs in [[2, 3, 7, 37], [1, 2, 64, 64], [1, 1, 4, 66], [3, 1, 2, 2]] {
        let n: usize = xs.iter().product();
        let mut v: Vec<f32> = Tensor::randn(&[n], DType::F32, r)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&a| (a * 2.0).round() / 2.0)
            .collect();
        for (k, e) in v.iter_mut().enumerate() {
            match k % 29 {
                3 => *e = f32::NAN,
                5 => *e = f32::INFINITY,
                7 => *e = f32::NEG_INFINITY,
                11 => *e = -0.0,
                13 => *e = 0.0,
                _ => {}
            }
        }
        let x = Var::new(&Tensor::from_vec(v.clone(), &xs).unwrap());
        let o = MaxPool2dOptions::new(2, 2);
        let (y, i) = x.as_tensor().max_pool2d_with_indices(o).unwrap();
        let x64 = Tensor::from_vec(v.iter().map(|&a| a as f64).collect::<Vec<_>>(), &xs).unwrap();
        let (want_v, want_i, shape) = naive_max(&x64, o);
        assert_eq!(y.shape(), &shape[..]);
        let idx = i.to_vec::<i64>().unwrap();
        assert_eq!(idx, want_i, "{xs:?}");
        let got: Vec<u32> = y
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|a| a.to_bits())
            .collect();
        let want: Vec<u32> = want_v.iter().map(|&a| (a as f32).to_bits()).collect();
        assert_eq!(got, want, "{xs:?}");
        // the gradient, with signed zeros among its values
        let m: usize = shape.iter().product();
        let mut gv: Vec<f32> = Tensor::randn(&[m], DType::F32, r)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        for (k, e) in gv.iter_mut().enumerate() {
            if k % 5 == 1 {
                *e = -0.0;
            }
        }
        let gt = Tensor::from_vec(gv.clone(), &shape).unwrap();
        let grads = y.backward_with(Some(gt), false).unwrap();
        let dx = x.grad(&grads).unwrap().to_vec::<f32>().unwrap();
        let (hw, ohw) = (xs[2] * xs[3], shape[2] * shape[3]);
        let mut want = vec![0.0f32; n];
        for (k, (&g, &at)) in gv.iter().zip(&idx).enumerate() {
            want[k / ohw * hw + at as usize] += g;
        }
        let bits = |d: &[f32]| d.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&dx), bits(&want), "{xs:?}");
    }
}

/// The ceil-mode rule, by hand (length, kernel, stride, padding):
/// (5, 2, 2, 0): floor 3 / 2 + 1 = 2, ceil 4 / 2 + 1 = 3 (the last window starts at 4 < 5);
/// (4, 3, 2, 1): floor 3 / 2 + 1 = 2, ceil 4 / 2 + 1 = 3 (starts at 3 < 4 + 1);
/// (6, 2, 2, 1): floor 6 / 2 + 1 = 4, ceil 7 / 2 + 1 = 4;
/// (4, 2, 3, 1): floor 4 / 3 + 1 = 2, ceil 6 / 3 + 1 = 3, but window 2 would start at
/// 2 * 3 - 1 = 5 >= 4 + 1, outside the input and its left padding: dropped, so 2.
#[test]
fn ceil_mode_output_sizes() {
    for (len, k, s, p, want_floor, want_ceil) in [
        (5usize, 2usize, 2usize, 0usize, 2usize, 3usize),
        (4, 3, 2, 1, 2, 3),
        (6, 2, 2, 1, 4, 4),
        (4, 2, 3, 1, 2, 2),
    ] {
        let x = Tensor::zeros(&[1, 1, 1, len], DType::F32);
        let o = MaxPool2dOptions::new(1, k)
            .with_stride(1, s)
            .with_padding(0, p);
        assert_eq!(
            x.max_pool2d(o).unwrap().shape()[3],
            want_floor,
            "{len} {k} {s} {p}"
        );
        let oc = o.with_ceil_mode(true);
        assert_eq!(
            x.max_pool2d(oc).unwrap().shape()[3],
            want_ceil,
            "{len} {k} {s} {p} ceil"
        );
        let a = AvgPool2dOptions::new(1, k)
            .with_stride(1, s)
            .with_padding(0, p);
        assert_eq!(
            x.avg_pool2d(a.with_ceil_mode(true)).unwrap().shape()[3],
            want_ceil
        );
    }
}

/// Hand-computed: x = 1..=16 as 4x4. avg 2x2: the four block means; max 2x2: the block
/// maxima at flat indices 5, 7, 13, 15.
#[test]
fn hand_computed_values() {
    let x = t((1..=16).map(f64::from).collect(), &[1, 1, 4, 4]);
    let a = x.avg_pool2d(AvgPool2dOptions::new(2, 2)).unwrap();
    assert_eq!(a.to_vec::<f64>().unwrap(), vec![3.5, 5.5, 11.5, 13.5]);
    let (m, i) = x
        .max_pool2d_with_indices(MaxPool2dOptions::new(2, 2))
        .unwrap();
    assert_eq!(m.to_vec::<f64>().unwrap(), vec![6.0, 8.0, 14.0, 16.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![5, 7, 13, 15]);
    // avg 3x3, stride 2, padding 1, ceil mode, 4x4: windows rows [-1, 2), [1, 4), [3, 5)
    // clipped to the padded input [-1, 5): the last is [3, 5) (2 with padding, 1 inside).
    // Top-left: (1 + 2 + 5 + 6) / 9 with padding counted, / 4 without.
    let o = AvgPool2dOptions::new(3, 3)
        .with_stride(2, 2)
        .with_padding(1, 1)
        .with_ceil_mode(true);
    let inc = x.avg_pool2d(o).unwrap().to_vec::<f64>().unwrap();
    let exc = x
        .avg_pool2d(o.with_count_include_pad(false))
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(inc.len(), 9);
    assert_eq!(inc[0], 14.0 / 9.0);
    assert_eq!(exc[0], 14.0 / 4.0);
    // bottom-right: rows 3..4, columns 3..4 inside (just 16); padded window 2 x 2
    assert_eq!(inc[8], 16.0 / 4.0);
    assert_eq!(exc[8], 16.0);
    // adaptive 4 -> 3: rows [0, 2), [1, 3), [2, 4)
    let ad = x
        .adaptive_avg_pool2d((3, 3))
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    assert_eq!(ad[0], (1.0 + 2.0 + 5.0 + 6.0) / 4.0);
    assert_eq!(ad[4], (6.0 + 7.0 + 10.0 + 11.0) / 4.0);
    // adaptive to 1x1 is the global mean
    let g = x.adaptive_avg_pool2d((1, 1)).unwrap();
    assert_eq!(g.shape(), &[1, 1, 1, 1]);
    assert_eq!(g.to_scalar().unwrap(), 8.5);
}

fn avg_cases() -> Vec<([usize; 4], AvgPool2dOptions)> {
    let a = AvgPool2dOptions::new;
    let padded = a(3, 3).with_stride(2, 2).with_padding(1, 1);
    let mut v = vec![];
    for inc in [true, false] {
        for (xs, o) in [
            ([2, 3, 6, 6], a(2, 2)),
            ([1, 2, 7, 5], a(3, 2).with_stride(2, 1).with_padding(1, 1)),
            ([1, 2, 7, 7], a(3, 3).with_stride(2, 2).with_ceil_mode(true)),
            ([1, 1, 6, 5], padded.with_ceil_mode(true)),
            ([1, 1, 5, 5], a(2, 2).with_ceil_mode(true)),
            ([1, 1, 4, 4], padded.with_ceil_mode(true)),
        ] {
            v.push((xs, o.with_count_include_pad(inc)));
        }
    }
    v
}

#[test]
fn avg_pool2d_matches_pytorchs_loop() {
    let r = &mut Mt19937::new(2);
    for (xs, o) in avg_cases() {
        let x = Tensor::randn(&xs, DType::F64, r).unwrap();
        let y = x.avg_pool2d(o).unwrap();
        let (v, shape) = naive_avg(&x, o);
        assert_eq!(y.shape(), &shape[..], "{xs:?} {o:?}");
        close(&y, &v, &format!("avg_pool2d {xs:?} {o:?}"));
    }
}

#[test]
fn adaptive_avg_pool2d_matches_pytorchs_windows() {
    let r = &mut Mt19937::new(3);
    for (xs, out) in [
        ([2, 3, 7, 5], (3, 2)),
        ([1, 1, 5, 9], (5, 4)),
        ([1, 2, 3, 3], (5, 4)),
    ] {
        let x = Tensor::randn(&xs, DType::F64, r).unwrap();
        let y = x.adaptive_avg_pool2d(out).unwrap();
        assert_eq!(y.shape(), &[xs[0], xs[1], out.0, out.1]);
        let v = x.to_vec_f64();
        let (h, w) = (xs[2], xs[3]);
        let mut want = vec![];
        for pl in 0..xs[0] * xs[1] {
            for i in 0..out.0 {
                let (a, b) = (i * h / out.0, ((i + 1) * h).div_ceil(out.0));
                for j in 0..out.1 {
                    let (c, d) = (j * w / out.1, ((j + 1) * w).div_ceil(out.1));
                    let mut s = 0.0;
                    for y in a..b {
                        for x in c..d {
                            s += v[pl * h * w + y * w + x];
                        }
                    }
                    want.push(s / ((b - a) * (d - c)) as f64);
                }
            }
        }
        close(&y, &want, &format!("adaptive {xs:?} {out:?}"));
    }
}

/// With exact ties the whole gradient of a window goes to its first maximum in scan order
/// (PyTorch's rule), not split among the tied elements; overlapping windows add up.
#[test]
fn max_pool_ties_send_the_gradient_to_the_first_index_only() {
    let x = Var::new(&t(
        vec![
            1.0, 1.0, 0.0, //
            1.0, 1.0, 2.0, //
            0.0, 2.0, 2.0,
        ],
        &[1, 1, 3, 3],
    ));
    let o = MaxPool2dOptions::new(2, 2).with_stride(1, 1);
    let (y, i) = x.as_tensor().max_pool2d_with_indices(o).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 2.0, 2.0, 2.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 5, 7, 5]);
    let g = y.sum().unwrap().backward().unwrap();
    assert_eq!(
        x.grad(&g).unwrap().to_vec::<f64>().unwrap(),
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.0, 0.0]
    );
    // a constant plane: every window's gradient to its top-left element
    let c = Var::new(&Tensor::ones(&[1, 1, 4, 4], DType::F32));
    let g = c
        .as_tensor()
        .max_pool2d(MaxPool2dOptions::new(2, 2))
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    let gv = c.grad(&g).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f32> = (0..16)
        .map(|k| {
            if (k / 4) % 2 == 0 && k % 2 == 0 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    assert_eq!(gv, want);
}

/// NaN is a maximum (it propagates, as in PyTorch); padding is -inf, never chosen over an
/// input element.
#[test]
fn max_pool_nan_and_padding() {
    let x = t(vec![1.0, f64::NAN, 3.0, 2.0], &[1, 1, 2, 2]);
    let (y, i) = x
        .max_pool2d_with_indices(MaxPool2dOptions::new(2, 2))
        .unwrap();
    assert!(y.to_vec::<f64>().unwrap()[0].is_nan());
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![1]);
    let x = t(vec![-5.0, -7.0, -6.0, -8.0], &[1, 1, 2, 2]);
    let o = MaxPool2dOptions::new(2, 2).with_padding(1, 1);
    let (y, i) = x.max_pool2d_with_indices(o).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![-5.0, -7.0, -6.0, -8.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn one_d_wrappers_and_unbatched_inputs() {
    let r = &mut Mt19937::new(4);
    let x = Tensor::randn(&[2, 3, 9], DType::F64, r).unwrap();
    let o = MaxPool1dOptions {
        kernel: 3,
        stride: 2,
        padding: 1,
        dilation: 2,
        ceil_mode: true,
    };
    let y = x.max_pool1d(o).unwrap();
    let o2 = MaxPool2dOptions::new(1, 3)
        .with_stride(1, 2)
        .with_padding(0, 1)
        .with_dilation(1, 2)
        .with_ceil_mode(true);
    let want = x
        .unsqueeze(2)
        .unwrap()
        .max_pool2d(o2)
        .unwrap()
        .squeeze(2)
        .unwrap();
    assert_eq!(y.shape(), want.shape());
    assert_eq!(y.to_vec_f64(), want.to_vec_f64());
    let a = AvgPool1dOptions {
        kernel: 4,
        stride: 3,
        padding: 2,
        ceil_mode: true,
        count_include_pad: false,
    };
    let y = x.avg_pool1d(a).unwrap();
    let a2 = AvgPool2dOptions::new(1, 4)
        .with_stride(1, 3)
        .with_padding(0, 2)
        .with_ceil_mode(true)
        .with_count_include_pad(false);
    let want = x
        .unsqueeze(2)
        .unwrap()
        .avg_pool2d(a2)
        .unwrap()
        .squeeze(2)
        .unwrap();
    assert_eq!(y.to_vec_f64(), want.to_vec_f64());
    // unbatched [C, L] and [C, H, W]
    let u = x.narrow(0, 0, 1).unwrap().squeeze(0).unwrap();
    assert_eq!(
        u.max_pool1d(MaxPool1dOptions::new(2)).unwrap().shape(),
        &[3, 4]
    );
    let u2 = x
        .reshape(&[2, 3, 3, 3])
        .unwrap()
        .narrow(0, 1, 1)
        .unwrap()
        .squeeze(0)
        .unwrap();
    assert_eq!(
        u2.max_pool2d(MaxPool2dOptions::new(2, 2)).unwrap().shape(),
        &[3, 1, 1]
    );
    assert_eq!(
        u2.avg_pool2d(AvgPool2dOptions::new(2, 2)).unwrap().shape(),
        &[3, 1, 1]
    );
    assert_eq!(u2.adaptive_avg_pool2d((2, 2)).unwrap().shape(), &[3, 2, 2]);
}

/// Pooling of large batches split across threads: the same bits on 1, 2 and 3 threads.
#[test]
fn pool_results_are_bitwise_identical_for_any_thread_count() {
    let work = || {
        let r = &mut Mt19937::new(5);
        let x = Var::new(&Tensor::randn(&[16, 32, 24, 24], DType::F32, r).unwrap());
        let m = x
            .as_tensor()
            .max_pool2d(MaxPool2dOptions::new(2, 2))
            .unwrap();
        let a = x
            .as_tensor()
            .avg_pool2d(
                AvgPool2dOptions::new(3, 3)
                    .with_stride(2, 2)
                    .with_padding(1, 1),
            )
            .unwrap();
        let loss = m
            .sum()
            .unwrap()
            .add(&a.sqr().unwrap().sum().unwrap())
            .unwrap();
        let g = loss.backward().unwrap();
        [m, a, x.grad(&g).unwrap().clone()]
            .iter()
            .map(bits)
            .collect::<Vec<_>>()
    };
    let run = |n: usize| on_threads(n, work);
    let one = run(1);
    assert!(one == run(2) && one == run(3));
}
