//! The fused `layer_norm` primitive: values and gradients against PyTorch 2.15, errors, edges,
//! results independent of the thread count, second order, and a timing against the composed
//! form (`#[ignore]`d: run it with `--ignored --nocapture`).

use nabla_core::{DType, Mt19937, Result, Tensor, Var};

mod common;
use common::{bits, on_threads};

// PyTorch 2.15:
// ```python
// def run(dtype, ns, with_w, with_b):
//     x = torch.tensor([float((i*7) % 11 - 5) * 0.37 for i in range(24)], dtype=dtype).reshape(2,3,4).requires_grad_()
//     c = torch.tensor([float((i*3) % 5 - 2) for i in range(24)], dtype=dtype).reshape(2,3,4)
//     n = math.prod(ns)
//     w = torch.tensor([0.5 + 0.25*i for i in range(n)], dtype=dtype).reshape(ns).requires_grad_() if with_w else None
//     b = torch.tensor([0.1*i - 0.3 for i in range(n)], dtype=dtype).reshape(ns).requires_grad_() if with_b else None
//     y = torch.nn.functional.layer_norm(x, ns, w, b, 1e-5)
//     (y*c).sum().backward()   # y, x.grad, w.grad, b.grad
// run(torch.float64, [4], True, True)       # F64_LAST_*
// run(torch.float64, [3, 4], True, False)   # F64_TWO_DIMS_NO_BIAS_*
// run(torch.float32, [4], True, True)       # F32_LAST_*
// ```
const F64_LAST_Y: &[f64] = &[
    -0.9565305106131041,
    0.19391830636786253,
    -0.6252244084904832,
    1.6413262765327603,
    -0.20000058436302967,
    -1.2499938641881883,
    1.2999918189175843,
    -0.24999853909242575,
    -0.6614473353099102,
    0.9445832284813824,
    0.14096489020660694,
    -1.3052264886191205,
    -0.2000005843630297,
    -1.2499938641881883,
    1.2999918189175843,
    -0.2499985390924258,
    -0.6614473353099102,
    0.9445832284813824,
    0.14096489020660685,
    -1.3052264886191205,
    0.22209059544764814,
    -0.38072366765495513,
    -1.6261109713085102,
    0.9036183382747758,
];
const F64_LAST_DX: &[f64] = &[
    0.3533452231371599,
    -0.20344232674529283,
    -0.417600048158995,
    0.26769715176712755,
    0.2702710599292746,
    0.27025210778092296,
    0.13515092858517286,
    -0.6756740962953703,
    0.4201684281904827,
    0.7772998271990583,
    -1.6596545494384924,
    0.4621862940489514,
    -0.04324406450079013,
    1.383783215148453,
    1.0486350030481222,
    -2.389174153695785,
    -0.10644070423923507,
    -0.6918750125571163,
    1.4103549836729974,
    -0.6120392668766459,
    -1.6176334098538787,
    0.49019220278999737,
    -0.4411789979827895,
    1.5686202050466707,
];
const F64_LAST_DW: &[f64] = &[
    -1.8309231824715781,
    -1.2418514530246343,
    3.4513271987165774,
    3.6277266866185833,
];
const F64_LAST_DB: &[f64] = &[-2.0, 1.0, -1.0, 2.0];
const F64_TWO_DIMS_NO_BIAS_Y: &[f64] = &[
    -0.6885744725400721,
    0.5445998100998752,
    -0.47574236284586796,
    2.034424577959304,
    0.6384963290826123,
    -1.3583696412835964,
    2.654141603245369,
    0.2816895569482113,
    -2.691700210838463,
    2.8231553374142955,
    -0.5258205063033277,
    -4.475734071510469,
    0.2978405501787827,
    -0.5279900662260238,
    1.5704319918517635,
    0.33845517065770764,
    -1.5433555781991461,
    2.179651299035637,
    -0.10830565461046635,
    -3.0460965359193684,
    2.301495160472412,
    -1.0424419256257393,
    -5.036212939386689,
    1.9359635761620875,
];
const F64_TWO_DIMS_NO_BIAS_DX: &[f64] = &[
    -0.539053466154924,
    0.4909389553940519,
    -0.7066866441435804,
    1.7444422809279028,
    -0.062241820119375346,
    -2.681003923179515,
    1.394281005917691,
    -1.8335395986520948,
    4.277536819926025,
    -0.1739972721118129,
    -4.822954380204107,
    2.912278042399737,
    -0.5771746798702817,
    0.9216120642924452,
    0.05504317460983149,
    -2.397862884582298,
    0.8572317721825875,
    -1.5461065410269148,
    3.2457575392648588,
    -0.5243794543788891,
    -4.46448719111528,
    2.0836848017786522,
    -3.223221615391984,
    5.569903014237273,
];
const F64_TWO_DIMS_NO_BIAS_DW: &[f64] = &[
    2.158616789802723,
    -0.6818404298028966,
    0.47574236284586796,
    2.713551051682554,
    -1.028903718799431,
    0.30690741916088915,
    1.218765147012218,
    -0.12519535864364947,
    -3.9945562970487,
    -0.3790697911366325,
    2.029284650664448,
    -0.1857867443650134,
];
const F32_LAST_Y: &[f64] = &[
    -0.9565305709838867,
    0.19391824305057526,
    -0.6252244710922241,
    1.6413260698318481,
    -0.20000059902668,
    -1.249993920326233,
    1.2999918460845947,
    -0.2499985247850418,
    -0.661447286605835,
    0.9445830583572388,
    0.1409648358821869,
    -1.3052265644073486,
    -0.20000059902668,
    -1.249993920326233,
    1.2999918460845947,
    -0.2499985247850418,
    -0.661447286605835,
    0.9445830583572388,
    0.1409648358821869,
    -1.3052265644073486,
    0.22209054231643677,
    -0.38072365522384644,
    -1.6261109113693237,
    0.9036182761192322,
];
const F32_LAST_DX: &[f64] = &[
    0.3533451557159424,
    -0.20344220101833344,
    -0.41760003566741943,
    0.26769721508026123,
    0.27027109265327454,
    0.2702518701553345,
    0.135151207447052,
    -0.6756740808486938,
    0.4201684594154358,
    0.7772995233535767,
    -1.6596543788909912,
    0.4621862769126892,
    -0.04324406385421753,
    1.383783221244812,
    1.0486348867416382,
    -2.389174222946167,
    -0.10644067823886871,
    -0.6918749809265137,
    1.4103548526763916,
    -0.6120392084121704,
    -1.6176331043243408,
    0.49019214510917664,
    -0.441179096698761,
    1.5686200857162476,
];
const F32_LAST_DW: &[f64] = &[
    -1.830923080444336,
    -1.2418513298034668,
    3.451327323913574,
    3.6277265548706055,
];
const F32_LAST_DB: &[f64] = &[-2.0, 1.0, -1.0, 2.0];

