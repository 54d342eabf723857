//! The recurrent scan ops (`rnn_scan`, `lstm_scan`, `gru_scan`): values against PyTorch and
//! every operand that does not fit as an `Err` naming the op and the shapes.

use nabla_core::{DType, Mt19937, RnnNonlinearity, Tensor, Var};

mod common;
use common::{bits, on_threads};

fn z(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F64)
}

fn err(r: nabla_core::Result<Tensor>) -> String {
    r.expect_err("expected an error").to_string()
}

/// An LSTM scan's operands as variables: `first` (gx or a table), `w_hh` `[4H, H]`, `b_hh`,
/// `h0` and `c0` `[n, H]`, random and scaled by 0.3.
fn lstm_vars(dtype: DType, first: &[usize], n: usize, h: usize, r: &mut Mt19937) -> [Var; 5] {
    let mut mk =
        |s: &[usize]| Var::new(&Tensor::randn(s, dtype, r).unwrap().mul_scalar(0.3).unwrap());
    [
        mk(first),
        mk(&[4 * h, h]),
        mk(&[4 * h]),
        mk(&[n, h]),
        mk(&[n, h]),
    ]
}

/// The bits of `y` and of every variable's gradient under the loss `sum(y * wy)`.
fn bits_and_grads(y: &Tensor, wy: &Tensor, vars: &[Var]) -> Vec<Vec<u64>> {
    let g = y.mul(wy).unwrap().sum().unwrap().backward().unwrap();
    let mut out = vec![bits(y)];
    out.extend(vars.iter().map(|v| bits(v.grad(&g).unwrap())));
    out
}

/// In f32 unit mode (9 rows), f32 row mode (35 rows) and f64 unit mode, both directions:
/// `run(dtype, n, reverse, rng)` (the rng seeded with `seed` afresh each time) gives the bits
/// of an op's results and of a reference's, which must be equal item by item.
fn for_each_mode_bitwise(
    seed: u32,
    run: impl Fn(DType, usize, bool, &mut Mt19937) -> (Vec<Vec<u64>>, Vec<Vec<u64>>),
) {
    for (dtype, n) in [(DType::F32, 9), (DType::F32, 35), (DType::F64, 9)] {
        for reverse in [false, true] {
            let (got, want) = run(dtype, n, reverse, &mut Mt19937::new(seed));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    a == b,
                    "{dtype:?} n={n} reverse={reverse}: item {i} differs"
                );
            }
        }
    }
}

#[test]
fn lstm_scan_rejects_shapes_that_do_not_fit() {
    // T = 3, N = 2, H = 4: gx [3, 2, 16], w_hh [16, 4], b_hh [16], h0 = c0 = [2, 4]
    let (gx, w, b, h) = (z(&[3, 2, 16]), z(&[16, 4]), z(&[16]), z(&[2, 4]));
    assert!(gx.lstm_scan(&w, Some(&b), &h, &h, false).is_ok());
    let cases = [
        (
            err(z(&[3, 2, 12]).lstm_scan(&w, Some(&b), &h, &h, false)),
            "gx [3, 2, 12]",
        ),
        (
            err(z(&[6, 16]).lstm_scan(&w, Some(&b), &h, &h, false)),
            "gx [6, 16]",
        ),
        (
            err(gx.lstm_scan(&z(&[12, 4]), Some(&b), &h, &h, false)),
            "w_hh [12, 4]",
        ),
        (
            err(gx.lstm_scan(&z(&[16]), Some(&b), &h, &h, false)),
            "w_hh [16]",
        ),
        (
            err(gx.lstm_scan(&w, Some(&z(&[4])), &h, &h, false)),
            "b_hh [4]",
        ),
        (
            err(gx.lstm_scan(&w, Some(&b), &z(&[3, 4]), &h, false)),
            "h0 [3, 4]",
        ),
        (
            err(gx.lstm_scan(&w, Some(&b), &h, &z(&[2, 5]), false)),
            "c0 [2, 5]",
        ),
    ];
    for (e, part) in cases {
        assert!(
            e.contains("lstm_scan") && e.contains(part),
            "{e:?} lacks {part:?}"
        );
    }
}

