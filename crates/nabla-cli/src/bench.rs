//! `nabla bench`: the workloads of `shared/peers/WORKLOADS.md`, measured with the peer scripts'
//! rules (20 warm-up steps, then per-step wall time until ≥ 200 steps and ≥ 1 s, or ≥ 5 s with
//! at least 20 steps; the median is reported).

use clap::Args;
use nabla::core::{DType, Mt19937, Result, Tensor, Var};
use nabla::demo::xor::{self, XorOptions};
use serde_json::json;
use std::time::Instant;

/// Workloads this build implements.
const WORKLOADS: &[&str] = &["W1", "W6", "W7"];

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (W1 W6 W7); all when none are named.
    workloads: Vec<String>,
    /// Threads for the kernels (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// W1 only: the matrix sizes (default 128 256 512 1024 2048).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
}

/// Times `step` by the peers' rules; returns per-step seconds.
fn measure(mut step: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..20 {
        step()?;
    }
    let start = Instant::now();
    let mut times = Vec::new();
    loop {
        let t0 = Instant::now();
        step()?;
        let t1 = Instant::now();
        times.push((t1 - t0).as_secs_f64());
        let el = (t1 - start).as_secs_f64();
        if (times.len() >= 200 && el >= 1.0) || (el >= 5.0 && times.len() >= 20) {
            return Ok(times);
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn emit(
    workload: &str,
    params: serde_json::Value,
    threads: usize,
    times: &mut [f64],
    work: f64,
    unit: &str,
) {
    let med = median(times);
    let line = json!({
        "workload": workload,
        "params": params,
        "threads": threads,
        "median_ms": med * 1e3,
        "throughput": work / med,
        "unit": unit,
        "steps": times.len(),
    });
    println!("{line}");
}

fn w1(threads: usize, sizes: &[usize]) -> Result<()> {
    let mut rng = Mt19937::new(0);
    for &n in sizes {
        let a = Tensor::randn(&[n, n], DType::F32, &mut rng)?;
        let b = Tensor::randn(&[n, n], DType::F32, &mut rng)?;
        let mut t = measure(|| a.matmul(&b).map(drop))?;
        emit(
            "W1",
            json!({"n": n}),
            threads,
            &mut t,
            2.0 * (n as f64).powi(3) / 1e9,
            "GFLOP/s",
        );
    }
    Ok(())
}

fn w6(threads: usize) -> Result<()> {
    let mut rng = Mt19937::new(0);
    let w = Var::new(&Tensor::randn(&[4], DType::F32, &mut rng)?);
    let b = Var::new(&Tensor::randn(&[4], DType::F32, &mut rng)?);
    let x = Tensor::randn(&[4], DType::F32, &mut rng)?;
    let mut t = measure(|| {
        let loss = w.as_tensor().mul(&x)?.add(&b.as_tensor())?.tanh()?.sum()?;
        let g = loss.backward()?;
        debug_assert!(w.grad(&g).is_some() && b.grad(&g).is_some());
        Ok(())
    })?;
    emit("W6", json!({"size": 4}), threads, &mut t, 1.0, "graphs/s");
    Ok(())
}

fn w7(threads: usize) -> Result<()> {
    let opts = XorOptions::default();
    xor::run(&opts)?; // warm-up
    let mut times = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        let r = xor::run(&opts)?;
        times.push(t0.elapsed().as_secs_f64());
        drop(r);
    }
    emit(
        "W7",
        json!({"iterations": opts.iterations}),
        threads,
        &mut times,
        opts.iterations as f64,
        "iterations/s",
    );
    Ok(())
}

pub fn run(args: &BenchArgs) -> std::result::Result<(), (u8, String)> {
    let mut wanted: Vec<String> = args.workloads.iter().map(|w| w.to_uppercase()).collect();
    for w in &wanted {
        if !WORKLOADS.contains(&w.as_str()) {
            return Err((
                2,
                format!(
                    "unknown workload '{w}' (this build has {})",
                    WORKLOADS.join(", ")
                ),
            ));
        }
    }
    if wanted.is_empty() {
        wanted = WORKLOADS.iter().map(|s| s.to_string()).collect();
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err((2, "--threads must be at least 1".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| (1, format!("cannot start {threads} threads: {e}")))?;
    let sizes = args
        .sizes
        .clone()
        .unwrap_or_else(|| vec![128, 256, 512, 1024, 2048]);
    pool.install(|| -> Result<()> {
        for w in &wanted {
            match w.as_str() {
                "W1" => w1(threads, &sizes)?,
                "W6" => w6(threads)?,
                "W7" => w7(threads)?,
                _ => {}
            }
        }
        Ok(())
    })
    .map_err(|e| (1, e.to_string()))
}