/// The inputs of the PyTorch snippet above in `dtype`, with a weight and a bias of `ns` as
/// asked (the parameters as variables).
fn setup(
    dtype: DType,
    ns: &[usize],
    with_w: bool,
    with_b: bool,
) -> (Var, Tensor, Option<Var>, Option<Var>) {
    let x: Vec<f64> = (0..24).map(|i| ((i * 7) % 11 - 5) as f64 * 0.37).collect();
    let c: Vec<f64> = (0..24).map(|i| ((i * 3) % 5 - 2) as f64).collect();
    let n: usize = ns.iter().product();
    let mk = |v: Vec<f64>, s: &[usize]| Tensor::from_vec(v, s).unwrap().to_dtype(dtype).unwrap();
    let w = with_w.then(|| Var::new(&mk((0..n).map(|i| 0.5 + 0.25 * i as f64).collect(), ns)));
    let b = with_b.then(|| Var::new(&mk((0..n).map(|i| 0.1 * i as f64 - 0.3).collect(), ns)));
    (Var::new(&mk(x, &[2, 3, 4])), mk(c, &[2, 3, 4]), w, b)
}

fn close(got: &Tensor, want: &[f64], tol: f64, what: &str) {
    let got = got.to_vec_f64();
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol, "{what}[{i}]: {a} vs {b}");
    }
}

