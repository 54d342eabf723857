//! Convolutions against direct-loop references in f64 (PyTorch is not available to produce
//! golden numbers here; the loops below are the definitions in PyTorch's docs), the adjoint
//! identity between conv2d and conv_transpose2d, and bitwise thread-count independence.

use nabla_core::{
    Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions, DType, Mt19937, Tensor, Var,
};

mod common;
use common::{bits, on_threads};

fn randn(shape: &[usize], dtype: DType, r: &mut Mt19937) -> Tensor {
    Tensor::randn(shape, dtype, r).unwrap()
}

/// A reference result: the values and the shape.
type Reference = (Vec<f64>, Vec<usize>);

/// A convolution's stride, padding and dilation, (rows, columns) each.
type Geometry = ((usize, usize), (usize, usize), (usize, usize));

/// Where output position `(y, x)` reads through kernel tap `(i, j)`: `(y s - p + i d,
/// x s - p + j d)` for each axis' stride s, padding p and dilation d, or `None` when that
/// falls in the padding (outside `size`).
fn tap(
    (y, x): (usize, usize),
    (i, j): (usize, usize),
    (stride, padding, dilation): Geometry,
    size: (usize, usize),
) -> Option<(usize, usize)> {
    let at = |out: usize, k: usize, s: usize, p: usize, d: usize, len: usize| {
        let v = (out * s + k * d) as isize - p as isize;
        (0..len as isize).contains(&v).then_some(v as usize)
    };
    Some((
        at(y, i, stride.0, padding.0, dilation.0, size.0)?,
        at(x, j, stride.1, padding.1, dilation.1, size.1)?,
    ))
}

/// The taps `(i, j)` of a `kh x kw` kernel, row by row, through which output position
/// `(y, x)` reads, each with the position it reads (see [`tap`]); taps in the padding are
/// left out.
fn taps(
    yx: (usize, usize),
    (kh, kw): (usize, usize),
    g: Geometry,
    size: (usize, usize),
) -> impl Iterator<Item = ((usize, usize), (usize, usize))> {
    (0..kh)
        .flat_map(move |i| (0..kw).map(move |j| (i, j)))
        .filter_map(move |ij| Some((ij, tap(yx, ij, g, size)?)))
}

/// `torch.nn.functional.conv2d` by its definition:
/// out[n, o, y, x] = b[o] + sum_{c in group(o), i, j} x[n, c, y s - p + i d, x s - p + j d] w[o, c', i, j]
fn naive_conv2d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, o: Conv2dOptions) -> Reference {
    let (xv, wv) = (x.to_vec_f64(), w.to_vec_f64());
    let g = (o.stride, o.padding, o.dilation);
    let bv = b.map(|b| b.to_vec_f64());
    let [n, c, h, wd] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [oc, cg, kh, kw] = [w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]];
    let oh = (h + 2 * o.padding.0 - o.dilation.0 * (kh - 1) - 1) / o.stride.0 + 1;
    let ow = (wd + 2 * o.padding.1 - o.dilation.1 * (kw - 1) - 1) / o.stride.1 + 1;
    let og = oc / o.groups;
    let mut out = vec![0.0; n * oc * oh * ow];
    for ni in 0..n {
        for oi in 0..oc {
            let grp = oi / og;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = bv.as_ref().map_or(0.0, |b| b[oi]);
                    for ci in 0..cg {
                        let cin = grp * cg + ci;
                        for ((i, j), (iy, ix)) in taps((y, xx), (kh, kw), g, (h, wd)) {
                            let xvv = xv[((ni * c + cin) * h + iy) * wd + ix];
                            s += xvv * wv[((oi * cg + ci) * kh + i) * kw + j];
                        }
                    }
                    out[((ni * oc + oi) * oh + y) * ow + xx] = s;
                }
            }
        }
    }
    let _ = c;
    (out, vec![n, oc, oh, ow])
}

