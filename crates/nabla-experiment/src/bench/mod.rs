//! The benchmark workloads W1-W8 (defined with the peer scripts that measure PyTorch and
//! NumPy on them), measured with the peer scripts' rules: 20 warm-up steps, then per-step
//! wall time until ≥ 200 steps and ≥ 1 s, or ≥ 5 s with at least 20 steps; the median is
//! reported. `nabla bench` prints each [`BenchResult`] as one JSON line.
//!
//! With a communicator of several ranks W2, W3, W4 and W8 run data-parallel: each rank takes
//! its slice of every batch (the same data on every rank), the gradients are averaged over
//! the ranks ([`GradAverager`]) and rank 0 reports the whole batch's throughput, with the
//! ranks and the median milliseconds per step spent in the gradients' all-reduce.
//!
//! ```no_run
//! use nabla_experiment::bench::{Bench, BenchOptions};
//! let opts = BenchOptions { workloads: vec!["W6".into()], threads: Some(1), ..Default::default() };
//! let mut bench = Bench::new(&opts, None)?;
//! bench.run(&mut |r| println!("{}", r.to_json()))?;
//! # Ok::<(), nabla_core::Error>(())
//! ```

mod gpt;
mod workloads;

use nabla_core::{Error, Result};
use nabla_train::distributed::{Communicator, GradAverager};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Workloads this build implements.
pub const WORKLOADS: &[&str] = &["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10"];

/// Workloads that run data-parallel over several ranks.
pub const PARALLEL: &[&str] = &["W2", "W3", "W4", "W8"];

/// The largest W1 matrix size `--sizes` takes (three 16384 x 16384 f32 matrices: 3 GiB).
pub const MAX_SIZE: usize = 16384;
/// The largest W2 batch size `--batches` takes.
pub const MAX_BATCH: usize = 65536;

/// What to measure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchOptions {
    /// Workloads to run (case-insensitive); all when empty (W8 only with a data folder;
    /// with several ranks, the data-parallel ones).
    pub workloads: Vec<String>,
    /// Threads for the kernels (`None`: every core).
    pub threads: Option<usize>,
    /// W1's matrix sizes (`None`: 128 256 512 1024 2048), each from 1 to [`MAX_SIZE`].
    pub sizes: Option<Vec<usize>>,
    /// W2's batch sizes (`None`: 64 256), each from 1 to [`MAX_BATCH`].
    pub batches: Option<Vec<usize>>,
    /// W8's MNIST folder (`None`: `NABLA_DATA`); a folder holding `mnist/` works too.
    pub data: Option<PathBuf>,
}

/// One measurement: a workload at one set of parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// `W1` ... `W8`.
    pub workload: &'static str,
    /// The workload's parameters (`n`, `batch`, `seq`, ...), in the order they are named.
    pub params: Vec<(&'static str, usize)>,
    /// Kernel threads.
    pub threads: usize,
    /// Ranks of a data-parallel measurement.
    pub ranks: Option<usize>,
    /// Median milliseconds per step (W8: the whole epoch).
    pub median_ms: f64,
    /// Work per second at the median step.
    pub throughput: f64,
    /// The unit of `throughput` (`GFLOP/s`, `samples/s`, ...).
    pub unit: &'static str,
    /// Timed steps (all but W8).
    pub steps: Option<usize>,
    /// Median milliseconds per step in the gradients' all-reduce (data-parallel).
    pub allreduce_ms: Option<f64>,
    /// W8: the test accuracy after the epoch.
    pub test_accuracy: Option<f64>,
}

impl BenchResult {
    /// The JSON object the peer scripts print for it (keys `workload`, `params`, `threads`,
    /// `median_ms`, `throughput`, `unit`, and `steps`, `ranks`, `allreduce_ms`,
    /// `test_accuracy` when set).
    pub fn to_json(&self) -> serde_json::Value {
        let mut params = serde_json::Map::new();
        for (k, v) in &self.params {
            params.insert((*k).to_string(), json!(v));
        }
        let mut line = json!({
            "workload": self.workload,
            "params": params,
            "threads": self.threads,
            "median_ms": self.median_ms,
            "throughput": self.throughput,
            "unit": self.unit,
        });
        if let Some(s) = self.steps {
            line["steps"] = json!(s);
        }
        if let Some(a) = self.test_accuracy {
            line["test_accuracy"] = json!(a);
        }
        if let Some(r) = self.ranks {
            line["ranks"] = json!(r);
        }
        if let Some(a) = self.allreduce_ms {
            line["allreduce_ms"] = json!(a);
        }
        line
    }
}