fn check(dtype: DType, ns: &[usize], want: [&[f64]; 4], has_b: bool, tol: f64) {
    let (x, c, w, b) = setup(dtype, ns, true, has_b);
    let (wt, bt) = (
        w.as_ref().map(|v| v.as_tensor()),
        b.as_ref().map(|v| v.as_tensor()),
    );
    let y = x
        .as_tensor()
        .layer_norm(ns, wt.as_ref(), bt.as_ref(), 1e-5)
        .unwrap();
    assert_eq!(y.dtype(), dtype);
    let g = y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    close(&y, want[0], tol, "y");
    close(x.grad(&g).unwrap(), want[1], tol, "dx");
    close(w.unwrap().grad(&g).unwrap(), want[2], tol, "dw");
    if let Some(b) = b {
        close(b.grad(&g).unwrap(), want[3], tol, "db");
    }
}

#[test]
fn matches_pytorch_f64() {
    let last = [F64_LAST_Y, F64_LAST_DX, F64_LAST_DW, F64_LAST_DB];
    check(DType::F64, &[4], last, true, 1e-12);
    let two = [
        F64_TWO_DIMS_NO_BIAS_Y,
        F64_TWO_DIMS_NO_BIAS_DX,
        F64_TWO_DIMS_NO_BIAS_DW,
        &[],
    ];
    check(DType::F64, &[3, 4], two, false, 1e-12);
}

#[test]
fn matches_pytorch_f32() {
    let last = [F32_LAST_Y, F32_LAST_DX, F32_LAST_DW, F32_LAST_DB];
    check(DType::F32, &[4], last, true, 1e-5);
}

/// The composed form (the rule for second order, and what LayerNorm was before the primitive).
fn composed(
    x: &Tensor,
    k: usize,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims: Vec<isize> = (1..=k).map(|i| -(i as isize)).collect();
    let mean = x.mean_dims(&dims, true)?;
    let xc = x.sub(&mean)?;
    let var = xc.sqr()?.mean_dims(&dims, true)?;
    let mut y = xc.div(&var.add_scalar(eps)?.sqrt()?)?;
    if let Some(w) = w {
        y = y.mul(w)?;
    }
    if let Some(b) = b {
        y = y.add(b)?;
    }
    Ok(y)
}

/// Rows far from 0 with a small spread: f32 input, statistics in f64, so the result is as
/// accurate as the f64 computation on the same (f32) values.
#[test]
fn f32_statistics_are_accurate_for_offset_rows() {
    let r = &mut Mt19937::new(5);
    let x = Tensor::randn(&[16, 300], DType::F64, r)
        .unwrap()
        .affine(0.01, 1e4)
        .unwrap();
    let x32 = x.to_dtype(DType::F32).unwrap();
    let want = x32
        .to_dtype(DType::F64)
        .unwrap()
        .layer_norm(&[300], None, None, 1e-5)
        .unwrap();
    let got = x32.layer_norm(&[300], None, None, 1e-5).unwrap();
    for (a, b) in got.to_vec_f64().iter().zip(want.to_vec_f64()) {
        assert!((a - b).abs() < 2e-6, "{a} vs {b}");
    }
}

/// Every combination of weight and bias, against the composed form, forward and backward.
#[test]
fn every_affine_combination_matches_the_composed_form() {
    let r = &mut Mt19937::new(9);
    for (hw, hb) in [(false, false), (true, false), (false, true), (true, true)] {
        let x = Var::new(&Tensor::randn(&[3, 2, 5], DType::F64, r).unwrap());
        let w = Var::new(&Tensor::randn(&[2, 5], DType::F64, r).unwrap());
        let b = Var::new(&Tensor::randn(&[2, 5], DType::F64, r).unwrap());
        let c = Tensor::randn(&[3, 2, 5], DType::F64, r).unwrap();
        let (wt, bt) = (w.as_tensor(), b.as_tensor());
        let (wo, bo) = (hw.then_some(&wt), hb.then_some(&bt));
        let f = x.as_tensor().layer_norm(&[2, 5], wo, bo, 1e-3).unwrap();
        let r_ = composed(&x.as_tensor(), 2, wo, bo, 1e-3).unwrap();
        close(&f, &r_.to_vec_f64(), 1e-12, "y");
        let gf = f.mul(&c).unwrap().sum().unwrap().backward().unwrap();
        let gr = r_.mul(&c).unwrap().sum().unwrap().backward().unwrap();
        let mut vars = vec![&x];
        if hw {
            vars.push(&w);
        }
        if hb {
            vars.push(&b);
        }
        for v in vars {
            close(
                v.grad(&gf).unwrap(),
                &v.grad(&gr).unwrap().to_vec_f64(),
                1e-12,
                "grad",
            );
        }
        assert!(!hw || w.grad(&gf).is_some());
    }
}

