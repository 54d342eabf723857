//! The fused scans (forward and backward) against the step-by-step reference.

use super::*;
use crate::backprop::no_grad;
use crate::dtype::DType;
use crate::rng::Mt19937;
use crate::var::Var;

fn inputs(cell: Cell, t: usize, n: usize, h: usize, seed: u32) -> Vec<Tensor> {
    let r = &mut Mt19937::new(seed);
    let g = cell.gates();
    let mut v = vec![
        Tensor::randn(&[t, n, g * h], DType::F64, r).unwrap(),
        Tensor::randn(&[g * h, h], DType::F64, r)
            .unwrap()
            .mul_scalar(0.5)
            .unwrap(),
        Tensor::randn(&[g * h], DType::F64, r).unwrap(),
        Tensor::randn(&[n, h], DType::F64, r).unwrap(),
    ];
    if cell == Cell::Lstm {
        v.push(Tensor::randn(&[n, h], DType::F64, r).unwrap());
    }
    v
}

fn run(cell: Cell, reverse: bool, x: &[Tensor]) -> Result<Tensor> {
    match cell {
        Cell::Tanh | Cell::Relu => {
            let nl = if cell == Cell::Relu {
                RnnNonlinearity::Relu
            } else {
                RnnNonlinearity::Tanh
            };
            x[0].rnn_scan(&x[1], Some(&x[2]), &x[3], nl, reverse)
        }
        Cell::Lstm => x[0].lstm_scan(&x[1], Some(&x[2]), &x[3], &x[4], reverse),
        Cell::Gru => x[0].gru_scan(&x[1], Some(&x[2]), &x[3], reverse),
    }
}

/// Equal to 1e-12 of the larger of 1 and the tensor's largest magnitude: the relu RNN's
/// states grow several-fold per step here, and a weight gradient sums their products in
/// the products' own order (a few ulp of the largest terms, not of a small result).
fn close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    let want = b.to_vec_f64();
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (x, y) in a.to_vec_f64().iter().zip(want) {
        assert!((x - y).abs() <= 1e-12 * scale, "{what}: {x} vs {y}");
    }
}

/// The fused scan's output and input gradients at `x` and the step-by-step reference's at
/// `x_ref` (f64), both under `w · y` summed as the loss: `(y, grads, want_y, want)`.
fn fast_and_reference(
    cell: Cell,
    reverse: bool,
    x: &[Tensor],
    x_ref: &[Tensor],
    w: &Tensor,
) -> (Tensor, Vec<Tensor>, Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = x.iter().map(Var::new).collect();
    let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let y = run(cell, reverse, &xs).unwrap();
    let wy = w.to_dtype(y.dtype()).unwrap();
    let grads = y.mul(&wy).unwrap().sum().unwrap().backward().unwrap();
    let got = vars
        .iter()
        .map(|v| v.grad(&grads).unwrap().clone())
        .collect();
    let st = reference::forward(cell, reverse, x_ref).unwrap();
    let want_y = reference::output(cell, &st).unwrap();
    let want = {
        let _g = no_grad();
        reference::backward(cell, reverse, x_ref, w).unwrap()
    };
    assert_eq!(want.len(), x.len(), "a reference gradient for every input");
    let want = want.into_iter().map(|g| g.unwrap()).collect();
    (y, got, want_y, want)
}

/// The fused kernels (forward and backward, large enough to split across threads) agree
/// with the step-by-step tensor-op reference.
#[test]
fn fused_kernels_match_the_reference() {
    for cell in [Cell::Tanh, Cell::Relu, Cell::Lstm, Cell::Gru] {
        for reverse in [false, true] {
            // large enough that the products and the gate passes split across threads
            let x = inputs(cell, 4, 33, 250, 3);
            let shape = run(cell, reverse, &x).unwrap().shape().to_vec();
            let w = Tensor::randn(&shape, DType::F64, &mut Mt19937::new(9)).unwrap();
            let (y, got, want_y, want) = fast_and_reference(cell, reverse, &x, &x, &w);
            close(&y, &want_y, "forward");
            for (i, (g, wg)) in got.iter().zip(&want).enumerate() {
                close(g, wg, &format!("{cell:?} grad {i}"));
            }
        }
    }
}

/// The f32 kernels (on an AVX-512 CPU the packed per-step products of `packed_panel`)
/// agree with the f64 reference to f32 precision, for ragged sizes: a batch of 33 rows
/// (tiles of 12, 12 and 9) and 250 units (a last block of 58, so panels with 8 or 24
/// columns).
#[test]
fn f32_kernels_match_the_f64_reference() {
    for cell in [Cell::Tanh, Cell::Lstm, Cell::Gru] {
        for reverse in [false, true] {
            let mut x = inputs(cell, 3, 33, 250, 4);
            // weights small enough that the gates do not saturate (where 1 - tanh² loses
            // every f32 digit whatever the kernel)
            x[1] = x[1].mul_scalar(0.1).unwrap();
            let x32: Vec<Tensor> = x.iter().map(|t| t.to_dtype(DType::F32).unwrap()).collect();
            let x64: Vec<Tensor> = x32
                .iter()
                .map(|t| t.to_dtype(DType::F64).unwrap())
                .collect();
            let shape = run(cell, reverse, &x64).unwrap().shape().to_vec();
            let w = Tensor::randn(&shape, DType::F64, &mut Mt19937::new(2)).unwrap();
            let (y, got, want_y, want) = fast_and_reference(cell, reverse, &x32, &x64, &w);
            let near = |a: &Tensor, b: &Tensor, what: &str| {
                assert_eq!(a.shape(), b.shape(), "{what}");
                for (p, q) in a.to_vec_f64().iter().zip(b.to_vec_f64()) {
                    assert!(
                        (p - q).abs() <= 2e-4 * (1.0 + q.abs()),
                        "{what}: {p} vs {q}"
                    );
                }
            };
            near(&y, &want_y, &format!("{cell:?} forward"));
            for (i, (g, wg)) in got.iter().zip(&want).enumerate() {
                near(g, wg, &format!("{cell:?} grad {i}"));
            }
        }
    }
}

#[test]
fn zero_steps_and_no_bias() {
    let x = inputs(Cell::Lstm, 0, 2, 3, 1);
    let y = x[0].lstm_scan(&x[1], None, &x[3], &x[4], false).unwrap();
    assert_eq!(y.shape(), &[2, 0, 2, 3]);
    let x = inputs(Cell::Gru, 2, 2, 3, 1);
    let with_zero = x[0]
        .gru_scan(&x[1], Some(&x[2].zeros_like()), &x[3], true)
        .unwrap();
    let none = x[0].gru_scan(&x[1], None, &x[3], true).unwrap();
    close(&none, &with_zero, "no bias");
}