#[test]
fn gru_and_rnn_scans_reject_shapes_that_do_not_fit() {
    let h = z(&[2, 4]);
    let e = err(z(&[3, 2, 16]).gru_scan(&z(&[16, 4]), None, &h, false));
    assert!(e.contains("gru_scan") && e.contains("w_hh [16, 4]"), "{e}");
    let e = err(z(&[3, 2, 8]).gru_scan(&z(&[12, 4]), None, &h, true));
    assert!(e.contains("gru_scan") && e.contains("gx [3, 2, 8]"), "{e}");
    let e =
        err(z(&[3, 2, 4]).rnn_scan(&z(&[4, 4]), None, &z(&[1, 4]), RnnNonlinearity::Relu, false));
    assert!(e.contains("rnn_scan") && e.contains("h0 [1, 4]"), "{e}");
}

#[test]
fn scans_reject_mixed_and_integer_dtypes() {
    let (gx, w, h) = (z(&[1, 1, 2]), z(&[2, 2]), z(&[1, 2]));
    let e = err(gx.rnn_scan(
        &w.to_dtype(DType::F32).unwrap(),
        None,
        &h,
        RnnNonlinearity::Tanh,
        false,
    ));
    assert!(e.contains("rnn_scan") && e.contains("f32"), "{e}");
    let i = |t: &Tensor| t.to_dtype(DType::I64).unwrap();
    let e = err(i(&gx).rnn_scan(&i(&w), None, &i(&h), RnnNonlinearity::Tanh, false));
    assert!(e.contains("rnn_scan") && e.contains("float"), "{e}");
}

/// One LSTM step against PyTorch:
/// ```python
/// import torch
/// gx = torch.tensor([[[0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8]]], dtype=torch.float64)
/// w = torch.tensor([[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6], [0.7, 0.8],
///                   [-0.1, 0.2], [0.3, -0.4], [0.5, 0.6], [-0.7, 0.8]], dtype=torch.float64)
/// h0 = torch.tensor([[0.5, -1.0]], dtype=torch.float64); c0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
/// a = gx[0] + h0 @ w.T
/// i, f, g, o = a.chunk(4, 1)
/// c = f.sigmoid() * c0 + i.sigmoid() * g.tanh(); h = o.sigmoid() * c.tanh()
/// print(h.tolist(), c.tolist())  # same as torch.nn.LSTMCell with these weights, zero biases
/// ```
#[test]
fn lstm_scan_matches_pytorch_on_one_step() {
    let gx = Tensor::from_vec(
        vec![0.1f64, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8],
        &[1, 1, 8],
    )
    .unwrap();
    let w = Tensor::from_vec(
        vec![
            0.1f64, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.1, 0.2, 0.3, -0.4, 0.5, 0.6, -0.7, 0.8,
        ],
        &[8, 2],
    )
    .unwrap();
    let h0 = Tensor::from_vec(vec![0.5f64, -1.0], &[1, 2]).unwrap();
    let c0 = Tensor::from_vec(vec![1.0f64, 2.0], &[1, 2]).unwrap();
    let y = gx
        .lstm_scan(&w, None, &h0, &c0, false)
        .unwrap()
        .to_vec_f64();
    // [h, c] printed by the snippet above
    let want = [
        0.41407724093386383,
        0.3074822903479298,
        0.878909402520524,
        0.9589774961905088,
    ];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{y:?} vs {want:?}");
    }
}