/// Refuses a thread count of 0 or far beyond the machine's cores (each thread is an OS
/// thread started at once; 100,000 of them stall the machine before any work starts).
///
/// Fails ([`Error::Config`]) naming `--threads`, the count and the limit.
pub fn check_threads(n: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = (4 * cores).max(64);
    if n == 0 {
        return Err(Error::Config("--threads must be at least 1".into()));
    }
    if n > max {
        return Err(Error::Config(format!(
            "--threads {n} is far beyond this machine's {cores} cores (at most {max})"
        )));
    }
    Ok(())
}

/// A data-parallel benchmark: the ranks and the gradient averager.
pub(crate) struct Dp {
    comm: Arc<dyn Communicator>,
    avg: GradAverager,
    /// All-reduce seconds of each timed step.
    reduce: Vec<f64>,
}

impl Dp {
    /// This rank's rows of a batch of `n`: the range and its share `rows / n`.
    fn part(&self, n: usize) -> (std::ops::Range<usize>, f64) {
        let s = nabla_data::Shard::new(self.comm.rank(), self.comm.size()).unwrap_or_default();
        let r = s.range(n);
        let share = r.len() as f64 / n.max(1) as f64;
        (r, share)
    }
}

/// The ranks of a data-parallel benchmark, when there are several.
type Ranks<'a> = Option<&'a mut Dp>;

/// Where the workloads hand their results.
type Sink<'a> = &'a mut (dyn FnMut(&BenchResult) + Send);

/// A checked set of workloads, ready to run.
pub struct Bench {
    wanted: Vec<String>,
    threads: usize,
    sizes: Vec<usize>,
    batches: Vec<usize>,
    data: Option<PathBuf>,
    dp: Option<Dp>,
}

