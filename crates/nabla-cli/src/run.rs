//! The run commands: `train`, `eval`, `predict`, `sample`, `health`, `report`, `summary`,
//! `gradcheck`: argument handling and printing over `nabla::experiment` and `nabla::train`.

use nabla::core::{GradcheckOptions, Mt19937, Tensor};
use nabla::data::{DataLoader, Dataset, LoaderConfig};
use nabla::experiment::{build_model, load_data, make_loss, ExperimentConfig};
use nabla::experiment::{Experiment, Output, Run};
use nabla::train::distributed::agree;
use nabla::train::health::HealthSummary;
use nabla::train::{Communicator, Error, ProgressMode, Task};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An error with its exit code: 2 for bad input, 1 for internal failures.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// One-line message.
    pub msg: String,
    /// Whether every rank of a data-parallel run met it at once (see
    /// `Error::is_collective`).
    pub collective: bool,
}

/// Bad input (exit 2).
pub fn bad(msg: impl Into<String>) -> CliError {
    CliError {
        code: 2,
        msg: msg.into(),
        collective: false,
    }
}

/// Internal failure (exit 1).
pub fn internal(msg: impl Into<String>) -> CliError {
    CliError {
        code: 1,
        msg: msg.into(),
        collective: false,
    }
}

type R<T> = Result<T, CliError>;

/// Exit 2 for what the user gave (config, data, checkpoint, files), 1 for nabla's own
/// failures.
fn train_err(e: Error) -> CliError {
    let collective = e.is_collective();
    let mut c = if e.is_bad_input() {
        bad(e.to_string())
    } else {
        internal(e.to_string())
    };
    c.collective = collective;
    c
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
    /// Progress display (None: the config's).
    pub progress: Option<ProgressMode>,
    /// Anomaly mode (on when set here or in the config).
    pub detect_anomaly: bool,
    /// TensorBoard event file (on when set here or in the config).
    pub tensorboard: bool,
}

/// `nabla train`; with `comm`, as one rank of a data-parallel run (every rank agrees on the
/// outcome of reading the config or the run folder, so a rank that cannot stops them all).
pub fn train(a: &TrainArgs, comm: Option<Arc<dyn Communicator>>) -> R<()> {
    let setup = experiment(a);
    let mut exp = match &comm {
        Some(c) => agree(c.as_ref(), setup).map_err(train_err)?,
        None => setup.map_err(train_err)?,
    };
    if let Some(c) = &comm {
        exp = exp.with_communicator(c.clone());
    }
    let run = exp.fit().map_err(train_err)?;
    if comm.as_ref().is_none_or(|c| c.rank() == 0) {
        println!("run saved in {}", run.dir.display());
        println!("{}", run.closing_line());
    }
    Ok(())
}

/// The experiment `nabla train` runs: the config or the resumed run, with the flags.
fn experiment(a: &TrainArgs) -> Result<Experiment, Error> {
    let mut exp = match (&a.resume, &a.config) {
        (Some(run), _) => Experiment::resume(run)?,
        (None, Some(p)) => Experiment::from_toml_file(p)?,
        (None, None) => Experiment::digits_mlp(),
    };
    if let Some(e) = a.epochs {
        let max = nabla::train::train_config::MAX_EPOCHS;
        if e == 0 || e > max {
            return Err(Error::Config(format!(
                "--epochs must be from 1 to {max}, got {e}"
            )));
        }
        exp = exp.with_epochs(e);
    }
    if let Some(s) = a.seed {
        exp = exp.with_seed(s);
    }
    if let Some(o) = &a.out {
        exp = exp.with_out_dir(o);
    }
    if let Some(d) = &a.data {
        exp = exp.with_data_dir(d);
    }
    if let Some(p) = a.progress {
        exp = exp.with_progress(p);
    }
    if a.detect_anomaly {
        exp = exp.with_detect_anomaly(true);
    }
    if a.tensorboard {
        exp = exp.with_tensorboard(true);
    }
    Ok(exp)
}

fn loader(ds: &nabla::data::TensorDataset) -> R<DataLoader> {
    DataLoader::new(ds.clone(), LoaderConfig::new(256)).map_err(|e| bad(e.to_string()))
}