/// Gradients of gradients (create_graph) equal the composed form's.
#[test]
fn second_order_matches_the_composed_form() {
    let r = &mut Mt19937::new(11);
    let x = Var::new(&Tensor::randn(&[4, 6], DType::F64, r).unwrap());
    let w = Var::new(&Tensor::randn(&[6], DType::F64, r).unwrap());
    let b = Var::new(&Tensor::randn(&[6], DType::F64, r).unwrap());
    let c = Tensor::randn(&[4, 6], DType::F64, r).unwrap();
    let second = |fused: bool| {
        let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
        let y = if fused {
            xt.layer_norm(&[6], Some(&wt), Some(&bt), 1e-5).unwrap()
        } else {
            composed(&xt, 1, Some(&wt), Some(&bt), 1e-5).unwrap()
        };
        let g = y
            .mul(&c)
            .unwrap()
            .sum()
            .unwrap()
            .backward_with(None, true)
            .unwrap();
        let (gx, gw) = (x.grad(&g).unwrap(), w.grad(&g).unwrap());
        let s = gx
            .sqr()
            .unwrap()
            .sum()
            .unwrap()
            .add(&gw.sqr().unwrap().sum().unwrap())
            .unwrap();
        let g2 = s.backward().unwrap();
        (
            x.grad(&g2).unwrap().to_vec_f64(),
            w.grad(&g2).unwrap().to_vec_f64(),
        )
    };
    let (f, r_) = (second(true), second(false));
    for (a, b) in f.0.iter().zip(&r_.0).chain(f.1.iter().zip(&r_.1)) {
        assert!((a - b).abs() < 1e-10, "{a} vs {b}");
    }
}

/// Large enough to be split across threads (rows and blocks of the parameter sums): the
/// same bits on 1, 2 and 3 threads.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    for dtype in [DType::F32, DType::F64] {
        let work = || {
            let r = &mut Mt19937::new(3);
            let x = Var::new(&Tensor::randn(&[777, 96], dtype, r).unwrap());
            let w = Var::new(&Tensor::randn(&[96], dtype, r).unwrap());
            let b = Var::new(&Tensor::randn(&[96], dtype, r).unwrap());
            let c = Tensor::randn(&[777, 96], dtype, r).unwrap();
            let (wt, bt) = (w.as_tensor(), b.as_tensor());
            let y = x
                .as_tensor()
                .layer_norm(&[96], Some(&wt), Some(&bt), 1e-5)
                .unwrap();
            let g = y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
            [
                bits(&y),
                bits(x.grad(&g).unwrap()),
                bits(w.grad(&g).unwrap()),
                bits(b.grad(&g).unwrap()),
            ]
        };
        let one = on_threads(1, work);
        for n in [2, 3] {
            assert!(
                one == on_threads(n, work),
                "{dtype}: 1 thread and {n} threads differ"
            );
        }
    }
}

