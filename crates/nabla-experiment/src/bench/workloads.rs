//! The workloads themselves: their networks, data and timed steps.

use super::{emit, emit_dp, measure, measure_dp, median, BenchResult, Ranks, Sink};
use crate::demo::xor::{self, XorOptions};
use nabla_core::{DType, Error, Mt19937, Result, Tensor, Var};
use nabla_data::{DataLoader, Dataset, LoaderConfig};
use nabla_nn::loss::{cross_entropy, CrossEntropyOptions};
use nabla_nn::optim::{Optimizer, Sgd};
use nabla_nn::{Activation, Conv2d, Flatten, ForwardCtx, Linear, MaxPool2d, Module, Sequential};
use std::time::Instant;

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
            .map_err(|e| Error::Arg {
                op: "bench",
                msg: e.to_string(),
            })?;
        d.reduce.push(d.avg.seconds() - before);
    }
    opt.step(&g)?;
    Ok(l)
}

/// W3's network (PyTorch's MNIST example without dropout).
pub(super) fn w3_model(rng: &mut Mt19937) -> Result<Sequential> {
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
pub(super) fn w4_model(rng: &mut Mt19937) -> Result<Sequential> {
    Ok(Sequential::new()
        .append(Conv2d::with_options(
            1,
            6,
            (5, 5),
            nabla_core::Conv2dOptions::default().with_padding(2, 2),
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
pub(super) fn cnn(
    name: &'static str,
    threads: usize,
    model: fn(&mut Mt19937) -> Result<Sequential>,
    mut dp: Ranks,
    report: Sink,
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
        vec![("batch", 64)],
        threads,
        &mut t,
        64.0,
        "samples/s",
        dp,
        report,
    );
    Ok(())
}

/// W5: a char-LSTM train step (Embedding(65, 64), LSTM(64, 256), Linear(256, 65), batch 32,
/// sequence 64, cross-entropy over every position, Adam 1e-3); tokens/s.
pub(super) fn w5(threads: usize, report: Sink) -> Result<()> {
    use nabla_nn::optim::Adam;
    use nabla_nn::{Embedding, Lstm, RnnOptions};
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
        vec![("batch", 32), ("seq", 64), ("hidden", 256)],
        threads,
        &mut t,
        32.0 * 64.0,
        "tokens/s",
        report,
    );
    Ok(())
}

/// W2: a train step of the MLP at each batch size.
pub(super) fn w2(threads: usize, batches: &[usize], mut dp: Ranks, report: Sink) -> Result<()> {
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
            vec![("batch", b)],
            threads,
            &mut t,
            b as f64,
            "samples/s",
            dp.as_deref_mut(),
            report,
        );
    }
    Ok(())
}

/// W8: one epoch of W2's MLP on MNIST (batch 64, shuffled), then its test accuracy.
pub(super) fn w8(threads: usize, dir: &std::path::Path, mut dp: Ranks, report: Sink) -> Result<()> {
    let train = nabla_data::load_mnist(dir, true).and_then(|d| d.flatten())?;
    let test = nabla_data::load_mnist(dir, false).and_then(|d| d.flatten())?;
    let mut rng = Mt19937::new(0);
    let m = w2_model(&mut rng)?;
    let mut opt = Sgd::new(m.parameters(), 0.01).momentum(0.9);
    let n_train = train.len();
    let mut loader = DataLoader::new(train, LoaderConfig::new(64).with_shuffle(true).with_seed(0))?;
    if let Some(d) = dp.as_deref_mut() {
        d.reduce.clear();
        d.comm.barrier()?;
    }
    let t0 = Instant::now();
    while let Some(b) = loader.next_batch() {
        // (every rank loads the whole batch and takes its rows in the step)
        let b = b?;
        w2_step(&m, &mut opt, &b.x, &b.y, &mut rng, dp.as_deref_mut())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if dp.as_ref().is_some_and(|d| d.comm.rank() != 0) {
        return Ok(());
    }
    let logits = {
        let _g = nabla_core::no_grad();
        m.forward(test.x(), &mut ForwardCtx::eval())?
    };
    let acc = nabla_train::metrics::accuracy(&logits, test.y())?;
    let (ranks, allreduce_ms) = match dp {
        Some(d) => (Some(d.comm.size()), Some(median(&mut d.reduce) * 1e3)),
        None => (None, None),
    };
    report(&BenchResult {
        workload: "W8",
        params: vec![("batch", 64)],
        threads,
        ranks,
        median_ms: secs * 1e3,
        throughput: n_train as f64 / secs,
        unit: "samples/s",
        steps: None,
        allreduce_ms,
        test_accuracy: Some(acc),
    });
    Ok(())
}

/// W1: an n×n f32 matrix product at each size; GFLOP/s.
pub(super) fn w1(threads: usize, sizes: &[usize], report: Sink) -> Result<()> {
    let mut rng = Mt19937::new(0);
    for &n in sizes {
        let a = Tensor::randn(&[n, n], DType::F32, &mut rng)?;
        let b = Tensor::randn(&[n, n], DType::F32, &mut rng)?;
        let mut t = measure(|| a.matmul(&b).map(drop))?;
        emit(
            "W1",
            vec![("n", n)],
            threads,
            &mut t,
            2.0 * (n as f64).powi(3) / 1e9,
            "GFLOP/s",
            report,
        );
    }
    Ok(())
}

/// W6: building and differentiating a tiny graph, `sum(tanh(w x + b))` over 4 values;
/// graphs/s.
pub(super) fn w6(threads: usize, report: Sink) -> Result<()> {
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
    emit(
        "W6",
        vec![("size", 4)],
        threads,
        &mut t,
        1.0,
        "graphs/s",
        report,
    );
    Ok(())
}

/// W7: the origin XOR program ([`xor::run`]), one warm-up and 7 timed runs; iterations/s.
pub(super) fn w7(threads: usize, report: Sink) -> Result<()> {
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
        vec![("iterations", opts.iterations)],
        threads,
        &mut times,
        opts.iterations as f64,
        "iterations/s",
        report,
    );
    Ok(())
}
