//! `nabla bench`: the benchmark workloads W1-W8 (defined with the peer scripts that measure
//! PyTorch and NumPy on them), measured with the peer scripts' rules (20 warm-up steps, then per-step wall time until ≥ 200 steps and ≥ 1 s, or ≥ 5 s with
//! at least 20 steps; the median is reported).
//!
//! Under `mpirun -n K` (feature `mpi`) W2, W3, W4 and W8 run data-parallel: each rank takes
//! its slice of every batch (the same data on every rank), the gradients are averaged over
//! the ranks ([`GradAverager`]) and rank 0 prints the whole batch's throughput, with the
//! ranks and the median milliseconds per step spent in the gradients' all-reduce.

use clap::Args;
use nabla::core::{DType, Mt19937, Result, Tensor, Var};
use nabla::data::{DataLoader, Dataset, LoaderConfig};
use nabla::experiment::demo::xor::{self, XorOptions};
use nabla::nn::loss::{cross_entropy, CrossEntropyOptions};
use nabla::nn::optim::{Optimizer, Sgd};
use nabla::nn::{Activation, Conv2d, Flatten, ForwardCtx, Linear, MaxPool2d, Module, Sequential};
use nabla::train::distributed::GradAverager;
use nabla::train::Communicator;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// Workloads that run data-parallel under mpirun.
const PARALLEL: &[&str] = &["W2", "W3", "W4", "W8"];

/// A data-parallel benchmark: the ranks and the gradient averager.
struct Dp {
    comm: Arc<dyn Communicator>,
    avg: GradAverager,
    /// All-reduce seconds of each timed step.
    reduce: Vec<f64>,
}

impl Dp {
    /// This rank's rows of a batch of `n`: the range and its share `rows / n`.
    fn part(&self, n: usize) -> (std::ops::Range<usize>, f64) {
        let s = nabla::data::Shard::new(self.comm.rank(), self.comm.size()).unwrap_or_default();
        let r = s.range(n);
        let share = r.len() as f64 / n.max(1) as f64;
        (r, share)
    }
}

/// The ranks of a data-parallel benchmark, when there are several.
type Ranks<'a> = Option<&'a mut Dp>;