/// A run opened with the weights of `checkpoint` or of its newest readable checkpoint (the
/// library logs the damaged checkpoints it passed over); the returned line names the file
/// loaded (printed once the inputs are read, so a bad input is still one line).
fn open(run: &Path, checkpoint: Option<&Path>) -> R<(Run, String)> {
    let r = Run::open_with(run, checkpoint).map_err(train_err)?;
    let loaded = format!("nabla: loaded {}", r.weights.display());
    Ok((r, loaded))
}

/// What `nabla export` exports: a run folder, or a config (with its data folder) whose
/// weights come from `--checkpoint`.
pub enum Source {
    /// A run folder.
    RunDir(PathBuf),
    /// A config file and the `--data` given with it.
    Config(PathBuf, Option<PathBuf>),
}

/// `nabla export RUN_DIR --onnx FILE` (or `--config C --checkpoint CK`): the model as ONNX;
/// says which weights it exported, the opset and the input and output shapes.
pub fn export(source: &Source, checkpoint: Option<&Path>, file: &Path, opset: i64) -> R<()> {
    if !(nabla::onnx::MIN_OPSET..=nabla::onnx::MAX_OPSET).contains(&opset) {
        return Err(bad(format!(
            "--opset: {} to {} are written, got {opset}",
            nabla::onnx::MIN_OPSET,
            nabla::onnx::MAX_OPSET
        )));
    }
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(why) = nabla::core::io::folder_problem(folder) {
        return Err(bad(format!(
            "--onnx {}: its folder {}: {why}",
            file.display(),
            folder.display()
        )));
    }
    if file.is_dir() {
        return Err(bad(format!("--onnx {}: is a folder", file.display())));
    }
    let (opened, loaded) = match source {
        Source::RunDir(run) => open(run, checkpoint)?,
        Source::Config(config, data) => {
            let ck = checkpoint.ok_or_else(|| bad("--config needs --checkpoint"))?;
            let r = Run::from_config(config, ck, data.as_deref()).map_err(train_err)?;
            let loaded = format!("nabla: loaded {}", r.weights.display());
            (r, loaded)
        }
    };
    // a text model's vocabulary beside the file: ids in, characters out
    let vocab = match opened.task() {
        Task::LanguageModel => Some(opened.vocab().map_err(train_err)?),
        _ => None,
    };
    let exported = opened.export_onnx(opset).map_err(train_err)?;
    nabla::onnx::save(&exported.model, file).map_err(train_err)?;
    let vocab_out = file.with_extension("vocab.json");
    if let Some(v) = &vocab {
        nabla::core::io::write_atomic(&vocab_out, v.to_json().as_bytes()).map_err(train_err)?;
    }
    let dims = |s: &[Option<usize>]| {
        // the dynamic axes: the batch, and a token model's sequence
        let d: Vec<String> = s
            .iter()
            .enumerate()
            .map(|(k, d)| match d {
                Some(v) => v.to_string(),
                None if k == 0 => "batch".into(),
                None => "sequence".into(),
            })
            .collect();
        format!("[{}]", d.join(", "))
    };
    eprintln!("{loaded}");
    println!(
        "wrote {} (opset {opset}): input {}, output {}",
        file.display(),
        dims(&exported.input_shape),
        dims(&exported.output_shape)
    );
    if vocab.is_some() {
        println!("wrote {} (the characters of the ids)", vocab_out.display());
    }
    Ok(())
}