/// `torch.nn.functional.conv_transpose2d` by its definition (scatter form):
/// out[n, g og + o, y s - p + i d, x s - p + j d] += x[n, c, y, x] w[c, o, i, j], c in group g.
fn naive_conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    o: ConvTranspose2dOptions,
) -> Reference {
    let (xv, wv) = (x.to_vec_f64(), w.to_vec_f64());
    let g = (o.stride, o.padding, o.dilation);
    let [n, cin, h, wd] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [_, og, kh, kw] = [w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]];
    let cout = og * o.groups;
    let cg = cin / o.groups;
    let oh =
        (h - 1) * o.stride.0 + o.dilation.0 * (kh - 1) + o.output_padding.0 + 1 - 2 * o.padding.0;
    let ow =
        (wd - 1) * o.stride.1 + o.dilation.1 * (kw - 1) + o.output_padding.1 + 1 - 2 * o.padding.1;
    let mut out = vec![0.0; n * cout * oh * ow];
    if let Some(b) = b {
        let bv = b.to_vec_f64();
        for (k, e) in out.iter_mut().enumerate() {
            *e = bv[(k / (oh * ow)) % cout];
        }
    }
    for ni in 0..n {
        for ci in 0..cin {
            let grp = ci / cg;
            for y in 0..h {
                for xx in 0..wd {
                    let v = xv[((ni * cin + ci) * h + y) * wd + xx];
                    for oo in 0..og {
                        for ((i, j), (ty, tx)) in taps((y, xx), (kh, kw), g, (oh, ow)) {
                            let co = grp * og + oo;
                            out[((ni * cout + co) * oh + ty) * ow + tx] +=
                                v * wv[((ci * og + oo) * kh + i) * kw + j];
                        }
                    }
                }
            }
        }
    }
    (out, vec![n, cout, oh, ow])
}

#[track_caller]
fn assert_close(got: &Tensor, want: &Reference, tol: f64, what: &str) {
    assert_eq!(got.shape(), &want.1[..], "{what}: shape");
    let g = got.to_vec_f64();
    for (k, (a, b)) in g.iter().zip(&want.0).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {k}: {a} vs {b}"
        );
    }
}

fn conv_cases() -> Vec<([usize; 4], [usize; 4], Conv2dOptions, bool)> {
    let d = Conv2dOptions::default();
    let grouped = d.with_groups(2).with_stride(2, 1).with_padding(1, 2);
    let depthwise = d.with_groups(6).with_dilation(2, 3).with_padding(2, 1);
    let strided = d.with_padding(2, 2).with_stride(3, 2);
    vec![
        ([2, 3, 7, 6], [4, 3, 3, 3], d, true),
        ([1, 1, 28, 28], [8, 1, 3, 3], d, true),
        ([2, 4, 9, 8], [6, 2, 3, 2], grouped, false),
        ([1, 6, 11, 10], [6, 1, 3, 3], depthwise, true),
        ([3, 5, 6, 6], [7, 5, 1, 1], d, true),
        ([2, 4, 5, 5], [3, 4, 1, 1], d.with_stride(2, 2), false),
        ([1, 2, 5, 4], [3, 2, 5, 4], d, false),
        ([2, 3, 4, 4], [2, 3, 3, 3], strided, true),
        // a tall image: several tiles per image (the im2col tile is 1 MiB)
        ([1, 64, 70, 60], [4, 64, 3, 3], d.with_padding(1, 1), true),
    ]
}

/// Every case in f64 and f32 (inputs from `seed`): `op(x, w, b)` against the reference `naive`,
/// with a bias of `bias_len(ws, o)` elements when the case has one.
fn check_cases<O: Copy + std::fmt::Debug>(
    what: &str,
    seed: u32,
    cases: Vec<([usize; 4], [usize; 4], O, bool)>,
    bias_len: impl Fn([usize; 4], O) -> usize,
    op: impl Fn(&Tensor, &Tensor, Option<&Tensor>, O) -> nabla_core::Result<Tensor>,
    naive: impl Fn(&Tensor, &Tensor, Option<&Tensor>, O) -> Reference,
) {
    let r = &mut Mt19937::new(seed);
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-4 };
        for (xs, ws, o, bias) in cases.iter().copied() {
            let x = randn(&xs, dtype, r);
            let w = randn(&ws, dtype, r);
            let b = randn(&[bias_len(ws, o)], dtype, r);
            let b = bias.then_some(&b);
            let got = op(&x, &w, b, o).unwrap();
            let want = naive(&x, &w, b, o);
            assert_close(
                &got,
                &want,
                tol,
                &format!("{dtype} {what} {xs:?} {ws:?} {o:?}"),
            );
        }
    }
}

