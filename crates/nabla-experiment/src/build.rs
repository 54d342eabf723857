//! Builds the library objects an experiment config describes: the model (checking every
//! layer's shapes and size before allocating), the loss, the optimizer and the schedule.

use crate::config::ExperimentConfig;
use crate::spec::{LayerSpec, OptimizerSpec, PaddingSpec, ScheduleSpec};
use nabla_core::Error;
use nabla_core::{
    AvgPool1dOptions, AvgPool2dOptions, Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions,
    DType, MaxPool1dOptions, MaxPool2dOptions, Mt19937, Tensor, Var,
};
use nabla_nn::init::Init;
use nabla_nn::loss::{self, CrossEntropyOptions, Reduction};
use nabla_nn::optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
use nabla_nn::schedule::{
    CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR, OneCycleConfig,
    OneCycleLR, PlateauMode, ReduceLROnPlateau, StepLR,
};
use nabla_nn::{
    Activation, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d,
    ConvTranspose2d, Dropout, Dropout2d, Embedding, Flatten, Gru, LayerNorm, Linear, Lstm,
    MaxPool1d, MaxPool2d, Module, Rnn, RnnNonlinearity, RnnOptions, Sequential,
};
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

fn human_bytes(b: u128) -> String {
    let gib = b as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// Fails unless the layer's input (batch first) has `rank` dims, naming what it needs.
fn need_rank(
    i: usize,
    l: &LayerSpec,
    shape: &[usize],
    rank: usize,
    sample: &str,
) -> Result<(), Error> {
    if shape.len() != rank {
        return Err(cfg_err(format!(
            "{}: needs {sample} samples (batch first: [N, {}]) but its input is {shape:?}; set model.input_shape to {sample} (e.g. [1, 28, 28])",
            at(i, l),
            &sample[1..sample.len() - 1]
        )));
    }
    Ok(())
}

/// Fails when a convolution's declared input channels differ from its input's.
fn check_in(
    i: usize,
    l: &LayerSpec,
    declared: Option<usize>,
    shape: &[usize],
) -> Result<(), Error> {
    match declared {
        Some(c) if c != shape[1] => Err(cfg_err(format!(
            "{}: in = {c} channels but the previous layer gives {} (input {shape:?}, batch first)",
            at(i, l),
            shape[1]
        ))),
        _ => Ok(()),
    }
}

/// A layer's place in the model for messages: `model.layers[2] (linear)`.
fn at(i: usize, l: &LayerSpec) -> String {
    format!("model.layers[{i}] ({})", l.type_name())
}

/// The model a config describes, for inputs of `input_shape` (one sample, batch excluded),
/// with each layer's output shape (batch first, batch 1). `outputs`, when given, is the
/// number of outputs the data needs (classes, or regression targets): the last layer must
/// produce it.
///
/// Fails ([`Error::Config`]) naming the layer when an input does not fit a layer, when
/// the parameters would not fit in memory (checked before allocating, with the bytes they
/// would need), or when the output does not match `outputs`.
pub fn build_model(
    cfg: &ExperimentConfig,
    input_shape: &[usize],
    outputs: Option<usize>,
    rng: &mut Mt19937,
) -> Result<(Sequential, Vec<Vec<usize>>), Error> {
    elements(input_shape)
        .map_err(|e| cfg_err(format!("model.input_shape: {input_shape:?}: {e}")))?;
    let limit = memory_limit() as u128;
    let mut total_bytes: u128 = 0;
    let mut seq = Sequential::new();
    let mut shape: Vec<usize> = std::iter::once(1)
        .chain(input_shape.iter().copied())
        .collect();
    let mut shapes = Vec::new();
    for (i, l) in cfg.model.layers.iter().enumerate() {
        let last = *shape.last().unwrap_or(&0);
        // parameters the layer will allocate, checked before it does
        let params: u128 = match l {
            LayerSpec::Linear { out, bias, .. } => {
                last as u128 * *out as u128 + if *bias { *out as u128 } else { 0 }
            }
            LayerSpec::LayerNorm { .. } => 2 * last as u128,
            LayerSpec::Embedding { dim, num } => {
                num.or(outputs).unwrap_or(0) as u128 * *dim as u128
            }
            LayerSpec::Lstm {
                hidden,
                num_layers,
                bidirectional,
                ..
            }
            | LayerSpec::Gru {
                hidden,
                num_layers,
                bidirectional,
                ..
            }
            | LayerSpec::Rnn {
                hidden,
                num_layers,
                bidirectional,
                ..
            } => {
                let g: u128 = match l {
                    LayerSpec::Lstm { .. } => 4,
                    LayerSpec::Gru { .. } => 3,
                    _ => 1,
                };
                let d = if *bidirectional { 2 } else { 1 };
                let (h, i0) = (*hidden as u128, last as u128);
                (0..*num_layers as u128)
                    .map(|k| {
                        let inp = if k == 0 { i0 } else { d * h };
                        d * g * h * (inp + h + 2)
                    })
                    .sum()
            }
            LayerSpec::BatchNorm1d { .. } | LayerSpec::BatchNorm2d { .. } => {
                4 * shape.get(1).copied().unwrap_or(last) as u128
            }
            LayerSpec::Conv2d {
                out,
                kernel_size,
                groups,
                ..
            }
            | LayerSpec::ConvTranspose2d {
                out,
                kernel_size,
                groups,
                ..
            } => {
                let (kh, kw) = kernel_size.pair();
                let c = shape.get(1).copied().unwrap_or(0) as u128;
                *out as u128 * (c / (*groups).max(1) as u128) * kh as u128 * kw as u128
                    + *out as u128
            }
            LayerSpec::Conv1d {
                out,
                kernel_size,
                groups,
                ..
            } => {
                let c = shape.get(1).copied().unwrap_or(0) as u128;
                *out as u128 * (c / (*groups).max(1) as u128) * *kernel_size as u128 + *out as u128
            }
            _ => 0,
        };
        total_bytes += params * 4;
        if total_bytes > limit {
            return Err(cfg_err(format!(
                "{}: {params} parameters ({}) bring the model to {} bytes ({}), more than this machine's memory ({})",
                at(i, l),
                human_bytes(params * 4),
                total_bytes,
                human_bytes(total_bytes),
                human_bytes(limit)
            )));
        }
        let m: Box<dyn Module> = match l {
            LayerSpec::Linear {
                out,
                input,
                bias,
                init,
            } => {
                if let Some(inp) = input {
                    if *inp != last || shape.len() < 2 {
                        return Err(cfg_err(format!(
                            "{}: in = {inp} but its input is {shape:?} (batch first), whose last dim is {last}",
                            at(i, l)
                        )));
                    }
                }
                let init = match init {
                    None => Init::Default,
                    Some(n) => Init::parse(n)
                        .ok_or_else(|| cfg_err(format!("{}: unknown init '{n}'", at(i, l))))?,
                };
                Box::new(
                    Linear::with_init(last, *out, *bias, init, DType::F32, rng)
                        .map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?,
                )
            }
            LayerSpec::Relu => Box::new(Activation::ReLU),
            LayerSpec::LeakyRelu { negative_slope } => {
                Box::new(Activation::LeakyReLU(*negative_slope))
            }
            LayerSpec::Sigmoid => Box::new(Activation::Sigmoid),
            LayerSpec::Tanh => Box::new(Activation::Tanh),
            LayerSpec::Gelu { approximate } => {
                Box::new(if approximate.as_deref() == Some("tanh") {
                    Activation::GELUTanh
                } else {
                    Activation::GELU
                })
            }
            LayerSpec::Silu => Box::new(Activation::SiLU),
            LayerSpec::Softmax => Box::new(Activation::Softmax(-1)),
            LayerSpec::Flatten { start_dim, end_dim } => Box::new(Flatten {
                start_dim: *start_dim,
                end_dim: *end_dim,
            }),
            LayerSpec::Embedding { dim, num } => {
                let n = num.or(outputs).ok_or_else(|| {
                    cfg_err(format!(
                        "{}: num (the number of tokens) is needed when the data is not text",
                        at(i, l)
                    ))
                })?;
                Box::new(
                    Embedding::new(n, *dim, rng)
                        .map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?,
                )
            }
            LayerSpec::Lstm {
                hidden,
                num_layers,
                dropout,
                bidirectional,
                bias,
            }
            | LayerSpec::Gru {
                hidden,
                num_layers,
                dropout,
                bidirectional,
                bias,
            }
            | LayerSpec::Rnn {
                hidden,
                num_layers,
                dropout,
                bidirectional,
                bias,
                ..
            } => {
                need_rank(i, l, &shape, 3, "[T, features]")?;
                let opts = RnnOptions::default()
                    .with_num_layers(*num_layers)
                    .with_dropout(*dropout)
                    .with_bidirectional(*bidirectional)
                    .with_bias(*bias)
                    .with_batch_first(true);
                let e = |e: nabla_core::Error| cfg_err(format!("{}: {e}", at(i, l)));
                let input = shape[2];
                match l {
                    LayerSpec::Lstm { .. } => {
                        Box::new(Lstm::with_options(input, *hidden, opts, rng).map_err(e)?)
                    }
                    LayerSpec::Gru { .. } => {
                        Box::new(Gru::with_options(input, *hidden, opts, rng).map_err(e)?)
                    }
                    LayerSpec::Rnn { nonlinearity, .. } => {
                        let nl = if nonlinearity == "relu" {
                            RnnNonlinearity::Relu
                        } else {
                            RnnNonlinearity::Tanh
                        };
                        Box::new(Rnn::with_options(input, *hidden, nl, opts, rng).map_err(e)?)
                    }
                    _ => unreachable!("matched above"),
                }
            }
            LayerSpec::BatchNorm2d { eps, momentum } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                Box::new(BatchNorm2d::with_options(shape[1], *eps, *momentum, true))
            }
            LayerSpec::Dropout2d { p } => {
                Box::new(Dropout2d::new(*p).map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?)
            }
            LayerSpec::Conv2d {
                out,
                input,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                check_in(i, l, *input, &shape)?;
                let (same, pad) = match padding {
                    PaddingSpec::Mode(m) => (m == "same", (0, 0)),
                    PaddingSpec::Size(s) => (false, s.pair()),
                };
                let (s2, d2) = (stride.pair(), dilation.pair());
                let opts = Conv2dOptions::default()
                    .with_stride(s2.0, s2.1)
                    .with_padding(pad.0, pad.1)
                    .with_dilation(d2.0, d2.1)
                    .with_groups(*groups);
                let e = |e: nabla_core::Error| cfg_err(format!("{}: {e}", at(i, l)));
                let c = Conv2d::with_options(shape[1], *out, kernel_size.pair(), opts, *bias, rng)
                    .map_err(e)?;
                Box::new(if same {
                    c.padding_same().map_err(e)?
                } else {
                    c
                })
            }
            LayerSpec::Conv1d {
                out,
                input,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                need_rank(i, l, &shape, 3, "[C, L]")?;
                check_in(i, l, *input, &shape)?;
                let (same, pad) = match padding {
                    PaddingSpec::Mode(m) => (m == "same", 0),
                    PaddingSpec::Size(s) => (false, s.pair().1),
                };
                let opts = Conv1dOptions::default()
                    .with_stride(*stride)
                    .with_padding(pad)
                    .with_dilation(*dilation)
                    .with_groups(*groups);
                let e = |e: nabla_core::Error| cfg_err(format!("{}: {e}", at(i, l)));
                let c = Conv1d::with_options(shape[1], *out, *kernel_size, opts, *bias, rng)
                    .map_err(e)?;
                Box::new(if same {
                    c.padding_same().map_err(e)?
                } else {
                    c
                })
            }
            LayerSpec::ConvTranspose2d {
                out,
                input,
                kernel_size,
                stride,
                padding,
                output_padding,
                dilation,
                groups,
                bias,
            } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                check_in(i, l, *input, &shape)?;
                let (s2, p2, o2, d2) = (
                    stride.pair(),
                    padding.pair(),
                    output_padding.pair(),
                    dilation.pair(),
                );
                let opts = ConvTranspose2dOptions::default()
                    .with_stride(s2.0, s2.1)
                    .with_padding(p2.0, p2.1)
                    .with_output_padding(o2.0, o2.1)
                    .with_dilation(d2.0, d2.1)
                    .with_groups(*groups);
                Box::new(
                    ConvTranspose2d::with_options(
                        shape[1],
                        *out,
                        kernel_size.pair(),
                        opts,
                        *bias,
                        rng,
                    )
                    .map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?,
                )
            }
            LayerSpec::MaxPool2d {
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                let (k, p, d) = (kernel_size.pair(), padding.pair(), dilation.pair());
                let s = stride.unwrap_or(*kernel_size).pair();
                Box::new(MaxPool2d::with_options(
                    MaxPool2dOptions::new(k.0, k.1)
                        .with_stride(s.0, s.1)
                        .with_padding(p.0, p.1)
                        .with_dilation(d.0, d.1)
                        .with_ceil_mode(*ceil_mode),
                ))
            }
            LayerSpec::AvgPool2d {
                kernel_size,
                stride,
                padding,
                ceil_mode,
                count_include_pad,
            } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                let (k, p) = (kernel_size.pair(), padding.pair());
                let s = stride.unwrap_or(*kernel_size).pair();
                Box::new(AvgPool2d::with_options(
                    AvgPool2dOptions::new(k.0, k.1)
                        .with_stride(s.0, s.1)
                        .with_padding(p.0, p.1)
                        .with_ceil_mode(*ceil_mode)
                        .with_count_include_pad(*count_include_pad),
                ))
            }
            LayerSpec::AdaptiveAvgPool2d { output_size } => {
                need_rank(i, l, &shape, 4, "[C, H, W]")?;
                Box::new(AdaptiveAvgPool2d::new(output_size.pair()))
            }
            LayerSpec::MaxPool1d {
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            } => {
                need_rank(i, l, &shape, 3, "[C, L]")?;
                let mut o = MaxPool1dOptions::new(*kernel_size);
                o.stride = stride.unwrap_or(*kernel_size);
                o.padding = *padding;
                o.dilation = *dilation;
                o.ceil_mode = *ceil_mode;
                Box::new(MaxPool1d::with_options(o))
            }
            LayerSpec::AvgPool1d {
                kernel_size,
                stride,
                padding,
                ceil_mode,
                count_include_pad,
            } => {
                need_rank(i, l, &shape, 3, "[C, L]")?;
                let mut o = AvgPool1dOptions::new(*kernel_size);
                o.stride = stride.unwrap_or(*kernel_size);
                o.padding = *padding;
                o.ceil_mode = *ceil_mode;
                o.count_include_pad = *count_include_pad;
                Box::new(AvgPool1d::with_options(o))
            }
            LayerSpec::Dropout { p } => {
                Box::new(Dropout::new(*p).map_err(|e| cfg_err(format!("{}: {e}", at(i, l))))?)
            }
            LayerSpec::LayerNorm { eps } => Box::new(LayerNorm::with_options(&[last], *eps, true)),
            LayerSpec::BatchNorm1d { eps, momentum } => {
                let c = if shape.len() >= 2 { shape[1] } else { last };
                Box::new(BatchNorm1d::with_options(c, *eps, *momentum, true))
            }
        };
        shape = m
            .output_shape(&shape)
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
    match t.loss.as_str() {
        "nll" => Box::new(|y: &Tensor, t: &Tensor| {
            loss::nll_loss(&y.log_softmax(-1)?, t, -100, Reduction::Mean)
        }),
        "mse" if regression => {
            Box::new(|y: &Tensor, t: &Tensor| loss::mse_loss(y, t, Reduction::Mean))
        }
        "mse" => {
            Box::new(|y: &Tensor, t: &Tensor| loss::mse_loss(y, &one_hot(t, y)?, Reduction::Mean))
        }
        "l1" => Box::new(|y: &Tensor, t: &Tensor| loss::l1_loss(y, t, Reduction::Mean)),
        "huber" => {
            Box::new(move |y: &Tensor, t: &Tensor| loss::huber_loss(y, t, delta, Reduction::Mean))
        }
        _ => Box::new(move |y: &Tensor, t: &Tensor| {
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

/// The configured optimizer over `params`.
pub fn make_optimizer(spec: &OptimizerSpec, params: Vec<Var>) -> Box<dyn Optimizer> {
    match spec.clone() {
        OptimizerSpec::Sgd {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay,
        } => Box::new(
            Sgd::new(params, lr)
                .momentum(momentum)
                .dampening(dampening)
                .nesterov(nesterov)
                .weight_decay(weight_decay),
        ),
        OptimizerSpec::Adam {
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
        } => Box::new(
            Adam::new(params, lr)
                .betas(betas[0], betas[1])
                .eps(eps)
                .weight_decay(weight_decay)
                .amsgrad(amsgrad),
        ),
        OptimizerSpec::Adamw {
            lr,
            betas,
            eps,
            weight_decay,
        } => Box::new(
            AdamW::new(params, lr)
                .betas(betas[0], betas[1])
                .eps(eps)
                .weight_decay(weight_decay),
        ),
        OptimizerSpec::Rmsprop {
            lr,
            alpha,
            eps,
            momentum,
            centered,
            weight_decay,
        } => Box::new(
            RmsProp::new(params, lr)
                .alpha(alpha)
                .eps(eps)
                .momentum(momentum)
                .centered(centered)
                .weight_decay(weight_decay),
        ),
        OptimizerSpec::Adagrad {
            lr,
            lr_decay,
            weight_decay,
        } => Box::new(
            Adagrad::new(params, lr)
                .lr_decay(lr_decay)
                .weight_decay(weight_decay),
        ),
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
    let e = |x: nabla_core::Error| cfg_err(format!("train.schedule: {x}"));
    let epochs = cfg.train.epochs;
    let (s, per_step): (Box<dyn LrScheduler>, bool) = match cfg.train.schedule.clone() {
        None => return Ok(None),
        Some(ScheduleSpec::Step { step_size, gamma }) => (
            Box::new(StepLR::new(opt, step_size, gamma).map_err(e)?),
            false,
        ),
        Some(ScheduleSpec::MultiStep { milestones, gamma }) => (
            Box::new(MultiStepLR::new(opt, &milestones, gamma).map_err(e)?),
            false,
        ),
        Some(ScheduleSpec::Exponential { gamma }) => {
            (Box::new(ExponentialLR::new(opt, gamma).map_err(e)?), false)
        }
        Some(ScheduleSpec::Cosine { t_max, eta_min }) => (
            Box::new(CosineAnnealingLR::new(opt, t_max.unwrap_or(epochs), eta_min).map_err(e)?),
            false,
        ),
        Some(ScheduleSpec::Warmup {
            start_factor,
            total_iters,
        }) => (
            Box::new(LinearWarmup::new(opt, start_factor, total_iters).map_err(e)?),
            true,
        ),
        Some(ScheduleSpec::OneCycle { max_lr, pct_start }) => {
            let mut c = OneCycleConfig::new(max_lr, (epochs * steps_per_epoch).max(1));
            c.pct_start = pct_start;
            (Box::new(OneCycleLR::with_config(opt, c).map_err(e)?), true)
        }
        Some(ScheduleSpec::Plateau { factor, patience }) => (
            Box::new(
                ReduceLROnPlateau::new(opt, PlateauMode::Min)
                    .factor(factor)
                    .patience(patience),
            ),
            false,
        ),
    };
    Ok(Some((s, cfg.train.schedule_per_step.unwrap_or(per_step))))
}