/// `nabla eval RUN_DIR`.
pub fn eval(run: &Path, checkpoint: Option<&Path>, data_flag: Option<&Path>) -> R<()> {
    let (opened, loaded) = open(run, checkpoint)?;
    let (cfg, model) = (&opened.config, &opened.model);
    let data = load_data(cfg, data_flag).map_err(train_err)?;
    if nabla::data::Dataset::is_empty(&data.test) {
        return Err(bad(format!(
            "{}: its data leave no sample to test on (data.test_split, or a text's \
             data.validation_split, is 0)",
            run.display()
        )));
    }
    eprintln!("{loaded}");
    let mut l = loader(&data.test)?;
    let task = cfg.data.task();
    if task == Task::LanguageModel {
        // the text's held-out part, in nats and bits per character as training reports it
        let ev = nabla::train::evaluate(model, &make_loss(cfg), &mut l, task).map_err(train_err)?;
        println!(
            "val_loss={:.4} val_bpc={:.4}",
            ev.loss,
            ev.loss / std::f64::consts::LN_2
        );
        return Ok(());
    }
    if task == Task::Regression {
        let ev = nabla::train::evaluate(model, &make_loss(cfg), &mut l, task).map_err(train_err)?;
        let r = ev.regression.unwrap_or(nabla::train::RegressionMetrics {
            mae: f64::NAN,
            rmse: f64::NAN,
            r2: f64::NAN,
            count: 0,
        });
        println!(
            "test_r2={:.4} test_mae={:.4} test_rmse={:.4} test_loss={:.4}",
            r.r2, r.mae, r.rmse, ev.loss
        );
        return Ok(());
    }
    // one pass: the loss and the confusion matrix
    let (ev, cm) =
        nabla::train::evaluate_with_confusion(model, &make_loss(cfg), &mut l, data.outputs)
            .map_err(train_err)?;
    // per-class precision, recall and F1 with the confusion matrix, by name where known
    let cm = match &data.class_names {
        Some(n) if n.len() == cm.num_classes() => cm.with_class_names(n).map_err(train_err)?,
        _ => cm,
    };
    println!("{cm}");
    println!(
        "test_accuracy={:.4} test_loss={:.4}",
        ev.accuracy.unwrap_or(0.0),
        ev.loss
    );
    Ok(())
}

/// `nabla predict RUN_DIR INPUT...`: per input, the class and its probability, the
/// regression values, or (`logits`) the raw outputs as JSON; for a text model, the logits of
/// the next character at every position, one JSON object per position.
pub fn predict(run: &Path, checkpoint: Option<&Path>, inputs: &[PathBuf], logits: bool) -> R<()> {
    let (r, loaded) = open(run, checkpoint)?;
    if r.task() == Task::LanguageModel {
        let all = r.predict_text_files(inputs).map_err(train_err)?;
        eprintln!("{loaded}");
        for t in all {
            for (position, row) in t.logits.iter().enumerate() {
                println!(
                    "{}",
                    json!({"input": t.input, "position": position, "logits": row})
                );
            }
        }
        return Ok(());
    }
    let x = r.read_inputs(inputs).map_err(train_err)?;
    eprintln!("{loaded}");
    for p in r.predict(&x).map_err(train_err)? {
        match &p.output {
            _ if logits => println!("{}", json!({"input": p.input, "logits": p.logits})),
            Output::Values(v) => {
                let vals: Vec<String> = v.iter().map(|v| format!("{v:.4}")).collect();
                println!("{}: {}", p.input, vals.join(", "));
            }
            Output::Class {
                index,
                probability,
                name: Some(name),
            } => println!("{}: class {index} {name} (p={probability:.4})", p.input),
            Output::Class {
                index, probability, ..
            } => println!("{}: class {index} (p={probability:.4})", p.input),
        }
    }
    Ok(())
}

/// `nabla sample RUN_DIR`.
pub fn sample(
    run: &Path,
    checkpoint: Option<&Path>,
    opts: &nabla::experiment::SampleOptions,
) -> R<()> {
    if opts.length > nabla::experiment::MAX_SAMPLE_LENGTH {
        return Err(bad(format!(
            "--length: at most {} characters, got {}",
            nabla::experiment::MAX_SAMPLE_LENGTH,
            opts.length
        )));
    }
    let (r, loaded) = open(run, checkpoint)?;
    // the text streams out as it is drawn
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut started = false;
    r.sample_to(opts, &mut |piece| {
        if !started {
            eprintln!("{loaded}");
            started = true;
        }
        out.write_all(piece.as_bytes())
            .map_err(|e| nabla::core::Error::Io(format!("stdout: {e}")))
    })
    .map_err(train_err)?;
    writeln!(out).map_err(|e| internal(format!("stdout: {e}")))?;
    Ok(())
}

