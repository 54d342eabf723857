//! Experiments: a whole training run described by a TOML file (or built in Rust), parsed,
//! validated and built in the library, so a Rust program and the `nabla` CLI run the same
//! thing.
//!
//! ```no_run
//! use nabla_experiment::Experiment;
//! let exp = Experiment::from_toml_file("configs/mnist-mlp.toml")?.with_data_dir("data/mnist");
//! let run = exp.fit()?;
//! println!("{}", run.closing_line());
//! # Ok::<(), nabla_core::Error>(())
//! ```
//!
//! The config's tables and keys are the serde form of [`ExperimentConfig`]; a run folder
//! receives the resolved config (`config.toml`, complete: a run can be evaluated, predicted
//! with or resumed without flags), checkpoints, `metrics.jsonl`, `health.jsonl`,
//! `summary.json`, `confusion.json` (classifiers: the test set's), plots, the HTML report
//! `report.html` (see [`report`]) and, when asked, a TensorBoard event file. [`Run`] opens
//! such a folder again and predicts from raw inputs as training prepared its data.

pub mod bench;
pub mod build;
mod builders;
pub mod config;
pub mod data;
pub mod demo;
pub mod memory;
pub mod parallel;
pub mod report;
pub mod result;
pub mod resume;
pub mod run;
pub mod run_dir;
mod run_files;
pub mod run_lock;
pub mod sample;
pub mod summary;

pub use build::{build_model, make_loss, make_schedule};
pub use config::{ColumnKey, DataConfig, DatasetKind, ExperimentConfig, ModelConfig};
pub use data::{load_data, Data};
pub use memory::{estimate_memory, MemoryEstimate};
pub use nabla_nn::optim::OptimizerConfig;
pub use nabla_nn::schedule::ScheduleConfig;
pub use nabla_nn::LayerConfig;
pub use nabla_nn::LayerSummary;
pub use nabla_train::TrainConfig;
use result::metric_names;
pub use result::RunResult;
pub use run::{Columns, Inputs, Output, Prediction, Run, TextLogits};
pub use run_dir::{new_run_dir, open_run, open_run_with};
pub use run_lock::RunLock;
pub use sample::{sample_text, sample_text_to, SampleOptions, MAX_SAMPLE_LENGTH};
pub use summary::{model_summary, summarize, ConfigSummary};

use nabla_core::Error;
use nabla_core::Mt19937;
use nabla_data::{DataLoader, LoaderConfig, TensorDataset};
use nabla_nn::Module;
use nabla_train::distributed::{agree, Communicator, SingleProcess};
use nabla_train::progress::ProgressMode;
use nabla_train::trainer::{Task, Trainer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A training run to carry out: a validated config and where its data and results go.
#[derive(Clone)]
pub struct Experiment {
    /// The config (validated when the experiment was made; change it through the builders or
    /// validate it again).
    pub config: ExperimentConfig,
    /// The experiment's name (a config file's stem), used in run folder names.
    pub name: String,
    data_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    runs_root: PathBuf,
    progress: Option<ProgressMode>,
    resume: Option<PathBuf>,
    /// The resumed run's `train.epochs` before `--epochs`.
    resumed_epochs: Option<usize>,
    comm: Option<Arc<dyn Communicator>>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiment")
            .field("config", &self.config)
            .field("name", &self.name)
            .field("data_dir", &self.data_dir)
            .field("out_dir", &self.out_dir)
            .field("runs_root", &self.runs_root)
            .field("progress", &self.progress)
            .field("resume", &self.resume)
            .field("ranks", &self.comm.as_ref().map(|c| c.size()))
            .finish()
    }
}

fn loader(
    ds: &TensorDataset,
    batch: usize,
    shuffle: bool,
    seed: u64,
    shard: nabla_data::Shard,
) -> Result<DataLoader, Error> {
    DataLoader::new(
        ds.clone(),
        LoaderConfig::new(batch)
            .with_shuffle(shuffle)
            .with_seed(seed)
            .with_shard(shard),
    )
}

