//! The W5 workload, for measuring (not a test): a character LSTM language model step,
//! Embedding(65, 64) → LSTM(64, 256, batch_first) → Linear(256, 65), batch 32, sequence 64,
//! cross-entropy over every position, Adam lr 1e-3. Prints tokens/s (32 * 64 / step time).
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p nabla-nn --example w5_char_lstm -- [steps]`
//! (the kernels split into as many tasks as rayon's global pool has threads).

use nabla_core::{Mt19937, Result, Tensor};
use nabla_nn::loss::cross_entropy_loss;
use nabla_nn::optim::{Adam, Optimizer};
use nabla_nn::{Embedding, ForwardCtx, Linear, Lstm, Module, RnnOptions, Sequential};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let steps = args.first().copied().unwrap_or(30);
    let threads = nabla_core::parallel::threads();
    let (b, t, v) = (32usize, 64usize, 65usize);
    let mut rng = Mt19937::new(0);
    let net = Sequential::new()
        .append(Embedding::new(v, 64, &mut rng)?)
        .append(Lstm::with_options(
            64,
            256,
            RnnOptions::default().with_batch_first(true),
            &mut rng,
        )?)
        .append(Linear::new(256, v, &mut rng)?);
    let mut opt = Adam::new(net.parameters(), 1e-3);
    let ids = |rng: &mut Mt19937| {
        let d: Vec<i64> = (0..b * t).map(|_| rng.below(v as u64) as i64).collect();
        Tensor::from_vec(d, &[b, t])
    };
    let (x, y) = (ids(&mut rng)?, ids(&mut rng)?);
    let mut times = Vec::new();
    for i in 0..steps + 3 {
        let t0 = Instant::now();
        let logits = net.forward(&x, &mut ForwardCtx::eval())?;
        let loss = cross_entropy_loss(&logits.reshape(&[b * t, v])?, &y.reshape(&[b * t])?)?;
        let g = loss.backward()?;
        opt.step(&g)?;
        let dt = t0.elapsed().as_secs_f64();
        if i >= 3 {
            times.push(dt);
        }
        if i == 0 {
            eprintln!("first loss {:.4} (ln 65 = 4.174)", loss.to_scalar()?);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    println!(
        "W5 nabla threads={threads}: median step {:.2} ms, {:.0} tokens/s (min {:.2} ms, max {:.2} ms)",
        med * 1e3,
        (b * t) as f64 / med,
        times[0] * 1e3,
        times[times.len() - 1] * 1e3
    );
    Ok(())
}