/// `nabla health RUN_DIR`: per parameter and activation layer, the first, last, smallest and
/// largest value of each statistic over the run's `health.jsonl`, then the diagnoses. Damaged
/// lines are reported on stderr and skipped (exit 0 when at least one record is complete).
pub fn health(run: &Path) -> R<()> {
    if let Some(why) = nabla::core::io::folder_problem(run) {
        return Err(bad(format!("run folder {}: {why}", run.display())));
    }
    if !run.join("config.toml").exists() {
        return Err(bad(format!(
            "{}: not a nabla run (no config.toml)",
            run.display()
        )));
    }
    let path = run.join("health.jsonl");
    let (records, damage) = nabla::train::health::read_health(&path).map_err(|e| {
        bad(format!(
            "{}: {e} (was the run trained with health_every = 0?)",
            path.display()
        ))
    })?;
    let summary = HealthSummary::new(&records).ok_or_else(|| {
        bad(format!(
            "{}: no complete health record ({} damaged line(s))",
            path.display(),
            damage.len()
        ))
    })?;
    for d in &damage {
        eprintln!("nabla: warning: {d}");
    }
    println!("{summary}");
    Ok(())
}

/// `nabla report RUN_DIR`: the HTML report into `RUN_DIR/report.html`, `output`, or stdout.
/// Damaged lines of the run's files are reported on stderr (exit 0); a folder that is not a
/// run, or a report that cannot be written (a read-only run folder), is exit 2 and leaves
/// the run folder as it was.
pub fn report(run: &Path, output: Option<&Path>, to_stdout: bool) -> R<()> {
    if let Some(o) = output {
        check_report_output(run, o)?;
    }
    let data = nabla::experiment::report::read_run(run).map_err(train_err)?;
    for d in &data.damage {
        eprintln!("nabla: warning: {d}");
    }
    let html = nabla::report::render(&data);
    if to_stdout {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return out
            .write_all(html.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| internal(format!("stdout: {e}")));
    }
    let path = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| run.join("report.html"));
    nabla::core::io::write_atomic(&path, html.as_bytes()).map_err(|e| {
        // the error names the temporary file; say it of the report
        let e = e.to_string();
        let reason = e.split_once(": ").map_or(e.as_str(), |(_, r)| r);
        bad(format!(
            "{}: {reason}; is the folder read-only? Write the report elsewhere with -o FILE, or to stdout with --stdout",
            path.display()
        ))
    })?;
    println!("report written to {}", path.display());
    Ok(())
}

/// Refuses a `report -o` path that is a folder, or a file of the run folder other than its
/// `report.html` (the report never replaces the run's own files).
fn check_report_output(run: &Path, o: &Path) -> R<()> {
    if o.is_dir() {
        return Err(bad(format!(
            "-o {}: is a folder; give the report's file name",
            o.display()
        )));
    }
    let parent = match o.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (inside, top) = match (std::fs::canonicalize(&parent), std::fs::canonicalize(run)) {
        (Ok(a), Ok(b)) => (a.starts_with(&b), a == b),
        _ => (false, false),
    };
    let name = o.file_name().map(|n| n.to_string_lossy().into_owned());
    if inside && !(top && name.as_deref() == Some("report.html")) {
        return Err(bad(format!(
            "-o {}: is a file of the run folder {}; the report goes to its report.html (no -o), \
             or to a file outside the run",
            o.display(),
            run.display()
        )));
    }
    Ok(())
}

/// `nabla summary CONFIG`.
pub fn summary(path: &Path, data_flag: Option<&Path>) -> R<()> {
    let cfg = ExperimentConfig::from_toml_file(path).map_err(train_err)?;
    println!(
        "{}",
        nabla::experiment::summarize(&cfg, data_flag).map_err(train_err)?
    );
    Ok(())
}

/// `nabla gradcheck CONFIG`: the model's own backprop checked in f64 on a small batch.
pub fn gradcheck(path: &Path, data_flag: Option<&Path>) -> R<bool> {
    let cfg = ExperimentConfig::from_toml_file(path).map_err(train_err)?;
    let data = load_data(&cfg, data_flag).map_err(train_err)?;
    let mut rng = Mt19937::new(0);
    let (model, _) =
        build_model(&cfg, &data.input_shape, Some(data.outputs), &mut rng).map_err(train_err)?;
    let n = data.train.len().min(8);
    let idx: Vec<usize> = (0..n).collect();
    let b = data.train.get_batch(&idx).map_err(|e| bad(e.to_string()))?;
    let lossf = make_loss(&cfg);
    let y = b.y.clone();
    let f = move |o: &Tensor| lossf(o, &y);
    let report = nabla::nn::gradcheck_module(&model, &b.x, &f, GradcheckOptions::default(), 20)
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