#[test]
fn edges() {
    // empty leading dims and an empty normalized dim give empty results (as PyTorch)
    let x = Var::new(&Tensor::zeros(&[0, 4], DType::F32));
    let w = Var::new(&Tensor::ones(&[4], DType::F32));
    let y = x
        .as_tensor()
        .layer_norm(&[4], Some(&w.as_tensor()), None, 1e-5)
        .unwrap();
    assert_eq!(y.shape(), &[0, 4]);
    let g = y.sum().unwrap().backward().unwrap();
    assert_eq!(w.grad(&g).unwrap().to_vec::<f32>().unwrap(), [0.0; 4]);
    let y = Tensor::zeros(&[3, 0], DType::F64)
        .layer_norm(&[0], None, None, 1e-5)
        .unwrap();
    assert_eq!(y.shape(), &[3, 0]);
    // a constant row is 0 (its variance is 0, eps keeps it finite); one row of rank k
    let y = Tensor::full(2.5, &[2, 3], DType::F64)
        .layer_norm(&[2, 3], None, None, 1e-5)
        .unwrap();
    assert_eq!(y.to_vec_f64(), [0.0; 6]);
    // a transposed (strided) input
    let x = Tensor::randn(&[4, 3], DType::F64, &mut Mt19937::new(1)).unwrap();
    let want = x
        .t()
        .unwrap()
        .contiguous()
        .unwrap()
        .layer_norm(&[4], None, None, 1e-5)
        .unwrap();
    let got = x.t().unwrap().layer_norm(&[4], None, None, 1e-5).unwrap();
    assert_eq!(bits(&got), bits(&want));
}

#[test]
fn errors_name_the_argument() {
    let x = Tensor::ones(&[2, 3], DType::F32);
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = err(x.layer_norm(&[], None, None, 1e-5));
    assert!(
        e.contains("layer_norm") && e.contains("normalized_shape"),
        "{e}"
    );
    let e = err(x.layer_norm(&[2], None, None, 1e-5));
    assert!(
        e.contains("[2, 3]") && e.contains("normalized_shape [2]"),
        "{e}"
    );
    let e = err(x.layer_norm(&[1, 2, 3], None, None, 1e-5));
    assert!(e.contains("does not end in"), "{e}");
    let e = err(x.layer_norm(&[3], Some(&Tensor::ones(&[2], DType::F32)), None, 1e-5));
    assert!(e.contains("weight must have normalized_shape [3]"), "{e}");
    let e = err(x.layer_norm(&[3], None, Some(&Tensor::ones(&[1, 3], DType::F32)), 1e-5));
    assert!(e.contains("bias must have"), "{e}");
    let e = err(x.layer_norm(&[3], Some(&Tensor::ones(&[3], DType::F64)), None, 1e-5));
    assert!(e.contains("layer_norm"), "{e}");
    let e = err(Tensor::ones(&[2, 3], DType::I64).layer_norm(&[3], None, None, 1e-5));
    assert!(e.contains("layer_norm"), "{e}");
}

/// Forward + backward of the fused primitive against the composed form that LayerNorm used
/// before, f32, with weight and bias: `cargo test --release -p nabla-core --test layer_norm
/// -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_fused_vs_composed() {
    use std::time::Instant;
    for (rows, n) in [(12 * 64, 128), (8 * 256, 384)] {
        let r = &mut Mt19937::new(1);
        let x = Var::new(&Tensor::randn(&[rows, n], DType::F32, r).unwrap());
        let w = Var::new(&Tensor::randn(&[n], DType::F32, r).unwrap());
        let b = Var::new(&Tensor::randn(&[n], DType::F32, r).unwrap());
        let c = Tensor::randn(&[rows, n], DType::F32, r).unwrap();
        let step = |fused: bool| {
            let (xt, wt, bt) = (x.as_tensor(), w.as_tensor(), b.as_tensor());
            let y = if fused {
                xt.layer_norm(&[n], Some(&wt), Some(&bt), 1e-5).unwrap()
            } else {
                composed(&xt, 1, Some(&wt), Some(&bt), 1e-5).unwrap()
            };
            y.mul(&c).unwrap().sum().unwrap().backward().unwrap()
        };
        for fused in [false, true] {
            for _ in 0..5 {
                step(fused);
            }
            let reps = 50;
            let mut best = f64::INFINITY;
            let mut total = 0.0;
            for _ in 0..reps {
                let t = Instant::now();
                step(fused);
                let s = t.elapsed().as_secs_f64();
                best = best.min(s);
                total += s;
            }
            println!(
                "[{rows}, {n}] {}: mean {:.1} us, best {:.1} us (forward+backward, incl. y*c sum)",
                if fused { "fused   " } else { "composed" },
                total / reps as f64 * 1e6,
                best * 1e6
            );
        }
    }
}
