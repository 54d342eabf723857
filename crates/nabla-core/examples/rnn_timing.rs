//! Rough timings of W5's LSTM scan (batch 32, 64 steps, hidden 256), for guidance only:
//! `cargo run -p nabla-core --release --example rnn_timing` (set RAYON_NUM_THREADS to choose
//! the thread count). Prints the best and median times of the forward scan, of its backward
//! rule with the weight gradients, and the GFLOP/s of the recurrent products in each.

use nabla_core::{DType, Mt19937, Result, Tensor, Var};
use std::time::Instant;

/// Repetitions of each timing.
const REPS: usize = 40;

/// Best and median seconds of `f` over [`REPS`] runs.
fn time(mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    f()?;
    let mut v = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Ok((v[0], v[REPS / 2]))
}

fn main() -> Result<()> {
    let (t, n, h) = (64, 32, 256);
    let mut r = Mt19937::new(0);
    let gx = Var::new(&Tensor::randn(&[t, n, 4 * h], DType::F32, &mut r)?);
    let w = Var::new(&Tensor::randn(&[4 * h, h], DType::F32, &mut r)?.mul_scalar(0.06)?);
    let b = Var::new(&Tensor::randn(&[4 * h], DType::F32, &mut r)?);
    let h0 = Tensor::zeros(&[n, h], DType::F32);
    let c0 = Tensor::zeros(&[n, h], DType::F32);
    let g = Tensor::randn(&[2, t, n, h], DType::F32, &mut r)?;
    let run = || {
        gx.as_tensor()
            .lstm_scan(&w.as_tensor(), Some(&b.as_tensor()), &h0, &c0, false)
    };
    let fwd = time(|| run().map(drop))?;
    let both = time(|| run()?.backward_with(Some(g.clone()), false).map(drop))?;
    // the recurrent products: h W_hhᵀ per step forward; dG W_hh and dW_hh backward
    let mm = 2.0 * (t * n * 4 * h * h) as f64;
    let bwd = (both.0 - fwd.0, both.1 - fwd.1);
    println!(
        "lstm_scan T={t} N={n} H={h}: forward best {:.2} ms median {:.2} ms ({:.0} GFLOP/s); backward best {:.2} ms median {:.2} ms ({:.0} GFLOP/s)",
        fwd.0 * 1e3,
        fwd.1 * 1e3,
        mm / fwd.0 / 1e9,
        bwd.0 * 1e3,
        bwd.1 * 1e3,
        2.0 * mm / bwd.0 / 1e9,
    );
    Ok(())
}