impl Bench {
    /// Checks the request: every workload known, with several ranks (`comm`) only the
    /// data-parallel ones, the thread count sane ([`check_threads`]), a data folder for W8.
    ///
    /// Fails ([`Error::Config`]) with a one-line message when the request cannot run.
    pub fn new(opts: &BenchOptions, comm: Option<Arc<dyn Communicator>>) -> Result<Bench> {
        let mut wanted: Vec<String> = opts.workloads.iter().map(|w| w.to_uppercase()).collect();
        for w in &wanted {
            if !WORKLOADS.contains(&w.as_str()) {
                return Err(Error::Config(format!(
                    "unknown workload '{w}' (this build has {})",
                    WORKLOADS.join(", ")
                )));
            }
        }
        let data = opts
            .data
            .clone()
            .or_else(|| std::env::var_os("NABLA_DATA").map(PathBuf::from));
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
            return Err(Error::Config(format!(
                "{w} runs in one process; under mpirun only {} run data-parallel",
                PARALLEL.join(", ")
            )));
        }
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        check_threads(threads)?;
        if wanted.iter().any(|w| w == "W8") && data.is_none() {
            return Err(Error::Config(
                "W8 needs the MNIST folder: --data DIR or NABLA_DATA".into(),
            ));
        }
        let within = |flag: &str, v: &Option<Vec<usize>>, max: usize| -> Result<(), Error> {
            match v.iter().flatten().find(|&&n| n == 0 || n > max) {
                Some(n) => Err(Error::Config(format!(
                    "{flag}: each value must be from 1 to {max}, got {n}"
                ))),
                None => Ok(()),
            }
        };
        // W1 holds three n x n f32 matrices; W2 a batch of 784 features and its activations
        within("--sizes", &opts.sizes, MAX_SIZE)?;
        within("--batches", &opts.batches, MAX_BATCH)?;
        // an option for a workload that is not run would be ignored: refuse it instead
        for (flag, given, workload) in [
            ("--sizes", opts.sizes.is_some(), "W1"),
            ("--batches", opts.batches.is_some(), "W2"),
            ("--data", opts.data.is_some(), "W8"),
        ] {
            if given && !wanted.iter().any(|w| w == workload) {
                return Err(Error::Config(format!(
                    "{flag} applies to {workload} only, which is not among the workloads run"
                )));
            }
        }
        if let (Some(d), true) = (&data, wanted.iter().any(|w| w == "W8")) {
            if let Some(why) = nabla_core::io::folder_problem(d) {
                return Err(Error::Config(format!(
                    "W8: data folder {}: {why}",
                    d.display()
                )));
            }
        }
        Ok(Bench {
            wanted,
            threads,
            sizes: opts
                .sizes
                .clone()
                .unwrap_or_else(|| vec![128, 256, 512, 1024, 2048]),
            batches: opts.batches.clone().unwrap_or_else(|| vec![64, 256]),
            data,
            dp: comm.map(|comm| Dp {
                comm,
                avg: GradAverager::new(),
                reduce: Vec::new(),
            }),
        })
    }

    /// The workloads [`Bench::run`] runs, in order.
    pub fn workloads(&self) -> &[String] {
        &self.wanted
    }

    /// The kernel threads they run on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs the workloads in a pool of [`Bench::threads`] threads, handing each measurement to
    /// `report` as soon as it is taken (with several ranks, on rank 0 only).
    ///
    /// Fails when the threads cannot start, a workload fails (W8: its data cannot be read),
    /// or the ranks cannot communicate.
    pub fn run(&mut self, report: &mut (dyn FnMut(&BenchResult) + Send)) -> Result<()> {
        let threads = self.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Msg(format!("cannot start {threads} threads: {e}")))?;
        let Bench {
            wanted,
            sizes,
            batches,
            data,
            dp,
            ..
        } = self;
        pool.install(|| -> Result<()> {
            use workloads as w;
            for name in wanted.iter() {
                match name.as_str() {
                    "W1" => w::w1(threads, sizes, report)?,
                    "W2" => w::w2(threads, batches, dp.as_mut(), report)?,
                    "W3" => w::cnn("W3", threads, w::w3_model, dp.as_mut(), report)?,
                    "W4" => w::cnn("W4", threads, w::w4_model, dp.as_mut(), report)?,
                    "W5" => w::w5(threads, report)?,
                    "W9" => gpt::run(&gpt::W9, threads, report)?,
                    "W10" => gpt::run(&gpt::W10, threads, report)?,
                    "W6" => w::w6(threads, report)?,
                    "W7" => w::w7(threads, report)?,
                    "W8" => {
                        let d = data.clone().unwrap_or_default();
                        let d = if d.join("mnist").is_dir() {
                            d.join("mnist")
                        } else {
                            d
                        };
                        w::w8(threads, &d, dp.as_mut(), report)?
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }
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
        d.comm.allreduce_sum_f64(&mut v).map_err(|e| Error::Arg {
            op: "bench",
            msg: e.to_string(),
        })?;
        if v[0] > 0.0 {
            return Ok(times);
        }
    }
}

/// [`emit`] on rank 0, with the ranks and the median all-reduce milliseconds per step.
#[allow(clippy::too_many_arguments)]
fn emit_dp(
    workload: &'static str,
    params: Vec<(&'static str, usize)>,
    threads: usize,
    times: &mut [f64],
    work: f64,
    unit: &'static str,
    dp: Ranks,
    report: Sink,
) {
    let Some(d) = dp else {
        return emit(workload, params, threads, times, work, unit, report);
    };
    if d.comm.rank() != 0 {
        return;
    }
    let med = median(times);
    report(&BenchResult {
        workload,
        params,
        threads,
        ranks: Some(d.comm.size()),
        median_ms: med * 1e3,
        throughput: work / med,
        unit,
        steps: Some(times.len()),
        allreduce_ms: Some(median(&mut d.reduce) * 1e3),
        test_accuracy: None,
    });
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

/// Hands the median of `times` (and `work` per second at it) to `report`.
fn emit(
    workload: &'static str,
    params: Vec<(&'static str, usize)>,
    threads: usize,
    times: &mut [f64],
    work: f64,
    unit: &'static str,
    report: Sink,
) {
    let med = median(times);
    report(&BenchResult {
        workload,
        params,
        threads,
        ranks: None,
        median_ms: med * 1e3,
        throughput: work / med,
        unit,
        steps: Some(times.len()),
        allreduce_ms: None,
        test_accuracy: None,
    });
}
