//! Builds the library objects an experiment config describes: the model (checking every
//! layer's shapes and size before allocating), the loss, the optimizer and the schedule.

use crate::config::ExperimentConfig;
use nabla_core::Error;
use nabla_core::{Mt19937, Tensor};
use nabla_nn::loss::{self, CrossEntropyOptions, LossKind, Reduction};
use nabla_nn::optim::Optimizer;
use nabla_nn::schedule::LrScheduler;
use nabla_nn::{LayerConfig, LayerInput, Sequential};
use nabla_train::trainer::{LossFn, Task};

fn cfg_err(msg: String) -> Error {
    Error::Config(msg)
}

/// The number of elements of `shape`, or an error when it overflows.
pub fn elements(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| "the number of elements overflows".to_string())
}

/// The memory a model may take: the machine's memory (`MemTotal` of `/proc/meminfo`), or
/// 1 TiB where that cannot be read.
pub fn memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(1 << 40, |kib| kib * 1024)
}

/// A layer's place in the model for messages: `model.layers[2] (linear)`.
fn at(i: usize, l: &LayerConfig) -> String {
    format!("model.layers[{i}] ({})", l.type_name())
}

/// The model a config describes, for inputs of `input_shape` (one sample, batch excluded),
/// with each layer's output shape (batch first, batch 1). `outputs`, when given, is the
/// number of outputs the data needs (classes, or regression targets): the last layer must
/// produce it.
///
/// Fails ([`Error::Config`]) naming the layer when an input does not fit a layer, when
/// one training step would not fit in memory (see [`crate::memory`]; checked before
/// allocating, with the bytes it would need), or when the output does not match `outputs`.
pub fn build_model(
    cfg: &ExperimentConfig,
    input_shape: &[usize],
    outputs: Option<usize>,
    rng: &mut Mt19937,
) -> Result<(Sequential, Vec<Vec<usize>>), Error> {
    elements(input_shape)
        .map_err(|e| cfg_err(format!("model.input_shape: {input_shape:?}: {e}")))?;
    // every shape and the bytes of one step, before anything is allocated
    crate::memory::check_memory(cfg, input_shape, outputs, 0, 0)?;
    let mut seq = Sequential::new();
    let mut shape: Vec<usize> = std::iter::once(1)
        .chain(input_shape.iter().copied())
        .collect();
    let mut shapes = Vec::new();
    for (i, l) in cfg.model.layers.iter().enumerate() {
        let layer = l.layer();
        let input = LayerInput {
            shape: &shape,
            tokens: outputs,
        };
        let m = match l {
            LayerConfig::Linear(c) if c.tie.is_some() => tied_linear(cfg, &seq, i, c, &shape, rng)?,
            _ => layer
                .build(&input, rng)
                .map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?,
        };
        shape = layer
            .output_shape(&input)
            .map_err(|e| cfg_err(format!("{}: input {shape:?} does not fit: {e}", at(i, l))))?;
        shapes.push(shape.clone());
        seq.push(m);
    }
    if let (Some(c), Some(out)) = (outputs, shapes.last()) {
        let fits = if cfg.data.task() == Task::LanguageModel {
            out.len() == 3 && out[2] == c
        } else {
            out.len() == 2 && out[1] == c
        };
        if !fits {
            let i = cfg.model.layers.len() - 1;
            let what = match cfg.data.task() {
                Task::Regression => "regression targets",
                Task::LanguageModel => "characters in its vocabulary (outputs [N, T, vocabulary])",
                _ => "classes",
            };
            return Err(cfg_err(format!(
                "{}: the model outputs {out:?} (batch first) but the data has {c} {what}",
                at(i, &cfg.model.layers[i])
            )));
        }
    }
    Ok((seq, shapes))
}

/// Layer `i`, a linear layer with `tie = "embedding"`: its weight is the weight of the
/// nearest embedding before it, which must be `[out, in]` for it.
fn tied_linear(
    cfg: &ExperimentConfig,
    seq: &Sequential,
    i: usize,
    c: &nabla_nn::config::LinearConfig,
    shape: &[usize],
    rng: &mut Mt19937,
) -> Result<Box<dyn nabla_nn::Module>, Error> {
    let here = at(i, &cfg.model.layers[i]);
    let j = cfg.model.layers[..i]
        .iter()
        .rposition(|l| matches!(l, LayerConfig::Embedding(_)))
        .ok_or_else(|| {
            cfg_err(format!(
                "{here}: tie = \"embedding\" but no embedding layer comes before it"
            ))
        })?;
    let weight = seq.layers()[j]
        .parameters()
        .into_iter()
        .find(|(n, _)| n == "weight")
        .map(|(_, v)| v)
        .ok_or_else(|| cfg_err(format!("{here}: model.layers[{j}] has no weight to tie to")))?;
    let want = [c.out, shape.last().copied().unwrap_or(0)];
    if weight.shape() != want {
        return Err(cfg_err(format!(
            "{here}: tie = \"embedding\": model.layers[{j}]'s weight is {:?}, but this layer \
             needs [out, in] = {want:?}",
            weight.shape()
        )));
    }
    let l =
        nabla_nn::Linear::tied(weight, c.bias, rng).map_err(|e| cfg_err(format!("{here}: {e}")))?;
    Ok(Box::new(l))
}

