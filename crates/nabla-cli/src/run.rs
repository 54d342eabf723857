//! The training commands: `train`, `eval`, `predict`, `summary`, `gradcheck`, `data fetch`.

use crate::config::{self, Config, DatasetKind, LayerSpec, OptimizerSpec, ScheduleSpec};
use nabla::core::{DType, GradcheckOptions, Mt19937, Tensor};
use nabla_data::{
    CsvOptions, DataLoader, Dataset, Header, LabelColumn, LoaderConfig, Standardizer, TensorDataset,
};
use nabla_nn::init::Init;
use nabla_nn::loss::{self, CrossEntropyOptions, Reduction};
use nabla_nn::optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
use nabla_nn::schedule::{
    CosineAnnealingLR, ExponentialLR, LinearWarmup, LrScheduler, MultiStepLR, OneCycleLR,
    PlateauMode, ReduceLROnPlateau, StepLR,
};
use nabla_nn::{Activation, BatchNorm1d, Dropout, Flatten, LayerNorm, Linear, Module, Sequential};
use nabla_train::{LossFn, ProgressMode, TrainConfig, Trainer};
use serde_json::json;
use std::path::{Path, PathBuf};

/// An error with its exit code: 2 for bad input, 1 for internal failures.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// One-line message.
    pub msg: String,
}

/// Bad input (exit 2).
pub fn bad(msg: impl Into<String>) -> CliError {
    CliError {
        code: 2,
        msg: msg.into(),
    }
}

/// Internal failure (exit 1).
pub fn internal(msg: impl Into<String>) -> CliError {
    CliError {
        code: 1,
        msg: msg.into(),
    }
}

type R<T> = Result<T, CliError>;

/// Data split into train, validation and test sets.
pub struct Data {
    /// Training set.
    pub train: TensorDataset,
    /// Validation set (may be empty).
    pub val: Option<TensorDataset>,
    /// Test set.
    pub test: TensorDataset,
    /// Shape of one sample as the model sees it.
    pub input_shape: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// The standardizer fitted on the training split (CSV).
    pub standardizer: Option<Standardizer>,
}

fn data_dir(cfg: &Config, data_flag: Option<&Path>) -> R<PathBuf> {
    let sub = match cfg.data.dataset {
        DatasetKind::Mnist => "mnist",
        DatasetKind::FashionMnist => "fashion-mnist",
        _ => "",
    };
    let base = data_flag
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("NABLA_DATA").map(PathBuf::from))
        .or_else(|| cfg.data.path.as_ref().map(PathBuf::from))
        .ok_or_else(|| bad(format!("data.path: no data folder for {sub}: set it in the config, with --data DIR or NABLA_DATA")))?;
    if !base.is_dir() {
        return Err(bad(format!(
            "data folder {} does not exist",
            base.display()
        )));
    }
    let has_files = |d: &Path| {
        d.join("train-labels-idx1-ubyte.gz").exists() || d.join("train-labels-idx1-ubyte").exists()
    };
    if !has_files(&base) && base.join(sub).is_dir() {
        return Ok(base.join(sub));
    }
    Ok(base)
}

fn reshape_ds(ds: TensorDataset, shape: &[usize]) -> R<TensorDataset> {
    let (x, y) = ds.into_parts();
    let n = x.shape()[0];
    let per: usize = x.shape()[1..].iter().product();
    let want: usize = shape.iter().product();
    if per != want {
        return Err(bad(format!(
            "model.input_shape: {shape:?} ({want} values) does not fit the data's samples {:?} ({per} values)",
            &x.shape()[1..]
        )));
    }
    let mut full = vec![n];
    full.extend_from_slice(shape);
    TensorDataset::new(x.reshape(&full).map_err(|e| internal(e.to_string()))?, y)
        .map_err(|e| internal(e.to_string()))
}