#[test]
fn conv2d_matches_the_definition() {
    let conv2d = |x: &Tensor, w: &Tensor, b: Option<&Tensor>, o| x.conv2d(w, b, o);
    check_cases(
        "conv2d",
        1,
        conv_cases(),
        |ws, _| ws[0],
        conv2d,
        naive_conv2d,
    );
}

#[test]
fn conv2d_of_a_non_contiguous_input_and_unbatched_input() {
    let r = &mut Mt19937::new(2);
    let x = randn(&[2, 3, 6, 5], DType::F64, r);
    let w = randn(&[4, 3, 2, 3], DType::F64, r);
    let o = Conv2dOptions::default().with_padding(1, 0);
    let xt = x.transpose(2, 3).unwrap();
    assert!(!xt.is_contiguous());
    let want = naive_conv2d(&xt.contiguous().unwrap(), &w, None, o);
    assert_close(
        &xt.conv2d(&w, None, o).unwrap(),
        &want,
        1e-12,
        "transposed input",
    );
    let x0 = x.narrow(0, 1, 1).unwrap().squeeze(0).unwrap();
    let got = x0.conv2d(&w, None, o).unwrap();
    assert_eq!(got.rank(), 3);
    let want = naive_conv2d(&x0.unsqueeze(0).unwrap(), &w, None, o);
    assert_close(&got.unsqueeze(0).unwrap(), &want, 1e-12, "unbatched");
}

fn transpose_cases() -> Vec<([usize; 4], [usize; 4], ConvTranspose2dOptions, bool)> {
    let d = ConvTranspose2dOptions::default();
    let strided = d.with_stride(2, 3).with_padding(1, 1);
    let grouped = d.with_groups(2).with_stride(2, 2).with_output_padding(1, 0);
    // output_padding >= stride is allowed when it is below the dilation
    let dilated = d.with_dilation(3, 2).with_output_padding(2, 1);
    let depthwise = d.with_groups(6).with_padding(1, 1);
    vec![
        ([2, 3, 4, 5], [3, 2, 3, 3], d, true),
        ([1, 4, 3, 3], [4, 3, 3, 2], strided, false),
        ([2, 4, 4, 3], [4, 1, 2, 3], grouped, true),
        ([1, 2, 3, 4], [2, 2, 3, 3], dilated, true),
        ([1, 6, 5, 5], [6, 1, 3, 3], depthwise, false),
    ]
}

#[test]
fn conv_transpose2d_matches_the_definition() {
    let bias_len = |ws: [usize; 4], o: ConvTranspose2dOptions| ws[1] * o.groups;
    let conv_t = |x: &Tensor, w: &Tensor, b: Option<&Tensor>, o| x.conv_transpose2d(w, b, o);
    let cases = transpose_cases();
    check_cases(
        "conv_transpose2d",
        3,
        cases,
        bias_len,
        conv_t,
        naive_conv_transpose2d,
    );
}

#[test]
fn conv_transpose2d_of_an_unbatched_input() {
    let r = &mut Mt19937::new(9);
    let x = randn(&[3, 4, 5], DType::F64, r);
    let w = randn(&[3, 2, 3, 3], DType::F64, r);
    let o = ConvTranspose2dOptions::default().with_stride(2, 2);
    let got = x.conv_transpose2d(&w, None, o).unwrap();
    assert_eq!(got.shape(), &[2, 9, 11]);
    let want = naive_conv_transpose2d(&x.unsqueeze(0).unwrap(), &w, None, o);
    assert_close(
        &got.unsqueeze(0).unwrap(),
        &want,
        1e-12,
        "unbatched conv_transpose2d",
    );
}