impl Experiment {
    /// An experiment of `config`, validated.
    ///
    /// Fails ([`Error::Config`]) when a value is out of range (see
    /// [`ExperimentConfig::validate`]).
    pub fn new(config: ExperimentConfig, name: impl Into<String>) -> Result<Self, Error> {
        config.validate().map_err(Error::Config)?;
        Ok(Experiment {
            config,
            name: name.into(),
            data_dir: None,
            out_dir: None,
            runs_root: PathBuf::from("runs"),
            progress: None,
            resume: None,
            resumed_epochs: None,
            comm: None,
            stop: None,
        })
    }

    /// The hello-world: an MLP on the bundled digits (`configs/digits-mlp.toml`).
    pub fn digits_mlp() -> Self {
        Self::new(ExperimentConfig::digits_mlp(), "digits-mlp")
            .expect("the built-in config is valid")
    }

    /// Parses TOML text (see [`ExperimentConfig::from_toml_str`]); `name` names it in
    /// messages and run folders.
    pub fn from_toml_str(text: &str, name: &str) -> Result<Self, Error> {
        let cfg = ExperimentConfig::from_toml_str(text, name)?;
        Self::new(cfg, name)
    }

    /// Reads a TOML config file; the experiment is named after the file's stem.
    ///
    /// Fails when the file cannot be read or is not a valid config (the message names the
    /// file and the key path).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let cfg = ExperimentConfig::from_toml_file(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        Self::new(cfg, name)
    }

    /// Continues the run in `run_dir` from its newest complete checkpoint, with the config
    /// saved there (from the start when the run died before its first checkpoint). The
    /// result is bitwise the same as a run never interrupted; [`Experiment::with_epochs`]
    /// may extend it.
    ///
    /// Fails when `run_dir` is not a run folder.
    pub fn resume(run_dir: impl AsRef<Path>) -> Result<Self, Error> {
        let run = run_dir.as_ref();
        if let Some(why) = nabla_core::io::folder_problem(run) {
            return Err(Error::Config(format!("--resume {}: {why}", run.display())));
        }
        let saved = run.join("config.toml");
        if !saved.exists() {
            return Err(Error::Config(format!(
                "--resume {}: not a nabla run (no config.toml)",
                run.display()
            )));
        }
        let mut e = Self::from_toml_file(&saved)?;
        e.name = run
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        e.resume = Some(run.to_path_buf());
        e.resumed_epochs = Some(e.config.train.epochs);
        e.out_dir = Some(run.to_path_buf());
        Ok(e)
    }

    /// The data folder or file given with [`Experiment::with_data_dir`].
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Loads and splits the data (see [`load_data`]).
    pub fn load_data(&self) -> Result<Data, Error> {
        load_data(&self.config, self.data_dir.as_deref())
    }

    /// The run folder this experiment writes to: the resumed run's, the one given, the
    /// config's `train.out_dir`, or a new `runs/<date>_<time>-<name>`.
    pub fn out_dir(&self) -> PathBuf {
        self.out_dir
            .clone()
            .or_else(|| self.config.train.out_dir.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| new_run_dir(&self.runs_root, &self.name))
    }

    /// Trains: loads the data, builds the model, optimizer and schedule, trains with
    /// checkpoints, evaluates on the test set, and writes the run folder (config,
    /// checkpoints, `metrics.jsonl`, `summary.json`, `confusion.json`, plots, `report.html`;
    /// a run that fails while training still gets its report).
    ///
    /// Fails before loading any data when the run folder already holds a run (unless
    /// resuming) or cannot be written; then as the data, the model and training fail.
    ///
    /// With a communicator of several ranks ([`Experiment::with_communicator`]) every rank
    /// calls it; a rank whose config (or data) differs from rank 0's, or that cannot read
    /// what it needs, stops every rank with [`Error::AllRanks`] naming it; a training
    /// batch smaller than the number of ranks is refused.
    pub fn fit(&self) -> Result<RunResult, Error> {
        let comm: Arc<dyn Communicator> = self.comm.clone().unwrap_or(Arc::new(SingleProcess));
        let comm = comm.as_ref();
        let (rank, ranks) = (comm.rank(), comm.size());
        let root = rank == 0;
        let mut cfg = self.config.clone();
        agree(comm, cfg.validate().map_err(Error::Config))?;
        if ranks > 1 {
            let text = agree(comm, parallel::canonical_config(&cfg))?;
            // whether it resumes is part of what the ranks must share
            let text = format!("{text}\n[launch]\nresume = {}\n", self.resume.is_some());
            nabla_train::distributed::check_same_text(comm, &text, parallel::config_difference)?;
            let small = if cfg.train.batch_size < ranks {
                Err(Error::Config(format!(
                    "train.batch_size = {} is smaller than the {ranks} ranks: every rank needs \
                     at least one sample of each batch (a larger batch_size, or fewer ranks)",
                    cfg.train.batch_size
                )))
            } else {
                Ok(())
            };
            agree(comm, small)?;
        }
        // rank 0 names, locks and checks the run folder (the lock is held until the run
        // ends); the others learn its name
        let mut out = self.out_dir();
        let lock = agree(
            comm,
            if root {
                RunLock::acquire(&out).map(Some)
            } else {
                Ok(None)
            },
        )?;
        let holds_run = out.join("checkpoints").exists() || out.join("config.toml").exists();
        let fresh = if root && self.resume.is_none() && holds_run {
            Err(Error::Config(format!(
                "output folder {} already holds a run; use --resume or another --out",
                out.display()
            )))
        } else {
            Ok(())
        };
        agree(comm, fresh)?;
        if ranks > 1 {
            let mut name = out.to_string_lossy().into_owned().into_bytes();
            comm.broadcast_bytes(0, &mut name)?;
            out = PathBuf::from(String::from_utf8_lossy(&name).into_owned());
        }
        let data = agree(comm, self.load_data())?;
        if ranks > 1 {
            let fp = agree(comm, parallel::data_fingerprint(&data))?;
            nabla_train::distributed::check_same_state(comm, 0, fp).map_err(|e| match e {
                Error::AllRanks { rank, .. } => Error::AllRanks {
                    rank,
                    msg: "this rank's data differ from rank 0's (other files, or another \
                          version of them, on its host)"
                        .into(),
                },
                e => e,
            })?;
        }
        // the saved config is complete: eval, predict and --resume need no flags
        cfg.model.input_shape = Some(data.input_shape.clone());
        cfg.train.out_dir = None;
        let flag = self.data_dir.as_deref();
        let resolved = (|| -> Result<Option<String>, Error> {
            Ok(if cfg.data.dataset.has_test_files() {
                Some(run_files::canonical(&data::data_dir(&cfg, flag)?))
            } else if matches!(cfg.data.dataset, DatasetKind::Csv | DatasetKind::Text) {
                Some(run_files::canonical(&data::csv_path(&cfg, flag)?))
            } else {
                cfg.data.path.clone()
            })
        })();
        cfg.data.path = agree(comm, resolved)?;
        if let Some(v) = &data.vocab {
            // the saved config names the vocabulary size, so the model rebuilds without data
            for l in &mut cfg.model.layers {
                if let LayerConfig::Embedding(e) = l {
                    e.num.get_or_insert(v.len());
                }
            }
        }
        let task = cfg.data.task();
        agree(
            comm,
            memory::check_memory(
                &cfg,
                &data.input_shape,
                Some(data.outputs),
                data.bytes(),
                data.eval_batch(),
            ),
        )?;
        let mut rng = Mt19937::new(nabla_core::stream_seed(cfg.train.seed, "init"));
        let built = build_model(&cfg, &data.input_shape, Some(data.outputs), &mut rng);
        let (model, _) = agree(comm, built)?;
        let n_params = nabla_nn::parameter_count(&model);
        let mut optimizer = cfg
            .train
            .optimizer
            .build(model.parameters().into_iter().map(|(_, v)| v).collect());
        let shard = nabla_data::Shard::new(rank, ranks)?;
        let mut train_loader = match &data.train_windows {
            // windows at random offsets: each epoch draws as many as the fixed ones
            Some(w) => DataLoader::new(
                w.clone(),
                LoaderConfig::new(cfg.train.batch_size)
                    .with_shuffle(true)
                    .with_seed(cfg.train.seed)
                    .with_shard(shard)
                    .with_num_samples(nabla_data::Dataset::len(&data.train)),
            )?,
            None => loader(
                &data.train,
                cfg.train.batch_size,
                true,
                cfg.train.seed,
                shard,
            )?,
        };
        let sched = make_schedule(&cfg, optimizer.as_mut(), train_loader.len())?;
        let progress = if root {
            self.progress
                .or(cfg.train.progress)
                .unwrap_or(ProgressMode::Auto)
        } else {
            ProgressMode::Quiet
        };
        let tc = TrainConfig {
            out_dir: Some(out.clone()),
            schedule_per_step: Some(sched.as_ref().is_some_and(|s| s.1)),
            progress: Some(progress),
            task,
            ..cfg.train.clone()
        };
        let mut trainer =
            Trainer::new(model, optimizer, make_loss(&cfg), tc).with_run_config(cfg.to_toml()?);
        if cfg.train.tensorboard {
            trainer = trainer.with_callback(nabla_report::TensorBoard::default());
        }
        if let Some((s, _)) = sched {
            trainer = trainer.with_boxed_scheduler(s);
        }
        if let Some(c) = &self.comm {
            trainer = trainer.with_communicator(c.clone());
        }
        if let Some(f) = &self.stop {
            trainer = trainer.with_callback(nabla_train::StopFlag(f.clone()));
        }
        // rank 0 writes the run's files once everything that can refuse the run has passed
        let write_files = || {
            agree(
                comm,
                if root {
                    run_files::write(&out, &cfg, &data)
                } else {
                    Ok(())
                },
            )
        };
        let mut resumed_from = None;
        if self.resume.is_some() {
            let (ck, skipped) = agree(
                comm,
                nabla_train::checkpoint::latest_checkpoint_reporting(&out),
            )?;
            for s in skipped.iter().filter(|_| root) {
                log::warn!(
                    "checkpoint {} is damaged, passed over: {}",
                    s.dir.display(),
                    s.reason
                );
            }
            let resumed = ck.is_some();
            // (every rank takes part in the agreement, with a checkpoint or without)
            let extended = self.resumed_epochs.is_some_and(|e| cfg.train.epochs > e);
            let restored = match &ck {
                Some(ck) => resume::check_resume(&out, ck, &cfg, train_loader.len(), extended)
                    .and_then(|_| trainer.restore(ck, &mut train_loader)),
                None if root => resume::check_restart(&out),
                None => Ok(()),
            };
            // a text run continues on the vocabulary it was trained with
            let same_vocab = match (&data.vocab, root) {
                (Some(v), true) => resume::check_vocab(&out, v),
                _ => Ok(()),
            };
            let restored = restored.and(same_vocab);
            agree(comm, restored)?;
            // every rank holds rank 0's state, checked before anything is written
            trainer.start_parallel(&train_loader)?;
            if let Some(ck) = &ck {
                let before = ck.state.world_size;
                if before != ranks && root && progress != ProgressMode::Quiet {
                    log::info!(
                        "note: the run was trained on {before} rank(s) and continues on {ranks}: \
                         the same batches, samples and dropout masks, summed in another order \
                         (equal to float rounding, not bitwise)"
                    );
                }
            }
            write_files()?;
            // health records past the checkpoint are written again by the resumed run
            let hp = out.join("health.jsonl");
            if let Some(Ok((records, _))) = root.then(|| nabla_train::health::read_health(&hp)) {
                let mut text = String::new();
                for r in records.iter().filter(|r| r.step <= trainer.step()) {
                    text.push_str(&serde_json::to_string(r).map_err(|e| Error::Io(e.to_string()))?);
                    text.push('\n');
                }
                nabla_core::io::write_atomic(&hp, text.as_bytes())?;
            }
            if progress != ProgressMode::Quiet {
                if resumed {
                    log::info!(
                        "resuming {} at epoch {}, step {}",
                        out.display(),
                        trainer.epoch() + 1,
                        trainer.step()
                    );
                } else {
                    log::info!(
                        "no checkpoint in {}: starting it from the beginning",
                        out.display()
                    );
                }
            }
            if resumed {
                resumed_from = Some((trainer.epoch(), trainer.step()));
            }
        } else {
            write_files()?;
        }
        let mut val_loader = match &data.val {
            Some(v) => Some(loader(v, 256, false, 0, shard)?),
            None => None,
        };
        let report = match trainer.fit(&mut train_loader, val_loader.as_mut()) {
            Ok(r) => r,
            Err(e) => {
                // the report of a run that stopped (a NaN, say) shows its health and diagnoses
                if root {
                    let _ = report::write_report(&out);
                }
                return Err(e);
            }
        };
        let mut test_loader = loader(&data.test, 256, false, 0, shard)?;
        let test = if nabla_data::Dataset::is_empty(&data.test) {
            // no metric for data that do not exist
            None
        } else if task == Task::Classification && ranks == 1 {
            let (test, cm) = nabla_train::evaluate_with_confusion(
                trainer.model.as_ref(),
                &trainer.loss,
                &mut test_loader,
                data.outputs,
            )?;
            let classes: Vec<String> = match &data.class_names {
                Some(n) if n.len() == data.outputs => n.clone(),
                _ => cm.class_names().to_vec(),
            };
            let j = json!({"split": "test", "classes": classes, "counts": cm.counts()});
            nabla_train::trainer::write_json(&out.join("confusion.json"), &j)?;
            Some(test)
        } else {
            // several ranks: each evaluates its slice and the sums are reduced (the confusion
            // matrix, one process's view, is left out of such a run's report)
            Some(trainer.evaluate(&mut test_loader)?)
        };
        let rows: Vec<nabla_report::plot::EpochRow> = report
            .history
            .iter()
            .map(|h| nabla_report::plot::EpochRow {
                epoch: h.epoch,
                train_loss: h.train_loss,
                train_accuracy: h.train_accuracy,
                val_loss: h.val_loss,
                val_accuracy: h.val_accuracy,
            })
            .collect();
        if let Some(Err(e)) = root.then(|| nabla_report::plot::plot_training(&rows, &out)) {
            log::warn!("plots not written: {e}");
        }
        let mut summary = json!({
            "epochs": report.history.len(),
            "train_seconds": report.seconds,
            "parameters": n_params,
            "samples_per_second": if report.seconds > 0.0 { report.samples as f64 / report.seconds } else { 0.0 },
            "stopped_early": report.stopped_early,
        });
        if ranks > 1 {
            summary["ranks"] = json!(ranks);
            summary["allreduce_ms_per_step"] =
                json!(1e3 * report.allreduce_seconds / report.steps.max(1) as f64);
        }
        if let (Some(test), false) = (&test, task == Task::LanguageModel) {
            summary["test_loss"] = json!(test.loss);
        }
        for m in metric_names(&cfg) {
            let Some(test) = &test else { break };
            let v = match (m.as_str(), test.accuracy, test.regression) {
                ("accuracy", Some(a), _) => Some(a),
                ("mae", _, Some(r)) => Some(r.mae),
                ("rmse", _, Some(r)) => Some(r.rmse),
                ("r2", _, Some(r)) => Some(r.r2),
                _ => None,
            };
            if let Some(v) = v {
                summary[format!("test_{m}")] = json!(v);
            }
        }
        if let (Some(test), true) = (&test, task == Task::LanguageModel) {
            summary["val_loss"] = json!(test.loss);
            summary["val_bpc"] = json!(test.loss / std::f64::consts::LN_2);
        }
        if root {
            nabla_train::trainer::write_json(&out.join("summary.json"), &summary)?;
            match report::write_report(&out) {
                Ok(w) => {
                    for d in w.damage {
                        log::warn!("{d}");
                    }
                }
                Err(e) => log::warn!("report.html not written: {e}"),
            }
        }
        drop(lock);
        Ok(RunResult {
            dir: out,
            config: cfg,
            history: report.history,
            test,
            summary,
            resumed_from,
        })
    }
}