/// Loads and splits the configured data.
pub fn load_data(cfg: &Config, data_flag: Option<&Path>) -> R<Data> {
    let seed = cfg.train.seed;
    let d = &cfg.data;
    let derr = |e: nabla_data::DataError| bad(e.to_string());
    let (trainval, test) = match d.dataset {
        DatasetKind::Digits => {
            let all = nabla_data::digits().map_err(derr)?;
            let (tv, test) = all
                .split([1.0 - d.test_split, d.test_split], seed ^ 0x7e57)
                .map_err(derr)?;
            (tv, test)
        }
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            let dir = data_dir(cfg, data_flag)?;
            let tr = nabla_data::load_mnist(&dir, true).map_err(derr)?;
            let te = nabla_data::load_mnist(&dir, false).map_err(derr)?;
            (tr, te)
        }
        DatasetKind::Csv => {
            let path = data_flag
                .map(Path::to_path_buf)
                .or_else(|| d.path.as_ref().map(PathBuf::from))
                .ok_or_else(|| bad("data.path: a CSV dataset needs a file (config or --data)"))?;
            let mut o = CsvOptions::default();
            if let Some(h) = d.header {
                o = o.with_header(if h { Header::Present } else { Header::Absent });
            }
            if let Some(l) = &d.label_column {
                o = o.with_label(match l.parse::<usize>() {
                    Ok(i) => LabelColumn::Index(i),
                    Err(_) => LabelColumn::Name(l.clone()),
                });
            }
            let all = nabla_data::read_csv(&path, &o)
                .map_err(derr)?
                .into_dataset()
                .map_err(derr)?;
            let (tv, test) = all
                .split([1.0 - d.test_split, d.test_split], seed ^ 0x7e57)
                .map_err(derr)?;
            (tv, test)
        }
    };
    let (train, val) = if d.validation_split > 0.0 {
        let (a, b) = trainval
            .split([1.0 - d.validation_split, d.validation_split], seed ^ 0x5a1)
            .map_err(derr)?;
        (a, if b.is_empty() { None } else { Some(b) })
    } else {
        (trainval, None)
    };
    let (train, val, test, std) = if d.dataset == DatasetKind::Csv && d.standardize {
        let s = Standardizer::fit_dataset(&train).map_err(derr)?;
        let tr = s.transform_dataset(&train).map_err(derr)?;
        let va = match &val {
            Some(v) => Some(s.transform_dataset(v).map_err(derr)?),
            None => None,
        };
        let te = s.transform_dataset(&test).map_err(derr)?;
        (tr, va, te, Some(s))
    } else {
        (train, val, test, None)
    };
    let classes = [Some(&train), val.as_ref(), Some(&test)]
        .iter()
        .flatten()
        .filter_map(|d| d.num_classes())
        .max()
        .unwrap_or(0);
    let sample: Vec<usize> = train.feature_shape().to_vec();
    let input_shape = cfg
        .model
        .input_shape
        .clone()
        .unwrap_or_else(|| vec![sample.iter().product()]);
    let train = reshape_ds(train, &input_shape)?;
    let val = match val {
        Some(v) => Some(reshape_ds(v, &input_shape)?),
        None => None,
    };
    let test = reshape_ds(test, &input_shape)?;
    Ok(Data {
        train,
        val,
        test,
        input_shape,
        classes,
        standardizer: std,
    })
}

/// A layer's place in the model for messages: `model.layers[2] (linear)`.
fn at(i: usize, l: &LayerSpec) -> String {
    format!("model.layers[{i}] ({})", l.type_name())
}

