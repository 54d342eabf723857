//! Rough timings of the MNIST CNN's layers (PyTorch's example net, batch 64), for guidance
//! only: `cargo run -p nabla-core --release --example conv_timing` (set RAYON_NUM_THREADS to
//! choose the thread count). Prints GFLOP/s of conv2d forward, input gradient and weight
//! gradient next to a plain batched matmul of the same shape.

use nabla_core::{Conv2dOptions, DType, MaxPool2dOptions, Mt19937, Result, Tensor, Var};
use std::time::Instant;

/// Repetitions of each timing (the best is kept).
const REPS: usize = 30;

/// Best-of-`reps` seconds of `f`.
fn time(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn layer(name: &str, xs: [usize; 4], ws: [usize; 4], pad: usize, r: &mut Mt19937) -> Result<()> {
    let x = Tensor::randn(&xs, DType::F32, r)?;
    let w = Tensor::randn(&ws, DType::F32, r)?;
    let o = Conv2dOptions::default().with_padding(pad, pad);
    let y = x.conv2d(&w, None, o)?;
    let p = y.shape()[2] * y.shape()[3];
    let flops = 2.0 * (xs[0] * ws[0] * p * ws[1] * ws[2] * ws[3]) as f64;
    let g = Tensor::randn(y.shape(), DType::F32, r)?;
    let fwd = time(REPS, || x.conv2d(&w, None, o).map(drop))?;
    // input gradient only: x a var, w a constant
    let xv = Var::new(&x);
    let dx = time(REPS, || {
        let y = xv.as_tensor().conv2d(&w, None, o)?;
        y.backward_with(Some(g.clone()), false).map(drop)
    })? - fwd;
    let wv = Var::new(&w);
    let dw = time(REPS, || {
        let y = x.conv2d(&wv.as_tensor(), None, o)?;
        y.backward_with(Some(g.clone()), false).map(drop)
    })? - fwd;
    let b = Var::new(&Tensor::randn(&[ws[0]], DType::F32, r)?);
    let db = time(REPS, || {
        let y = x.conv2d(&w, Some(&b.as_tensor()), o)?;
        y.backward_with(Some(g.clone()), false).map(drop)
    })? - fwd;
    let bt = b.as_tensor();
    let fwd_b = time(REPS, || x.conv2d(&w, Some(&bt), o).map(drop))?;
    let gf = |s: f64| flops / s / 1e9;
    println!(
        "{name}: forward {:.2} ms ({:.1} GFLOP/s), input grad {:.2} ms ({:.1}), weight grad {:.2} ms ({:.1}), bias (add and grad) {:.2} ms, forward with bias {:.2} ms",
        fwd * 1e3,
        gf(fwd),
        dx * 1e3,
        gf(dx),
        dw * 1e3,
        gf(dw),
        db * 1e3,
        fwd_b * 1e3
    );
    // the same product as a batched matmul: w [O, K] x col [N, K, P]
    let k = ws[1] * ws[2] * ws[3];
    let wm = Tensor::randn(&[ws[0], k], DType::F32, r)?;
    let col = Tensor::randn(&[xs[0], k, p], DType::F32, r)?;
    let mm = time(REPS, || wm.matmul(&col).map(drop))?;
    println!(
        "  matmul [{}, {k}] x [{}, {k}, {p}]: {:.2} ms ({:.1} GFLOP/s)",
        ws[0],
        xs[0],
        mm * 1e3,
        gf(mm)
    );
    Ok(())
}

fn main() -> Result<()> {
    println!("threads: {}", nabla_core::parallel::threads());
    let r = &mut Mt19937::new(1);
    layer(
        "conv 1->32 3x3 on 28x28",
        [64, 1, 28, 28],
        [32, 1, 3, 3],
        0,
        r,
    )?;
    layer(
        "conv 32->64 3x3 on 26x26",
        [64, 32, 26, 26],
        [64, 32, 3, 3],
        0,
        r,
    )?;
    // LeNet-5 (W4)
    layer(
        "conv 1->6 5x5 pad 2 on 28x28",
        [64, 1, 28, 28],
        [6, 1, 5, 5],
        2,
        r,
    )?;
    layer(
        "conv 6->16 5x5 on 14x14",
        [64, 6, 14, 14],
        [16, 6, 5, 5],
        0,
        r,
    )?;
    let a = Tensor::randn(&[64, 64, 24, 24], DType::F32, r)?;
    let relu = time(REPS, || a.relu().map(drop))?;
    let pool = time(REPS, || a.max_pool2d(MaxPool2dOptions::new(2, 2)).map(drop))?;
    let av = Var::new(&a);
    let gp = Tensor::randn(&[64, 64, 12, 12], DType::F32, r)?;
    let pool_bw = time(REPS, || {
        let p = av.as_tensor().max_pool2d(MaxPool2dOptions::new(2, 2))?;
        p.backward_with(Some(gp.clone()), false).map(drop)
    })? - pool;
    let b = Tensor::randn(&[64, 64, 24, 24], DType::F32, r)?;
    let mul = time(REPS, || a.mul(&b).map(drop))?;
    let sum = time(REPS, || a.sum().map(drop))?;
    let s23 = time(REPS, || a.sum_dims(&[2, 3], false).map(drop))?;
    let s230 = time(REPS, || {
        a.sum_dims(&[2, 3], false)?.sum_dims(&[0], false).map(drop)
    })?;
    println!(
        "sum_dims [2,3] {:.3} ms, then [0] {:.3} ms",
        s23 * 1e3,
        s230 * 1e3
    );
    let mulsum_bw = time(REPS, || av.as_tensor().mul(&b)?.sum()?.backward().map(drop))?;
    println!(
        "mul {:.2} ms, sum {:.2} ms, mul+sum+backward {:.2} ms",
        mul * 1e3,
        sum * 1e3,
        mulsum_bw * 1e3
    );
    println!(
        "relu [64, 64, 24, 24]: {:.2} ms; max_pool2d 2x2: {:.2} ms, its backward {:.2} ms",
        relu * 1e3,
        pool * 1e3,
        pool_bw * 1e3
    );
    Ok(())
}