/// The targets `t` (`[N]` class indices) as one-hot rows shaped and typed like `y` (`[N, C]`).
fn one_hot(t: &Tensor, y: &Tensor) -> nabla_core::Result<Tensor> {
    let c = y.shape().last().copied().unwrap_or(1);
    let idx = t.to_vec::<i64>()?;
    let mut v = vec![0.0f64; idx.len() * c];
    for (i, &k) in idx.iter().enumerate() {
        match usize::try_from(k) {
            Ok(k) if k < c => v[i * c + k] = 1.0,
            _ => {
                return Err(nabla_core::Error::Arg {
                    op: "mse",
                    msg: format!("target {k} is not a class of the model's {c} outputs"),
                })
            }
        }
    }
    Tensor::from_vec(v, &[idx.len(), c])?.to_dtype(y.dtype())
}

/// The configured loss: cross-entropy (with label smoothing), NLL of log-softmax, and for
/// classification MSE against one-hot targets; for regression MSE, L1 or Huber against the
/// targets.
pub fn make_loss(cfg: &ExperimentConfig) -> LossFn {
    let t = &cfg.train;
    let ls = t.label_smoothing;
    let delta = t.huber_delta.unwrap_or(1.0);
    let regression = cfg.data.task() == Task::Regression;
    if cfg.data.task() == Task::LanguageModel {
        // cross-entropy over every position: [N, T, V] logits, [N, T] targets
        return Box::new(|y: &Tensor, t: &Tensor| {
            let v = y.shape().last().copied().unwrap_or(1);
            let n = t.numel();
            loss::cross_entropy(
                &y.reshape(&[n, v])?,
                &t.reshape(&[n])?,
                CrossEntropyOptions::default(),
            )
        });
    }
    match t.loss_for(regression) {
        LossKind::Nll => Box::new(|y: &Tensor, t: &Tensor| {
            loss::nll_loss(&y.log_softmax(-1)?, t, -100, Reduction::Mean)
        }),
        LossKind::Mse if regression => {
            Box::new(|y: &Tensor, t: &Tensor| loss::mse_loss(y, t, Reduction::Mean))
        }
        LossKind::Mse => {
            Box::new(|y: &Tensor, t: &Tensor| loss::mse_loss(y, &one_hot(t, y)?, Reduction::Mean))
        }
        LossKind::L1 => Box::new(|y: &Tensor, t: &Tensor| loss::l1_loss(y, t, Reduction::Mean)),
        LossKind::Huber => {
            Box::new(move |y: &Tensor, t: &Tensor| loss::huber_loss(y, t, delta, Reduction::Mean))
        }
        LossKind::CrossEntropy => Box::new(move |y: &Tensor, t: &Tensor| {
            loss::cross_entropy(
                y,
                t,
                CrossEntropyOptions {
                    label_smoothing: ls,
                    ..Default::default()
                },
            )
        }),
    }
}

/// A schedule and whether it steps after every optimizer step (else every epoch).
pub type Schedule = (Box<dyn LrScheduler>, bool);

/// The configured schedule over `opt` and whether it steps per optimizer step (see
/// `train.schedule_per_step`); `None` without a schedule.
pub fn make_schedule(
    cfg: &ExperimentConfig,
    opt: &mut dyn Optimizer,
    steps_per_epoch: usize,
) -> Result<Option<Schedule>, Error> {
    let Some(s) = &cfg.train.schedule else {
        return Ok(None);
    };
    let total = cfg.train.total_steps(steps_per_epoch);
    // the epochs the run takes (fewer than `epochs` when `max_steps` ends it first)
    let epochs = usize::try_from(total.div_ceil(steps_per_epoch.max(1) as u64))
        .unwrap_or(cfg.train.epochs)
        .clamp(1, cfg.train.epochs.max(1));
    let built = s
        .build(opt, epochs, total)
        .map_err(|e| cfg_err(format!("train.schedule: {e}")))?;
    Ok(Some((
        built,
        cfg.train.schedule_per_step.unwrap_or(s.per_step()),
    )))
}