/// <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>: the two are adjoint (the same weight).
#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() {
    let r = &mut Mt19937::new(4);
    for (xs, ws, o, _) in conv_cases() {
        let x = randn(&xs, DType::F64, r);
        let w = randn(&ws, DType::F64, r);
        let cx = x.conv2d(&w, None, o).unwrap();
        let y = randn(cx.shape(), DType::F64, r);
        let (h, wd) = (xs[2], xs[3]);
        // the output padding that gives back the input size
        let op = |len: usize, k: usize, s: usize, p: usize, d: usize| {
            (len + 2 * p - d * (k - 1) - 1) % s
        };
        let to = ConvTranspose2dOptions {
            stride: o.stride,
            padding: o.padding,
            output_padding: (
                op(h, ws[2], o.stride.0, o.padding.0, o.dilation.0),
                op(wd, ws[3], o.stride.1, o.padding.1, o.dilation.1),
            ),
            dilation: o.dilation,
            groups: o.groups,
        };
        let ty = y.conv_transpose2d(&w, None, to).unwrap();
        assert_eq!(ty.shape(), x.shape());
        let lhs = cx.mul(&y).unwrap().sum().unwrap().to_scalar().unwrap();
        let rhs = x.mul(&ty).unwrap().sum().unwrap().to_scalar().unwrap();
        assert!(
            (lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()),
            "{xs:?} {ws:?}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn conv1d_is_conv2d_with_height_1() {
    let r = &mut Mt19937::new(5);
    let x = randn(&[2, 4, 11], DType::F64, r);
    let w = randn(&[6, 2, 3], DType::F64, r);
    let b = randn(&[6], DType::F64, r);
    let o = Conv1dOptions::default()
        .with_stride(2)
        .with_padding(2)
        .with_dilation(2)
        .with_groups(2);
    let got = x.conv1d(&w, Some(&b), o).unwrap();
    let o2 = Conv2dOptions::default()
        .with_stride(1, 2)
        .with_padding(0, 2)
        .with_dilation(1, 2)
        .with_groups(2);
    let want = naive_conv2d(
        &x.unsqueeze(2).unwrap(),
        &w.unsqueeze(2).unwrap(),
        Some(&b),
        o2,
    );
    assert_close(&got.unsqueeze(2).unwrap(), &want, 1e-12, "conv1d");
    assert_eq!(got.shape(), &[2, 6, 6]);
    let u = x
        .narrow(0, 0, 1)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .conv1d(&w, None, o)
        .unwrap();
    assert_eq!(u.shape(), &[6, 6]);
}

/// Gradients against the direct-loop reference: for loss = sum(conv2d(x, w, b) * y), the
/// gradients are dx = conv_transpose2d(y, w), dw[o, c, i, j] = sum x-window * y, db = sum y.
/// Checked through the reference by finite differences of the (linear) reference itself.
#[test]
fn conv2d_gradients_match_the_reference_by_linearity() {
    let r = &mut Mt19937::new(6);
    let (xs, ws) = ([2, 4, 6, 5], [6, 2, 3, 2]);
    let o = Conv2dOptions::default()
        .with_groups(2)
        .with_stride(2, 1)
        .with_padding(1, 1);
    let x = randn(&xs, DType::F64, r);
    let w = randn(&ws, DType::F64, r);
    let b = randn(&[6], DType::F64, r);
    let (xv, wv, bv) = (Var::new(&x), Var::new(&w), Var::new(&b));
    let out = xv
        .as_tensor()
        .conv2d(&wv.as_tensor(), Some(&bv.as_tensor()), o)
        .unwrap();
    let y = randn(out.shape(), DType::F64, r);
    let g = out.mul(&y).unwrap().sum().unwrap().backward().unwrap();
    let loss = |x: &Tensor, w: &Tensor, b: &Tensor| -> f64 {
        let (v, _) = naive_conv2d(x, w, Some(b), o);
        v.iter().zip(y.to_vec_f64()).map(|(a, b)| a * b).sum()
    };
    // the loss is linear in each argument: the gradient entry is loss(e_k) - loss(0)
    for (var, t, which) in [(&xv, &x, 0), (&wv, &w, 1), (&bv, &b, 2)] {
        let got = var.grad(&g).unwrap().to_vec_f64();
        let n = t.numel();
        for k in (0..n).step_by(7) {
            let mut e = vec![0.0; n];
            e[k] = 1.0;
            let ek = Tensor::from_vec(e, t.shape()).unwrap();
            let z = t.zeros_like();
            let want = match which {
                0 => loss(&ek, &w, &b.zeros_like()),
                1 => loss(&x, &ek, &b.zeros_like()),
                _ => loss(&x.zeros_like(), &w, &ek),
            } - match which {
                0 => loss(&z, &w, &b.zeros_like()),
                1 => loss(&x, &z, &b.zeros_like()),
                _ => loss(&x.zeros_like(), &w, &z),
            };
            assert!(
                (got[k] - want).abs() < 1e-10,
                "input {which} element {k}: {} vs {want}",
                got[k]
            );
        }
    }
}

/// Forward, input gradient and weight gradient of layers large enough to be split (by image,
/// tile and weight-gradient chunk), on 1, 2 and 3 threads: bitwise identical.
#[test]
fn conv_results_are_bitwise_identical_for_any_thread_count() {
    let work = |dtype: DType| {
        let r = &mut Mt19937::new(8);
        let mut out = Vec::new();
        for (xs, ws, o) in [
            ([16, 8, 20, 20], [16, 8, 3, 3], Conv2dOptions::default()),
            (
                [1, 64, 70, 60],
                [8, 64, 3, 3],
                Conv2dOptions::default().with_padding(1, 1),
            ),
            (
                [5, 8, 13, 13],
                [8, 2, 3, 3],
                Conv2dOptions::default().with_groups(4).with_stride(2, 2),
            ),
        ] {
            let x = Var::new(&randn(&xs, dtype, r));
            let w = Var::new(&randn(&ws, dtype, r));
            let b = Var::new(&randn(&[ws[0]], dtype, r));
            let y = x
                .as_tensor()
                .conv2d(&w.as_tensor(), Some(&b.as_tensor()), o)
                .unwrap();
            let p = y
                .relu()
                .unwrap()
                .max_pool2d(nabla_core::MaxPool2dOptions::new(2, 2))
                .unwrap();
            let g = p.sum().unwrap().backward().unwrap();
            out.push(bits(&y));
            out.push(bits(x.grad(&g).unwrap()));
            out.push(bits(w.grad(&g).unwrap()));
            out.push(bits(b.grad(&g).unwrap()));
        }
        out
    };
    for dtype in [DType::F32, DType::F64] {
        let run = |n: usize| on_threads(n, || work(dtype));
        let one = run(1);
        for n in [2, 3] {
            assert!(one == run(n), "{dtype}: 1 thread and {n} threads differ");
        }
    }
}

/// `dw[o, c', i, j] = sum_{n, y, x} gy[n, o, y, x] x[n, c, y s - p + i d, x s - p + j d]`, the
/// weight gradient of `sum(conv2d(x, w) * gy)` by its definition.
fn naive_conv2d_weight(x: &Tensor, gy: &Tensor, ws: [usize; 4], o: Conv2dOptions) -> Vec<f64> {
    let (xv, gv) = (x.to_vec_f64(), gy.to_vec_f64());
    let g = (o.stride, o.padding, o.dilation);
    let [n, c, h, wd] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [oh, ow] = [gy.shape()[2], gy.shape()[3]];
    let [oc, cg, kh, kw] = ws;
    let og = oc / o.groups;
    let mut dw = vec![0.0; oc * cg * kh * kw];
    for oi in 0..oc {
        for ci in 0..cg {
            let cin = (oi / og) * cg + ci;
            for i in 0..kh {
                for j in 0..kw {
                    let mut s = 0.0;
                    for ni in 0..n {
                        for y in 0..oh {
                            for xx in 0..ow {
                                let Some((iy, ix)) = tap((y, xx), (i, j), g, (h, wd)) else {
                                    continue;
                                };
                                s += gv[((ni * oc + oi) * oh + y) * ow + xx]
                                    * xv[((ni * c + cin) * h + iy) * wd + ix];
                            }
                        }
                    }
                    dw[((oi * cg + ci) * kh + i) * kw + j] = s;
                }
            }
        }
    }
    dw
}

/// Equal up to `tol`, NaN where the reference is NaN, the same infinity where it is infinite.
fn assert_close_ieee(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= tol * (1.0 + b.abs())
        };
        assert!(ok, "{what}: element {k}: {a} vs {b}");
    }
}