/// The scans split their unit blocks (unit mode) or their batch rows (row mode) across
/// threads; every block and row is computed the same way whichever thread runs it and
/// whatever rows share its call, so outputs and gradients are bitwise equal for 1, 2 and 3
/// threads (sizes large enough to split: 3 blocks of 64 units and a short one; a batch of 9
/// rows, too small for row mode, and one of 35, split into lanes of 8 and 9 rows).
#[test]
fn scans_are_bitwise_identical_for_any_thread_count() {
    let work = |dtype: DType, n: usize| {
        let r = &mut Mt19937::new(5);
        let (t, h) = (5, 200);
        let mut out = Vec::new();
        for (g, kind) in [(4, 0), (3, 1), (1, 2)] {
            let mk = |s: &[usize], r: &mut Mt19937| {
                Var::new(&Tensor::randn(s, dtype, r).unwrap().mul_scalar(0.3).unwrap())
            };
            let (gx, w, b) = (mk(&[t, n, g * h], r), mk(&[g * h, h], r), mk(&[g * h], r));
            let (h0, c0) = (mk(&[n, h], r), mk(&[n, h], r));
            let y = match kind {
                0 => gx.as_tensor().lstm_scan(
                    &w.as_tensor(),
                    Some(&b.as_tensor()),
                    &h0.as_tensor(),
                    &c0.as_tensor(),
                    false,
                ),
                1 => gx.as_tensor().gru_scan(
                    &w.as_tensor(),
                    Some(&b.as_tensor()),
                    &h0.as_tensor(),
                    true,
                ),
                _ => gx.as_tensor().rnn_scan(
                    &w.as_tensor(),
                    Some(&b.as_tensor()),
                    &h0.as_tensor(),
                    RnnNonlinearity::Tanh,
                    false,
                ),
            }
            .unwrap();
            let wy = Tensor::randn(y.shape(), dtype, r).unwrap();
            let grads = y.mul(&wy).unwrap().sum().unwrap().backward().unwrap();
            out.push(bits(&y));
            for v in [&gx, &w, &b, &h0] {
                out.push(bits(v.grad(&grads).unwrap()));
            }
            if kind == 0 {
                out.push(bits(c0.grad(&grads).unwrap()));
            }
        }
        out
    };
    for (dtype, n) in [
        (DType::F32, 9),
        (DType::F32, 35),
        (DType::F64, 9),
        (DType::F64, 35),
    ] {
        let run = |k: usize| on_threads(k, || work(dtype, n));
        let one = run(1);
        for k in [2, 3] {
            assert!(
                one == run(k),
                "{dtype} batch {n}: 1 thread and {k} threads differ"
            );
        }
    }
}

/// `lstm_scan_h` is the h half of `lstm_scan`, bitwise, and so are its gradients (the full
/// version's c half gets a zero gradient through `narrow`; the h-only one reads zeros for it
/// in its rule), in f32 and f64, both directions, in unit mode (9 rows) and row mode (35).
#[test]
fn lstm_scan_h_is_the_h_half_of_lstm_scan_bitwise() {
    for_each_mode_bitwise(11, |dtype, n, reverse, r| {
        let (t, h) = (4, 70);
        let vars = lstm_vars(dtype, &[t, n, 4 * h], n, h, r);
        let x: Vec<Tensor> = vars.iter().map(Var::as_tensor).collect();
        let wy = Tensor::randn(&[t, n, h], dtype, r).unwrap();
        let run = |h_only: bool| {
            let y = if h_only {
                x[0].lstm_scan_h(&x[1], Some(&x[2]), &x[3], &x[4], reverse)
            } else {
                x[0].lstm_scan(&x[1], Some(&x[2]), &x[3], &x[4], reverse)
                    .and_then(|y| y.narrow(0, 0, 1)?.reshape(&[t, n, h]))
            }
            .unwrap();
            bits_and_grads(&y, &wy, &vars)
        };
        (run(true), run(false))
    });
}

/// `lstm_scan_rows` is `index_select` then `lstm_scan_h`, bitwise, values and gradients
/// (the table's included: the picked rows' gradients summed per row), in f32 and f64, both
/// directions, in unit mode (9 rows) and row mode (35), with repeated and unused rows.
#[test]
fn lstm_scan_rows_is_index_select_then_the_scan_bitwise() {
    for_each_mode_bitwise(12, |dtype, n, reverse, r| {
        let (t, h, v) = (4, 70, 7);
        let vars = lstm_vars(dtype, &[v, 4 * h], n, h, r);
        // rows 0..5 only (5 and 6 unused), repeats within a step
        let ids: Vec<i64> = (0..t * n).map(|i| (i * i % 5) as i64).collect();
        let idx = Tensor::from_vec(ids, &[t, n]).unwrap();
        let x: Vec<Tensor> = vars.iter().map(Var::as_tensor).collect();
        let wy = Tensor::randn(&[t, n, h], dtype, r).unwrap();
        let run = |fused: bool| {
            let y = if fused {
                x[0].lstm_scan_rows(&idx, &x[1], Some(&x[2]), &x[3], &x[4], reverse)
            } else {
                x[0].index_select(0, &idx.reshape(&[t * n]).unwrap())
                    .and_then(|gx| gx.reshape(&[t, n, 4 * h]))
                    .and_then(|gx| gx.lstm_scan_h(&x[1], Some(&x[2]), &x[3], &x[4], reverse))
            }
            .unwrap();
            bits_and_grads(&y, &wy, &vars)
        };
        (run(true), run(false))
    });
}