/// Workloads this build implements.
const WORKLOADS: &[&str] = &["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"];

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Workloads to run (W1 W2 W3 W4 W5 W6 W7 W8); all when none are named (W8 only with
    /// --data or NABLA_DATA).
    workloads: Vec<String>,
    /// Threads for the kernels (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// W1 only: the matrix sizes (default 128 256 512 1024 2048).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// W2 only: batch sizes (default 64 256).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    batches: Option<Vec<usize>>,
    /// W8: the MNIST folder (or NABLA_DATA).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// W2's network: Linear(784,256)-ReLU-Linear(256,128)-ReLU-Linear(128,10).
fn w2_model(rng: &mut Mt19937) -> Result<Sequential> {
    Ok(Sequential::new()
        .append(Linear::new(784, 256, rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(256, 128, rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(128, 10, rng)?))
}

/// One step of W2, W3 or W4: forward, cross-entropy, backward, SGD with momentum; with
/// ranks, on this rank's rows of the batch, averaging the gradients before the update.
fn w2_step(
    m: &Sequential,
    opt: &mut Sgd,
    x: &Tensor,
    y: &Tensor,
    rng: &mut Mt19937,
    dp: Ranks,
) -> Result<f64> {
    let (x, y, share) = match &dp {
        Some(d) => {
            let (r, share) = d.part(x.shape()[0]);
            (
                x.narrow(0, r.start, r.len())?,
                y.narrow(0, r.start, r.len())?,
                share,
            )
        }
        None => (x.clone(), y.clone(), 1.0),
    };
    let out = m.forward(&x, &mut ForwardCtx::train(rng))?;
    let loss = cross_entropy(&out, &y, CrossEntropyOptions::default())?;
    let mut g = loss.backward()?;
    let l = loss.to_scalar()?;
    // drop the graph first: the optimizer then updates the parameters in place
    drop((loss, out));
    if let Some(d) = dp {
        let params: Vec<Var> = m.parameters().into_iter().map(|(_, v)| v).collect();
        let before = d.avg.seconds();
        d.avg
            .average(d.comm.as_ref(), &mut g, &params, share)
            .map_err(|e| nabla::core::Error::Arg {
                op: "bench",
                msg: e.to_string(),
            })?;
        d.reduce.push(d.avg.seconds() - before);
    }
    opt.step(&g)?;
    Ok(l)
}

/// W3's network (PyTorch's MNIST example without dropout).
fn w3_model(rng: &mut Mt19937) -> Result<Sequential> {
    Ok(Sequential::new()
        .append(Conv2d::new(1, 32, 3, rng)?)
        .append(Activation::ReLU)
        .append(Conv2d::new(32, 64, 3, rng)?)
        .append(Activation::ReLU)
        .append(MaxPool2d::new(2))
        .append(Flatten::default())
        .append(Linear::new(9216, 128, rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(128, 10, rng)?))
}

/// W4's network: LeNet-5 with ReLU and max pooling.
fn w4_model(rng: &mut Mt19937) -> Result<Sequential> {
    Ok(Sequential::new()
        .append(Conv2d::with_options(
            1,
            6,
            (5, 5),
            nabla::core::Conv2dOptions::default().with_padding(2, 2),
            true,
            rng,
        )?)
        .append(Activation::ReLU)
        .append(MaxPool2d::new(2))
        .append(Conv2d::new(6, 16, 5, rng)?)
        .append(Activation::ReLU)
        .append(MaxPool2d::new(2))
        .append(Flatten::default())
        .append(Linear::new(400, 120, rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(120, 84, rng)?)
        .append(Activation::ReLU)
        .append(Linear::new(84, 10, rng)?))
}

/// W3 or W4: a train step (SGD 0.01, momentum 0.9) of the CNN on a batch of 64 images.
fn cnn(
    name: &str,
    threads: usize,
    model: fn(&mut Mt19937) -> Result<Sequential>,
    mut dp: Ranks,
) -> Result<()> {
    let mut rng = Mt19937::new(0);
    let m = model(&mut rng)?;
    let mut opt = Sgd::new(m.parameters(), 0.01).momentum(0.9);
    let x = Tensor::randn(&[64, 1, 28, 28], DType::F32, &mut rng)?;
    let y = Tensor::from_vec((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), &[64])?;
    let mut t = measure_dp(&mut dp, |d| {
        w2_step(&m, &mut opt, &x, &y, &mut rng, d).map(drop)
    })?;
    emit_dp(
        name,
        json!({"batch": 64}),
        threads,
        &mut t,
        64.0,
        "samples/s",
        dp,
    );
    Ok(())
}

/// W5: a char-LSTM train step (Embedding(65, 64), LSTM(64, 256), Linear(256, 65), batch 32,
/// sequence 64, cross-entropy over every position, Adam 1e-3); tokens/s.
fn w5(threads: usize) -> Result<()> {
    use nabla::nn::optim::Adam;
    use nabla::nn::{Embedding, Lstm, RnnOptions};
    let mut rng = Mt19937::new(0);
    let m = Sequential::new()
        .append(Embedding::new(65, 64, &mut rng)?)
        .append(Lstm::with_options(
            64,
            256,
            RnnOptions::default().with_batch_first(true),
            &mut rng,
        )?)
        .append(Linear::new(256, 65, &mut rng)?);
    let mut opt = Adam::new(m.parameters(), 1e-3);
    let ids = |rng: &mut Mt19937| -> Result<Tensor> {
        let v: Vec<i64> = (0..32 * 64)
            .map(|_| (rng.random() * 65.0) as i64 % 65)
            .collect();
        Tensor::from_vec(v, &[32, 64])
    };
    let (x, y) = (ids(&mut rng)?, ids(&mut rng)?);
    let y = y.reshape(&[32 * 64])?;
    let mut t = measure(|| {
        let out = m.forward(&x, &mut ForwardCtx::train(&mut rng))?;
        let loss = cross_entropy(
            &out.reshape(&[32 * 64, 65])?,
            &y,
            CrossEntropyOptions::default(),
        )?;
        let g = loss.backward()?;
        drop((loss, out));
        opt.step(&g)
    })?;
    emit(
        "W5",
        json!({"batch": 32, "seq": 64, "hidden": 256}),
        threads,
        &mut t,
        32.0 * 64.0,
        "tokens/s",
    );
    Ok(())
}

fn w2(threads: usize, batches: &[usize], mut dp: Ranks) -> Result<()> {
    for &b in batches {
        let mut rng = Mt19937::new(0);
        let m = w2_model(&mut rng)?;
        let mut opt = Sgd::new(m.parameters(), 0.01).momentum(0.9);
        let x = Tensor::randn(&[b, 784], DType::F32, &mut rng)?;
        let y = Tensor::from_vec((0..b as i64).map(|i| i % 10).collect::<Vec<_>>(), &[b])?;
        if let Some(d) = dp.as_deref_mut() {
            d.reduce.clear();
        }
        let mut t = measure_dp(&mut dp, |d| {
            w2_step(&m, &mut opt, &x, &y, &mut rng, d).map(drop)
        })?;
        emit_dp(
            "W2",
            json!({"batch": b}),
            threads,
            &mut t,
            b as f64,
            "samples/s",
            dp.as_deref_mut(),
        );
    }
    Ok(())
}

fn w8(threads: usize, dir: &std::path::Path, mut dp: Ranks) -> std::result::Result<(), String> {
    let train = nabla::data::load_mnist(dir, true)
        .and_then(|d| d.flatten())
        .map_err(|e| e.to_string())?;
    let test = nabla::data::load_mnist(dir, false)
        .and_then(|d| d.flatten())
        .map_err(|e| e.to_string())?;
    let s = |e: nabla::core::Error| e.to_string();
    let mut rng = Mt19937::new(0);
    let m = w2_model(&mut rng).map_err(s)?;
    let mut opt = Sgd::new(m.parameters(), 0.01).momentum(0.9);
    let n_train = train.len();
    let mut loader = DataLoader::new(train, LoaderConfig::new(64).with_shuffle(true).with_seed(0))
        .map_err(|e| e.to_string())?;
    if let Some(d) = dp.as_deref_mut() {
        d.reduce.clear();
        d.comm.barrier().map_err(|e| e.to_string())?;
    }
    let t0 = Instant::now();
    while let Some(b) = loader.next_batch() {
        // (every rank loads the whole batch and takes its rows in the step)
        let b = b.map_err(|e| e.to_string())?;
        w2_step(&m, &mut opt, &b.x, &b.y, &mut rng, dp.as_deref_mut()).map_err(s)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if dp.as_ref().is_some_and(|d| d.comm.rank() != 0) {
        return Ok(());
    }
    let logits = {
        let _g = nabla::core::no_grad();
        m.forward(test.x(), &mut ForwardCtx::eval()).map_err(s)?
    };
    let acc = nabla::train::metrics::accuracy(&logits, test.y()).map_err(s)?;
    let mut line = json!({"workload": "W8", "params": {"batch": 64}, "threads": threads, "median_ms": secs * 1e3,
        "throughput": n_train as f64 / secs, "unit": "samples/s", "test_accuracy": acc});
    if let Some(d) = dp {
        line["ranks"] = json!(d.comm.size());
        line["allreduce_ms"] = json!(median(&mut d.reduce) * 1e3);
    }
    println!("{line}");
    Ok(())
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

/// [`measure`] with ranks: every rank steps in lockstep, and they stop together when any
/// rank's rule says so (one all-reduce of the verdicts per step).
fn measure_dp(dp: &mut Ranks, mut step: impl FnMut(Ranks) -> Result<()>) -> Result<Vec<f64>> {
    let Some(d) = dp.as_deref_mut() else {
        return measure(|| step(None));
    };
    for _ in 0..20 {
        step(Some(&mut *d))?;
    }
    d.reduce.clear();
    let start = Instant::now();
    let mut times = Vec::new();
    loop {
        let t0 = Instant::now();
        step(Some(&mut *d))?;
        let t1 = Instant::now();
        times.push((t1 - t0).as_secs_f64());
        let el = (t1 - start).as_secs_f64();
        let done = (times.len() >= 200 && el >= 1.0) || (el >= 5.0 && times.len() >= 20);
        let mut v = [f64::from(u8::from(done))];
        d.comm
            .allreduce_sum_f64(&mut v)
            .map_err(|e| nabla::core::Error::Arg {
                op: "bench",
                msg: e.to_string(),
            })?;
        if v[0] > 0.0 {
            return Ok(times);
        }
    }
}

/// [`emit`] on rank 0, with the ranks and the median all-reduce milliseconds per step.
fn emit_dp(
    workload: &str,
    params: serde_json::Value,
    threads: usize,
    times: &mut [f64],
    work: f64,
    unit: &str,
    dp: Ranks,
) {
    let Some(d) = dp else {
        return emit(workload, params, threads, times, work, unit);
    };
    if d.comm.rank() != 0 {
        return;
    }
    let med = median(times);
    let line = json!({
        "workload": workload,
        "params": params,
        "threads": threads,
        "ranks": d.comm.size(),
        "median_ms": med * 1e3,
        "throughput": work / med,
        "unit": unit,
        "steps": times.len(),
        "allreduce_ms": median(&mut d.reduce) * 1e3,
    });
    println!("{line}");
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

/// `nabla bench`; `comm` under mpirun with several ranks, `default_threads` their share of
/// the cores.
pub fn run(
    args: &BenchArgs,
    comm: Option<Arc<dyn Communicator>>,
    default_threads: Option<usize>,
) -> std::result::Result<(), (u8, String)> {
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
    let data = args
        .data
        .clone()
        .or_else(|| std::env::var_os("NABLA_DATA").map(std::path::PathBuf::from));
    if wanted.is_empty() {
        wanted = WORKLOADS
            .iter()
            .filter(|w| **w != "W8" || data.is_some())
            .filter(|w| comm.is_none() || PARALLEL.contains(w))
            .map(|s| s.to_string())
            .collect();
    }
    if let Some(w) = wanted
        .iter()
        .find(|w| comm.is_some() && !PARALLEL.contains(&w.as_str()))
    {
        return Err((
            2,
            format!(
                "{w} runs in one process; under mpirun only {} run data-parallel",
                PARALLEL.join(", ")
            ),
        ));
    }
    let mut dp = comm.map(|comm| Dp {
        comm,
        avg: GradAverager::new(),
        reduce: Vec::new(),
    });
    let threads = args
        .threads
        .or(default_threads)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    crate::check_threads(threads)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| (1, format!("cannot start {threads} threads: {e}")))?;
    let sizes = args
        .sizes
        .clone()
        .unwrap_or_else(|| vec![128, 256, 512, 1024, 2048]);
    let batches = args.batches.clone().unwrap_or_else(|| vec![64, 256]);
    if wanted.iter().any(|w| w == "W8") && data.is_none() {
        return Err((
            2,
            "W8 needs the MNIST folder: --data DIR or NABLA_DATA".into(),
        ));
    }
    pool.install(|| -> std::result::Result<(), String> {
        let s = |e: nabla::core::Error| e.to_string();
        for w in &wanted {
            match w.as_str() {
                "W1" => w1(threads, &sizes).map_err(s)?,
                "W2" => w2(threads, &batches, dp.as_mut()).map_err(s)?,
                "W3" => cnn("W3", threads, w3_model, dp.as_mut()).map_err(s)?,
                "W4" => cnn("W4", threads, w4_model, dp.as_mut()).map_err(s)?,
                "W5" => w5(threads).map_err(s)?,
                "W6" => w6(threads).map_err(s)?,
                "W7" => w7(threads).map_err(s)?,
                "W8" => {
                    let d = data.clone().unwrap_or_default();
                    let d = if d.join("mnist").is_dir() {
                        d.join("mnist")
                    } else {
                        d
                    };
                    w8(threads, &d, dp.as_mut())?
                }
                _ => {}
            }
        }
        Ok(())
    })
    .map_err(|e| (1, e))
}