/// `conv2d(x, w, b)` and its gradients for a random output gradient (from `gy_seed`) against
/// the definitions: y (when `check_y`), dx, dw and db, within `tol` (IEEE specials exactly).
#[allow(clippy::too_many_arguments)]
fn check_against_definitions(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    o: Conv2dOptions,
    tol: f64,
    check_y: bool,
    gy_seed: u32,
    what: &str,
) {
    let ws = [w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]];
    let (xv, wv, bv) = (Var::new(x), Var::new(w), Var::new(b));
    let y = xv
        .as_tensor()
        .conv2d(&wv.as_tensor(), Some(&bv.as_tensor()), o)
        .unwrap();
    let (want_y, shape) = naive_conv2d(x, w, Some(b), o);
    assert_eq!(y.shape(), &shape[..], "{what}");
    if check_y {
        assert_close_ieee(&y.to_vec_f64(), &want_y, tol, &format!("{what}: y"));
    }
    let gy = randn(y.shape(), x.dtype(), &mut Mt19937::new(gy_seed));
    let g = y.mul(&gy).unwrap().sum().unwrap().backward().unwrap();
    let to = ConvTranspose2dOptions {
        stride: o.stride,
        padding: o.padding,
        output_padding: (0, 0),
        dilation: o.dilation,
        groups: o.groups,
    };
    let (want_dx, _) = naive_conv_transpose2d(&gy, w, None, to);
    let dx = xv.grad(&g).unwrap().to_vec_f64();
    assert_close_ieee(&dx, &want_dx, tol, &format!("{what}: dx"));
    let want_dw = naive_conv2d_weight(x, &gy, ws, o);
    let dw = wv.grad(&g).unwrap().to_vec_f64();
    assert_close_ieee(&dw, &want_dw, tol, &format!("{what}: dw"));
    let db = bv.grad(&g).unwrap().to_vec_f64();
    let want_db = gy.sum_dims(&[0, 2, 3], false).unwrap().to_vec_f64();
    assert_close_ieee(&db, &want_db, tol, &format!("{what}: db"));
}