/// Builds the model, checking every layer's shapes; returns it with each layer's output shape.
pub fn build_model(
    cfg: &Config,
    input_shape: &[usize],
    classes: Option<usize>,
    rng: &mut Mt19937,
) -> R<(Sequential, Vec<Vec<usize>>)> {
    let mut seq = Sequential::new();
    let mut shape: Vec<usize> = std::iter::once(1)
        .chain(input_shape.iter().copied())
        .collect();
    let mut shapes = Vec::new();
    for (i, l) in cfg.model.layers.iter().enumerate() {
        let last = *shape.last().unwrap_or(&0);
        let m: Box<dyn Module> = match l {
            LayerSpec::Linear {
                out,
                input,
                bias,
                init,
            } => {
                if let Some(inp) = input {
                    if *inp != last || shape.len() < 2 {
                        return Err(bad(format!(
                            "{}: in = {inp} but its input is {shape:?} (batch first), whose last dim is {last}",
                            at(i, l)
                        )));
                    }
                }
                let init = match init {
                    None => Init::Default,
                    Some(n) => Init::parse(n)
                        .ok_or_else(|| bad(format!("{}: unknown init '{n}'", at(i, l))))?,
                };
                Box::new(
                    Linear::with_init(last, *out, *bias, init, DType::F32, rng)
                        .map_err(|e| bad(format!("{}: {e}", at(i, l))))?,
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
            LayerSpec::Flatten => Box::new(Flatten::default()),
            LayerSpec::Dropout { p } => {
                Box::new(Dropout::new(*p).map_err(|e| bad(format!("{}: {e}", at(i, l))))?)
            }
            LayerSpec::LayerNorm { eps } => Box::new(LayerNorm::with_options(&[last], *eps, true)),
            LayerSpec::BatchNorm1d { eps, momentum } => {
                let c = if shape.len() >= 2 { shape[1] } else { last };
                Box::new(BatchNorm1d::with_options(c, *eps, *momentum, true))
            }
        };
        shape = m
            .output_shape(&shape)
            .map_err(|e| bad(format!("{}: input {shape:?} does not fit: {e}", at(i, l))))?;
        shapes.push(shape.clone());
        seq.push(m);
    }
    if let (Some(c), Some(out)) = (classes, shapes.last()) {
        if out.len() != 2 || out[1] != c {
            let i = cfg.model.layers.len() - 1;
            return Err(bad(format!(
                "{}: the model outputs {out:?} (batch first) but the data has {c} classes",
                at(i, &cfg.model.layers[i])
            )));
        }
    }
    Ok((seq, shapes))
}

/// The targets `t` (`[N]` class indices) as one-hot rows shaped and typed like `y` (`[N, C]`).
fn one_hot(t: &Tensor, y: &Tensor) -> nabla::core::Result<Tensor> {
    let c = y.shape().last().copied().unwrap_or(1);
    let idx = t.to_vec::<i64>()?;
    let mut v = vec![0.0f64; idx.len() * c];
    for (i, &k) in idx.iter().enumerate() {
        match usize::try_from(k) {
            Ok(k) if k < c => v[i * c + k] = 1.0,
            _ => {
                return Err(nabla::core::Error::Arg {
                    op: "mse",
                    msg: format!("target {k} is not a class of the model's {c} outputs"),
                })
            }
        }
    }
    Tensor::from_vec(v, &[idx.len(), c])?.to_dtype(y.dtype())
}

/// The configured loss.
pub fn make_loss(cfg: &Config) -> LossFn {
    let ls = cfg.train.label_smoothing;
    match cfg.train.loss.as_str() {
        "nll" => Box::new(|y: &Tensor, t: &Tensor| {
            loss::nll_loss(&y.log_softmax(-1)?, t, -100, Reduction::Mean)
        }),
        "mse" => {
            Box::new(|y: &Tensor, t: &Tensor| loss::mse_loss(y, &one_hot(t, y)?, Reduction::Mean))
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
pub fn make_optimizer(spec: &OptimizerSpec, params: Vec<nabla::core::Var>) -> Box<dyn Optimizer> {
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

/// The configured schedule; the flag says whether it steps per optimizer step.
pub fn make_schedule(
    cfg: &Config,
    opt: &mut dyn Optimizer,
    steps_per_epoch: usize,
) -> R<Option<(Box<dyn LrScheduler>, bool)>> {
    let e = |x: nabla::core::Error| bad(format!("train.schedule: {x}"));
    let epochs = cfg.train.epochs;
    Ok(Some(match cfg.train.schedule.clone() {
        None => return Ok(None),
        Some(ScheduleSpec::Step { step_size, gamma }) => (
            Box::new(StepLR::new(opt, step_size, gamma).map_err(e)?) as Box<dyn LrScheduler>,
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
            let mut c =
                nabla_nn::schedule::OneCycleConfig::new(max_lr, (epochs * steps_per_epoch).max(1));
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
    }))
}

/// Options of `nabla train`.
pub struct TrainArgs {
    /// Config file (None: the bundled digits MLP).
    pub config: Option<PathBuf>,
    /// Output folder.
    pub out: Option<PathBuf>,
    /// Override of train.epochs.
    pub epochs: Option<usize>,
    /// Override of train.seed.
    pub seed: Option<u64>,
    /// Continue this run.
    pub resume: Option<PathBuf>,
    /// Data folder override.
    pub data: Option<PathBuf>,
    /// Progress display.
    pub progress: ProgressMode,
}

fn check_writable(dir: &Path) -> R<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        bad(format!(
            "output folder {}: cannot create: {e}",
            dir.display()
        ))
    })?;
    let probe = dir.join(".nabla-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        bad(format!(
            "output folder {} is not writable: {e}",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn loader(ds: &TensorDataset, batch: usize, shuffle: bool, seed: u64) -> R<DataLoader> {
    DataLoader::new(
        ds.clone(),
        LoaderConfig::new(batch)
            .with_shuffle(shuffle)
            .with_seed(seed),
    )
    .map_err(|e| bad(e.to_string()))
}

fn train_err(e: nabla_train::TrainError) -> CliError {
    use nabla_train::TrainError as T;
    match e {
        T::NonFinite { .. } | T::Checkpoint(_) | T::Data(_) => bad(e.to_string()),
        T::Io(_) => bad(e.to_string()),
        T::Core(_) => internal(e.to_string()),
    }
}

/// `nabla train`.
pub fn train(a: &TrainArgs) -> R<()> {
    // resolve the config: a resumed run uses the config saved with it
    let (mut cfg, out) = match &a.resume {
        Some(run) => {
            if !run.is_dir() {
                return Err(bad(format!(
                    "--resume {}: no such run folder",
                    run.display()
                )));
            }
            let saved = run.join("config.toml");
            if !saved.exists() {
                return Err(bad(format!(
                    "--resume {}: not a nabla run (no config.toml)",
                    run.display()
                )));
            }
            (config::load(&saved).map_err(bad)?, run.clone())
        }
        None => {
            let cfg = match &a.config {
                Some(p) => config::load(p).map_err(bad)?,
                None => config::default_config(),
            };
            let out = a.out.clone().unwrap_or_else(|| {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                PathBuf::from("runs").join(format!("run-{secs}"))
            });
            // before any data is read: a wrong --out fails at once (and creates nothing)
            if out.join("checkpoints").exists() {
                return Err(bad(format!(
                    "output folder {} already holds a run; use --resume or another --out",
                    out.display()
                )));
            }
            (cfg, out)
        }
    };
    if let Some(e) = a.epochs {
        if e == 0 {
            return Err(bad("--epochs must be at least 1"));
        }
        cfg.train.epochs = e;
    }
    if let Some(s) = a.seed {
        cfg.train.seed = s;
    }
    let data = load_data(&cfg, a.data.as_deref())?;
    // the saved config is complete: eval, predict and --resume need no flags
    cfg.model.input_shape = Some(data.input_shape.clone());
    if matches!(
        cfg.data.dataset,
        DatasetKind::Mnist | DatasetKind::FashionMnist
    ) {
        let dir = data_dir(&cfg, a.data.as_deref())?;
        cfg.data.path = Some(
            std::fs::canonicalize(&dir)
                .unwrap_or(dir)
                .display()
                .to_string(),
        );
    } else if let (DatasetKind::Csv, Some(p)) = (cfg.data.dataset, a.data.as_deref()) {
        cfg.data.path = Some(
            std::fs::canonicalize(p)
                .unwrap_or(p.to_path_buf())
                .display()
                .to_string(),
        );
    }
    let mut rng = Mt19937::new(nabla::core::stream_seed(cfg.train.seed, "init"));
    let (model, _) = build_model(&cfg, &data.input_shape, Some(data.classes), &mut rng)?;
    check_writable(&out)?;
    let toml_text = toml::to_string(&cfg).map_err(|e| internal(format!("config: {e}")))?;
    nabla::core::io::write_atomic(&out.join("config.toml"), toml_text.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    if let Some(s) = &data.standardizer {
        let j = json!({"mean": s.mean(), "std": s.std()});
        nabla_train::trainer::write_json(&out.join("standardizer.json"), &j).map_err(train_err)?;
    }
    let params: Vec<_> = model.parameters().into_iter().map(|(_, v)| v).collect();
    let n_params: usize = params.iter().map(|v| v.numel()).sum();
    let mut optimizer = make_optimizer(&cfg.train.optimizer, params);
    let mut train_loader = loader(&data.train, cfg.train.batch_size, true, cfg.train.seed)?;
    let sched = make_schedule(&cfg, optimizer.as_mut(), train_loader.len())?;
    let tc = TrainConfig {
        epochs: cfg.train.epochs,
        clip_grad_norm: cfg.train.clip_grad_norm,
        clip_grad_value: None,
        seed: cfg.train.seed,
        out_dir: Some(out.clone()),
        checkpoint_every_steps: cfg.train.checkpoint_every,
        early_stopping_patience: cfg.train.early_stopping_patience,
        early_stopping_min_delta: 0.0,
        schedule_per_step: sched.as_ref().is_some_and(|s| s.1),
        progress: a.progress,
        classification: true,
    };
    let mut trainer = Trainer::new(Box::new(model), optimizer, make_loss(&cfg), tc);
    if let Some((s, _)) = sched {
        trainer = trainer.with_scheduler(s);
    }
    if a.resume.is_some() {
        let resumed = trainer
            .resume_from(&out, &mut train_loader)
            .map_err(train_err)?;
        if resumed {
            println!(
                "resuming {} at epoch {}, step {}",
                out.display(),
                trainer.epoch() + 1,
                trainer.step()
            );
        } else {
            println!(
                "no checkpoint in {}: starting it from the beginning",
                out.display()
            );
        }
    }
    let mut val_loader = match &data.val {
        Some(v) => Some(loader(v, 256, false, 0)?),
        None => None,
    };
    let report = trainer
        .fit(&mut train_loader, val_loader.as_mut())
        .map_err(train_err)?;
    let mut test_loader = loader(&data.test, 256, false, 0)?;
    let ev = trainer.evaluate(&mut test_loader).map_err(train_err)?;
    let rows: Vec<nabla_train::plot::EpochRow> = report
        .history
        .iter()
        .map(|h| nabla_train::plot::EpochRow {
            epoch: h.epoch,
            train_loss: h.train_loss,
            train_accuracy: h.train_accuracy,
            val_loss: h.val_loss,
            val_accuracy: h.val_accuracy,
        })
        .collect();
    if let Err(e) = nabla_train::plot::plot_training(&rows, &out) {
        eprintln!("nabla: warning: plots not written: {e}");
    }
    let acc = ev.accuracy.unwrap_or(0.0);
    let summary = json!({
        "test_accuracy": acc,
        "test_loss": ev.loss,
        "epochs": report.history.len(),
        "train_seconds": report.seconds,
        "parameters": n_params,
        "samples_per_second": if report.seconds > 0.0 { report.samples as f64 / report.seconds } else { 0.0 },
        "stopped_early": report.stopped_early,
    });
    nabla_train::trainer::write_json(&out.join("summary.json"), &summary).map_err(train_err)?;
    println!("run saved in {}", out.display());
    println!("test_accuracy={acc:.4} test_loss={:.4}", ev.loss);
    Ok(())
}

/// Rebuilds a run's model from its saved config (no data needed) and newest checkpoint.
fn open_model(run: &Path) -> R<(Config, Sequential)> {
    if !run.is_dir() {
        return Err(bad(format!("{}: no such run folder", run.display())));
    }
    let cfg = config::load(&run.join("config.toml")).map_err(bad)?;
    let input = cfg.model.input_shape.clone().ok_or_else(|| {
        bad(format!(
            "{}: config.toml lacks model.input_shape",
            run.display()
        ))
    })?;
    let mut rng = Mt19937::new(0);
    let (model, _) = build_model(&cfg, &input, None, &mut rng)?;
    let ck = nabla_train::checkpoint::latest_checkpoint(run)
        .map_err(train_err)?
        .ok_or_else(|| bad(format!("{}: the run has no checkpoint", run.display())))?;
    let what = ck.dir.join("model.safetensors").display().to_string();
    nabla_train::checkpoint::load_model_tensors(&model, &ck.model, &what).map_err(train_err)?;
    Ok((cfg, model))
}

/// A run's model (see [`open_model`]) with its data.
fn open_run(run: &Path, data_flag: Option<&Path>) -> R<(Config, Data, Sequential)> {
    let (cfg, model) = open_model(run)?;
    let data = load_data(&cfg, data_flag)?;
    Ok((cfg, data, model))
}

/// `nabla eval RUN_DIR`.
pub fn eval(run: &Path, data_flag: Option<&Path>) -> R<()> {
    let (cfg, data, model) = open_run(run, data_flag)?;
    let mut l = loader(&data.test, 256, false, 0)?;
    // one pass: the loss sees every batch's outputs, so it also fills the confusion matrix
    use nabla_train::metrics::ConfusionMatrix;
    use std::sync::{Arc, Mutex};
    let cm = Arc::new(Mutex::new(ConfusionMatrix::new(data.classes)));
    let base = make_loss(&cfg);
    let cm_in = Arc::clone(&cm);
    let lossf: LossFn = Box::new(move |y: &Tensor, t: &Tensor| {
        cm_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(y, t)?;
        base(y, t)
    });
    let ev = nabla_train::evaluate(&model, &lossf, &mut l, true).map_err(train_err)?;
    // per-class precision, recall and F1 with the confusion matrix
    println!("{}", cm.lock().unwrap_or_else(|p| p.into_inner()));
    println!(
        "test_accuracy={:.4} test_loss={:.4}",
        ev.accuracy.unwrap_or(0.0),
        ev.loss
    );
    Ok(())
}

fn read_png_gray(path: &Path) -> R<(Vec<f32>, usize, usize)> {
    let f = std::fs::File::open(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(f));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| bad(format!("{}: not a PNG image ({e})", path.display())))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(format!("{}: bad PNG data ({e})", path.display())))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let ch = info.color_type.samples();
    let px: Vec<f32> = buf[..info.buffer_size()]
        .chunks(ch)
        .map(|c| match ch {
            1 | 2 => c[0] as f32 / 255.0,
            _ => (0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32) / 255.0,
        })
        .collect();
    Ok((px, w, h))
}

/// `nabla predict RUN_DIR INPUT...`.
pub fn predict(run: &Path, inputs: &[PathBuf], logits: bool) -> R<()> {
    let (cfg, model) = open_model(run)?;
    let input_shape = cfg.model.input_shape.clone().unwrap_or_default();
    let per: usize = input_shape.iter().product();
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    for p in inputs {
        let is_png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png {
            let (px, w, h) = read_png_gray(p)?;
            if px.len() != per {
                return Err(bad(format!(
                    "{}: image is {w}x{h} ({} pixels) but the model takes {per} values",
                    p.display(),
                    px.len()
                )));
            }
            rows.push((p.display().to_string(), px));
        } else {
            let text =
                std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let vals: Result<Vec<f32>, _> =
                    line.split(',').map(|v| v.trim().parse::<f32>()).collect();
                let vals = vals
                    .map_err(|_| bad(format!("{}: row {}: not all numbers", p.display(), i + 1)))?;
                if vals.len() != per {
                    return Err(bad(format!(
                        "{}: row {} has {} values, the model takes {per}",
                        p.display(),
                        i + 1,
                        vals.len()
                    )));
                }
                rows.push((format!("{}:{}", p.display(), i + 1), vals));
            }
        }
    }
    if rows.is_empty() {
        return Err(bad("predict: no input"));
    }
    let n = rows.len();
    let flat: Vec<f32> = rows.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let mut shape = vec![n];
    shape.extend_from_slice(&input_shape);
    let mut x = Tensor::from_vec(flat, &shape).map_err(|e| internal(e.to_string()))?;
    let std_path = run.join("standardizer.json");
    if cfg.data.dataset == DatasetKind::Csv && std_path.exists() {
        let text = std::fs::read_to_string(&std_path)
            .map_err(|e| bad(format!("{}: {e}", std_path.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("{}: corrupted ({e})", std_path.display())))?;
        let nums = |k: &str| -> Vec<f64> {
            v[k].as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default()
        };
        let s = Standardizer::from_parts(nums("mean"), nums("std"))
            .map_err(|e| bad(format!("{}: {e}", std_path.display())))?;
        x = s.transform(&x).map_err(|e| bad(e.to_string()))?;
    }
    let out = nabla_train::predict(&model, &x).map_err(train_err)?;
    if logits {
        for ((name, _), row) in rows
            .iter()
            .zip(out.to_vec2_f64().map_err(|e| internal(e.to_string()))?)
        {
            println!("{}", json!({"input": name, "logits": row}));
        }
        return Ok(());
    }
    let probs = out
        .softmax(-1)
        .map_err(|e| internal(e.to_string()))?
        .to_vec2_f64()
        .map_err(|e| internal(e.to_string()))?;
    for ((name, _), p) in rows.iter().zip(probs) {
        let (k, pk) = p
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        println!("{name}: class {k} (p={pk:.4})");
    }
    Ok(())
}

/// `nabla summary CONFIG`.
pub fn summary(path: &Path, data_flag: Option<&Path>) -> R<()> {
    let cfg = config::load(path).map_err(bad)?;
    let input = match &cfg.model.input_shape {
        Some(s) => s.clone(),
        None => load_data(&cfg, data_flag)?.input_shape,
    };
    let mut rng = Mt19937::new(0);
    let (model, shapes) = build_model(&cfg, &input, None, &mut rng)?;
    println!(
        "{:<28}{:<22}{:>12}",
        "Layer (type)", "Output Shape", "Param #"
    );
    println!("{}", "=".repeat(62));
    let mut total = 0;
    for (i, ((_, m), s)) in model.children().iter().zip(&shapes).enumerate() {
        let p: usize = m.parameters().iter().map(|(_, v)| v.numel()).sum();
        total += p;
        let shape = format!(
            "[None, {}]",
            s[1..]
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "{:<28}{:<22}{:>12}",
            format!("{i} ({})", m.kind()),
            shape,
            p
        );
    }
    println!("{}", "=".repeat(62));
    println!("Total params: {total}");
    println!("Trainable params: {total}");
    Ok(())
}

/// `nabla gradcheck CONFIG`: the model's own backprop checked in f64 on a small batch.
pub fn gradcheck(path: &Path, data_flag: Option<&Path>) -> R<bool> {
    let cfg = config::load(path).map_err(bad)?;
    let data = load_data(&cfg, data_flag)?;
    let mut rng = Mt19937::new(0);
    let (model, _) = build_model(&cfg, &data.input_shape, Some(data.classes), &mut rng)?;
    let n = data.train.len().min(8);
    let idx: Vec<usize> = (0..n).collect();
    let b = data.train.get_batch(&idx).map_err(|e| bad(e.to_string()))?;
    let lossf = make_loss(&cfg);
    let y = b.y.clone();
    let f = move |o: &Tensor| lossf(o, &y);
    let report = nabla_nn::gradcheck_module(&model, &b.x, &f, GradcheckOptions::default(), 20)
        .map_err(|e| internal(e.to_string()))?;
    println!(
        "{:<20}{:>10}{:>16}{:>16}  result",
        "parameter", "checked", "max abs err", "max rel err"
    );
    let mut ok = true;
    for p in &report {
        ok &= p.passed;
        println!(
            "{:<20}{:>10}{:>16.3e}{:>16.3e}  {}",
            p.name,
            p.checked,
            p.max_abs_error,
            p.max_rel_error,
            if p.passed { "ok" } else { "FAILED" }
        );
    }
    println!(
        "{}",
        if ok {
            "gradcheck passed"
        } else {
            "gradcheck FAILED"
        }
    );
    Ok(ok)
}