#[test]
fn lstm_scan_rows_rejects_bad_tables_and_indices() {
    let (w, b, h) = (z(&[16, 4]), z(&[16]), z(&[2, 4]));
    let ok = |ids: Vec<i64>, s: &[usize]| Tensor::from_vec(ids, s).unwrap();
    let idx = ok(vec![0, 1, 2, 0, 1, 2], &[3, 2]);
    assert!(z(&[3, 16])
        .lstm_scan_rows(&idx, &w, Some(&b), &h, &h, false)
        .is_ok());
    for (what, got) in [
        (
            "table [3, 2, 16]",
            err(z(&[3, 2, 16]).lstm_scan_rows(&idx, &w, Some(&b), &h, &h, false)),
        ),
        (
            "idx [6]",
            err(z(&[3, 16]).lstm_scan_rows(&ok(vec![0; 6], &[6]), &w, Some(&b), &h, &h, false)),
        ),
        (
            "index 3 out of range",
            err(z(&[3, 16]).lstm_scan_rows(
                &ok(vec![0, 1, 3, 0, 1, 2], &[3, 2]),
                &w,
                Some(&b),
                &h,
                &h,
                false,
            )),
        ),
        (
            "index -1 out of range",
            err(z(&[3, 16]).lstm_scan_rows(
                &ok(vec![0, 1, -1, 0, 1, 2], &[3, 2]),
                &w,
                Some(&b),
                &h,
                &h,
                false,
            )),
        ),
        (
            "gx must be [T, N, 16]",
            err(z(&[3, 12]).lstm_scan_rows(&idx, &w, Some(&b), &h, &h, false)),
        ),
        (
            "indices must be i64",
            err(z(&[3, 16]).lstm_scan_rows(&z(&[3, 2]), &w, Some(&b), &h, &h, false)),
        ),
        (
            "h0 must be [N, H] = [2, 4]",
            err(z(&[3, 16]).lstm_scan_rows(&ok(vec![0; 9], &[3, 3]), &w, Some(&b), &h, &h, false)),
        ),
    ] {
        assert!(got.contains("lstm_scan"), "{what}: {got}");
        let key = what.split_once(' ').map_or(what, |(a, _)| a);
        assert!(got.contains(key), "{what}: {got}");
    }
}

/// A scan of no steps: an empty output, zero gradients for the weights, the initial state's
/// gradient zero too (in either direction).
#[test]
fn scans_of_no_steps_have_zero_gradients() {
    for reverse in [false, true] {
        let vars = [
            z(&[0, 2, 16]),
            z(&[16, 4]),
            z(&[16]),
            z(&[2, 4]),
            z(&[2, 4]),
        ]
        .map(|t| Var::new(&t));
        let x: Vec<Tensor> = vars.iter().map(Var::as_tensor).collect();
        let y = x[0]
            .lstm_scan_h(&x[1], Some(&x[2]), &x[3], &x[4], reverse)
            .unwrap();
        assert_eq!(y.shape(), [0, 2, 4]);
        let g = y
            .sum()
            .unwrap()
            .add(&x[3].sum().unwrap())
            .unwrap()
            .backward()
            .unwrap();
        for (i, v) in vars.iter().enumerate() {
            let want = if i == 3 { 1.0 } else { 0.0 };
            assert!(
                v.grad(&g).unwrap().to_vec_f64().iter().all(|&e| e == want),
                "input {i}, reverse {reverse}"
            );
        }
    }
}