/// Stride-1 convolutions (which run on the wide grid when the padded width is at most 1.5x
/// the output width: LeNet's layers, groups with dilation, several tiles per image): output,
/// input, weight and bias gradients against the definitions, in f64 and f32; then with an
/// infinite input element and an infinite weight element, where the gradients must have
/// exactly the reference's infinities and NaNs (no `0 x inf` from the extra columns).
#[test]
fn stride_1_convolutions_and_gradients_match_the_definitions() {
    let r = &mut Mt19937::new(9);
    let d = Conv2dOptions::default();
    let cases = [
        ([3, 1, 28, 28], [6, 1, 5, 5], d.with_padding(2, 2)),
        ([2, 6, 14, 14], [16, 6, 5, 5], d),
        (
            [2, 4, 9, 12],
            [6, 2, 3, 3],
            d.with_groups(2).with_padding(1, 1).with_dilation(1, 2),
        ),
        ([1, 64, 40, 30], [2, 64, 3, 3], d.with_padding(1, 1)),
        ([2, 3, 7, 6], [4, 3, 3, 3], d),
        // the direct kernels' gradients (f32 on AVX-512): 8 input channels per group, 16
        // output channels per group, with groups, uneven padding and dilation
        (
            [2, 16, 11, 13],
            [32, 8, 3, 3],
            d.with_groups(2).with_padding(1, 2).with_dilation(2, 1),
        ),
        // one image: several strip units per image
        ([1, 8, 20, 21], [16, 8, 3, 3], d),
    ];
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { 1e-10 } else { 2e-4 };
        for (xs, ws, o) in cases {
            for damage in [None, Some(0), Some(1)] {
                let mut x = randn(&xs, dtype, r);
                let mut w = randn(&ws, dtype, r);
                // an infinite element of x (in its last column, which the wide grid's extra
                // columns read) or of w
                let put = |t: &Tensor, k: usize| {
                    let mut v = t.to_vec_f64();
                    v[k] = f64::INFINITY;
                    Tensor::from_vec(v, t.shape())
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap()
                };
                match damage {
                    Some(0) => x = put(&x, x.numel() - 1 - xs[3] * (xs[2] / 2)),
                    Some(_) => w = put(&w, w.numel() / 2),
                    None => {}
                }
                let b = randn(&[ws[0]], dtype, r);
                let gy_seed = r.next_u32();
                let what = format!("{dtype} {xs:?} {ws:?} {o:?} damage {damage:?}");
                // with an infinite weight, a padded tap is 0 x inf = NaN, as in PyTorch's
                // im2col; the definition skips those taps, so y is compared without damage
                // to w only
                check_against_definitions(&x, &w, &b, o, tol, damage != Some(1), gy_seed, &what);
            }
        }
    }
}

/// Random stride-1 geometries in f32 (sizes down to 1, kernels as large as the padded input,
/// uneven padding and dilation, groups; channel counts on both sides of the direct kernels'
/// limits and tiles: 6 input channels per group for the input gradient, 13 output channels
/// for the weight gradient, 6 and 8 rows per tile): output and all gradients against the
/// definitions.
#[test]
fn random_stride_1_geometries_match_the_definitions() {
    let r = &mut Mt19937::new(21);
    let mut pick = |n: u64| r.below(n) as usize;
    let mut done = 0;
    while done < 60 {
        let groups = 1 + pick(2);
        let cg = [1, 3, 6, 8, 9, 12][pick(6)];
        let og = [2, 6, 12, 13, 16, 17][pick(6)];
        let (kh, kw) = (1 + pick(4), 1 + pick(4));
        let (dh, dw) = (1 + pick(2), 1 + pick(2));
        let (ph, pw) = (pick(3), pick(3));
        let (h, w) = (1 + pick(12), 1 + pick(14));
        if h + 2 * ph < dh * (kh - 1) + 1 || w + 2 * pw < dw * (kw - 1) + 1 {
            continue;
        }
        done += 1;
        let n = 1 + pick(3);
        let xs = [n, groups * cg, h, w];
        let ws = [groups * og, cg, kh, kw];
        let o = Conv2dOptions::default()
            .with_groups(groups)
            .with_padding(ph, pw)
            .with_dilation(dh, dw);
        let mut rr = Mt19937::new(done as u32);
        let x = randn(&xs, DType::F32, &mut rr);
        let wt = randn(&ws, DType::F32, &mut rr);
        let b = randn(&[ws[0]], DType::F32, &mut rr);
        let what = format!("{xs:?} {ws:?} {o:?}");
        check_against_definitions(&x, &wt, &b, o, 2e-4, true, rr.next_u32(), &what);
    }
}

/// `conv2d_relu` is `conv2d` then `relu`, bit for bit: values (an input NaN spreads to its
/// windows and relu keeps it; output channel 0 is its bias alone), first-order gradients of
/// every input and second-order ones, on every kernel path (the direct kernel, im2col for
/// strides > 1, groups, f64) and on 1 and 2 threads.
#[test]
fn conv2d_relu_is_conv2d_then_relu_bit_for_bit() {
    let r = &mut Mt19937::new(12);
    for dtype in [DType::F32, DType::F64] {
        for (xs, ws, o, bias) in conv_cases() {
            let mut xv = randn(&xs, dtype, r).to_vec_f64();
            xv[xs[2] * xs[3] / 2] = f64::NAN;
            let x = Tensor::from_vec(xv, &xs).unwrap().to_dtype(dtype).unwrap();
            let mut wv = randn(&ws, dtype, r).to_vec_f64();
            let per_o = wv.len() / ws[0];
            wv[..per_o].fill(0.0); // output channel 0: only the bias
            let w = Tensor::from_vec(wv, &ws).unwrap().to_dtype(dtype).unwrap();
            let mut bv = randn(&[ws[0]], dtype, r).to_vec_f64();
            bv[0] = -0.0;
            let b = Tensor::from_vec(bv, &[ws[0]])
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let run = |fused: bool, threads: usize| {
                on_threads(threads, || {
                    let (xv, wv, bv) = (Var::new(&x), Var::new(&w), Var::new(&b));
                    let (xt, wt, bt) = (xv.as_tensor(), wv.as_tensor(), bv.as_tensor());
                    let b = bias.then_some(&bt);
                    let y = if fused {
                        xt.conv2d_relu(&wt, b, o).unwrap()
                    } else {
                        xt.conv2d(&wt, b, o).unwrap().relu().unwrap()
                    };
                    let c = Tensor::ones(y.shape(), dtype).mul_scalar(0.5).unwrap();
                    let loss = y.mul(&c).unwrap().sum().unwrap();
                    let g1 = loss.backward().unwrap();
                    // second order: d/dw of sum(dL/dx ^ 2)
                    let y2 = if fused {
                        xt.conv2d_relu(&wt, b, o).unwrap()
                    } else {
                        xt.conv2d(&wt, b, o).unwrap().relu().unwrap()
                    };
                    let g = y2
                        .sqr()
                        .unwrap()
                        .sum()
                        .unwrap()
                        .backward_with(None, true)
                        .unwrap();
                    let gx = xv.grad(&g).unwrap().clone();
                    let g2 = gx.sqr().unwrap().sum().unwrap().backward().unwrap();
                    let mut v = vec![
                        bits(&y),
                        bits(xv.grad(&g1).unwrap()),
                        bits(wv.grad(&g1).unwrap()),
                    ];
                    if bias {
                        v.push(bits(bv.grad(&g1).unwrap()));
                    }
                    v.push(bits(wv.grad(&g2).unwrap()));
                    v
                })
            };
            let want = run(false, 1);
            let nan = want[0].iter().any(|&v| f64::from_bits(v).is_nan());
            assert!(nan, "{xs:?}: no NaN output");
            for threads in [1, 2] {
                assert!(
                    run(true, threads) == want,
                    "{dtype} {xs:?} {ws:?} {o:?} on {threads} threads"
                );
            }
        }
    }
}

/// The first-order rule of `conv2d_relu` writes ReLU's mask over the incoming gradient only
/// when nothing else holds it: a seed the caller keeps and a gradient shared by both inputs
/// of an `add` stay as they were, and the results equal the unfused ones bit for bit.
#[test]
fn conv2d_relu_leaves_shared_gradients_alone() {
    let r = &mut Mt19937::new(13);
    let o = Conv2dOptions::default().with_padding(1, 1);
    let x = randn(&[2, 8, 9, 9], DType::F32, r);
    let (w1, w2) = (
        randn(&[8, 8, 3, 3], DType::F32, r),
        randn(&[8, 8, 3, 3], DType::F32, r),
    );
    let seed = randn(&[2, 8, 9, 9], DType::F32, r);
    let seed_bits = bits(&seed);
    let run = |fused: bool| {
        let (wv1, wv2) = (Var::new(&w1), Var::new(&w2));
        let f = |w: &Tensor| {
            if fused {
                x.conv2d_relu(w, None, o).unwrap()
            } else {
                x.conv2d(w, None, o).unwrap().relu().unwrap()
            }
        };
        // the caller keeps the seed
        let y = f(&wv1.as_tensor());
        let g = y.backward_with(Some(seed.clone()), false).unwrap();
        let mut v = vec![bits(wv1.grad(&g).unwrap())];
        // both branches of the add get the same gradient tensor
        let z = f(&wv1.as_tensor()).add(&f(&wv2.as_tensor())).unwrap();
        let g = z.backward_with(Some(seed.clone()), false).unwrap();
        v.push(bits(wv1.grad(&g).unwrap()));
        v.push(bits(wv2.grad(&g).unwrap()));
        v
    };
    let want = run(false);
    assert!(run(true) == want, "fused and unfused gradients differ");
    assert_eq!(bits(&seed), seed_bits, "the caller's seed changed");
    // the masks differ, so a gradient overwritten by one branch would show in the other
    assert!(want[1] != want[2]);
}
