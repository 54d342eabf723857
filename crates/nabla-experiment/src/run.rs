//! A run folder opened again: the model with its weights and what the experiment saved
//! beside them (`standardizer.json`, `columns.json`, `vocab.json`), so raw inputs are
//! prepared exactly as training prepared its data before the model sees them.
//!
//! ```no_run
//! use nabla_experiment::{Output, Run};
//! let run = Run::open("runs/iris")?;
//! for p in run.predict_files(&["flowers.csv"])? {
//!     if let Output::Class { index, probability, name } = &p.output {
//!         println!("{}: {index} {name:?} (p={probability:.3})", p.input);
//!     }
//! }
//! # Ok::<(), nabla_core::Error>(())
//! ```

use crate::config::ExperimentConfig;
use crate::data::prediction_rows;
use crate::run_dir::open_run_with;
use crate::sample::{sample_text, SampleOptions};
use nabla_core::{Error, Result, Tensor};
use nabla_data::{Standardizer, Vocab};
use nabla_nn::Sequential;
use nabla_train::checkpoint::Skipped;
use nabla_train::trainer::Task;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `columns.json` of a run trained on a CSV file: where its label column was, and the class
/// names when the labels were text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Columns {
    /// The label column's 0-based index among the file's columns.
    #[serde(default)]
    pub label_index: Option<usize>,
    /// The class names, in class-index order.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

/// Inputs read for a run's model: one name per sample (`file` for an image, `file:row` for a
/// CSV row) and the raw samples, `[n, input_shape...]`, not yet standardized.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Each sample's name.
    pub names: Vec<String>,
    /// The samples as read.
    pub x: Tensor,
}

/// What the model says of one input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Classification: the most likely class, its softmax probability, and its name when the
    /// data named the classes.
    Class {
        /// The class index.
        index: usize,
        /// Its probability.
        probability: f64,
        /// Its name.
        name: Option<String>,
    },
    /// Regression: the predicted values, one per target column.
    Values(Vec<f64>),
}

/// One input's prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The input's name (see [`Inputs::names`]).
    pub input: String,
    /// The model's raw outputs (logits for a classifier).
    pub logits: Vec<f64>,
    /// Their meaning for the run's task.
    pub output: Output,
}

/// The next-character logits of a text, for a language-model run.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLogits {
    /// The text file's name.
    pub input: String,
    /// Per position, the logits of the character that follows it (vocabulary order).
    pub logits: Vec<Vec<f64>>,
}

/// A finished (or interrupted) run opened again for prediction.
pub struct Run {
    /// The run folder (the config file for a model made by [`Run::from_config`]).
    pub dir: PathBuf,
    /// Its saved config.
    pub config: ExperimentConfig,
    /// Its model, with the checkpoint's weights.
    pub model: Sequential,
    /// The weights file loaded.
    pub weights: PathBuf,
    /// Newer checkpoints passed over because they were damaged (each also logged as a
    /// warning), newest first.
    pub skipped: Vec<Skipped>,
    input_shape: Vec<usize>,
    standardizer: Option<Standardizer>,
    columns: Option<Columns>,
    /// A text model's vocabulary when it did not come from a run folder.
    vocab: Option<Vocab>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("dir", &self.dir)
            .field("weights", &self.weights)
            .field("input_shape", &self.input_shape)
            .field("standardizer", &self.standardizer.is_some())
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// Reads a small JSON file of the run folder; `None` when it does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Config(format!("{}: corrupted ({e})", path.display())))
}

/// The saved standardizer of a run whose features were standardized.
fn read_standardizer(dir: &Path, cfg: &ExperimentConfig) -> Result<Option<Standardizer>> {
    #[derive(Deserialize)]
    struct Saved {
        mean: Vec<f64>,
        std: Vec<f64>,
    }
    if !cfg.data.standardize() {
        return Ok(None);
    }
    let path = dir.join("standardizer.json");
    let saved: Saved = read_json(&path)?.ok_or_else(|| {
        Error::Config(format!(
            "{}: missing; the model was trained on standardized features and needs it \
             (or data.standardize = false in the config)",
            path.display()
        ))
    })?;
    Standardizer::from_parts(saved.mean, saved.std)
        .map(Some)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

impl Run {
    /// [`Run::open_with`] the newest readable checkpoint.
    pub fn open(dir: impl AsRef<Path>) -> Result<Run> {
        Self::open_with(dir, None)
    }

    /// The run in `dir` with the weights of `checkpoint` (a checkpoint folder or a
    /// safetensors file) when given, else of the newest checkpoint whose weights can be read;
    /// damaged newer ones are passed over with a warning (`log`). Reads the standardizer
    /// and the CSV columns the experiment saved; no data is read.
    ///
    /// Fails when `dir` is not a run folder, its config is damaged, it has no readable
    /// checkpoint, the weights do not fit the model, or a standardized run's
    /// `standardizer.json` (or its `columns.json`) is missing or damaged.
    pub fn open_with(dir: impl AsRef<Path>, checkpoint: Option<&Path>) -> Result<Run> {
        let dir = dir.as_ref();
        let (config, model, weights) = open_run_with(dir, checkpoint)?;
        for s in &weights.skipped {
            log::warn!(
                "checkpoint {} is damaged, passed over: {}",
                s.dir.display(),
                s.reason
            );
        }
        let standardizer = read_standardizer(dir, &config)?;
        let columns = read_json(&dir.join("columns.json"))?;
        Ok(Run {
            dir: dir.to_path_buf(),
            input_shape: config.model.input_shape.clone().unwrap_or_default(),
            model,
            weights: weights.file,
            skipped: weights.skipped,
            standardizer,
            columns,
            config,
            vocab: None,
        })
    }

    /// A model from a config and a checkpoint, without a run folder: the config's data is
    /// read as training read it (its split and seed), for the input shape, the number of
    /// outputs, the standardizer fitted on the training split and a text's vocabulary; then
    /// the checkpoint's weights are loaded (a checkpoint folder or a `model.safetensors`).
    ///
    /// Fails when the config or its data cannot be read, or the checkpoint does not fit the
    /// config's model (naming the tensors).
    pub fn from_config(
        config: impl AsRef<Path>,
        checkpoint: &Path,
        data_dir: Option<&Path>,
    ) -> Result<Run> {
        let path = config.as_ref();
        let mut cfg = ExperimentConfig::from_toml_file(path)?;
        let weights = nabla_train::checkpoint::read_model_weights(checkpoint)?;
        let data = crate::data::load_data(&cfg, data_dir)?;
        let mut rng = nabla_core::Mt19937::new(0);
        let (model, _) =
            crate::build::build_model(&cfg, &data.input_shape, Some(data.outputs), &mut rng)?;
        nabla_train::checkpoint::load_model_tensors(
            &model,
            &weights.tensors,
            &weights.file.display().to_string(),
        )?;
        cfg.model.input_shape = Some(data.input_shape.clone());
        let columns = cfg.data.path.as_ref().map(|_| Columns {
            label_index: data.label_index,
            classes: data.class_names.clone(),
        });
        Ok(Run {
            dir: path.to_path_buf(),
            input_shape: data.input_shape,
            model,
            weights: weights.file,
            skipped: Vec::new(),
            standardizer: data.standardizer,
            columns,
            config: cfg,
            vocab: data.vocab,
        })
    }

    /// What the model was trained for.
    pub fn task(&self) -> Task {
        self.config.data.task()
    }

    /// The shape of one sample as the model takes it.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The run's model as an ONNX model (see [`nabla_onnx::export`]) of the given opset:
    /// its input is the raw sample (a standardized run's standardizer is the graph's first
    /// ops), with a dynamic batch axis.
    ///
    /// Fails as [`nabla_onnx::export`] does (naming a layer with no ONNX form).
    pub fn export_onnx(&self, opset: i64) -> Result<nabla_onnx::Exported> {
        let opts = nabla_onnx::ExportOptions {
            input_shape: self.input_shape.clone(),
            opset,
            standardize: self
                .standardizer
                .as_ref()
                .map(|s| (s.mean().to_vec(), s.std().to_vec())),
            doc: format!("exported from {}", self.weights.display()),
        };
        nabla_onnx::export(&self.config.model.layers, &self.model, &opts)
    }

    /// The standardizer fitted on the training split, when the features were standardized.
    pub fn standardizer(&self) -> Option<&Standardizer> {
        self.standardizer.as_ref()
    }

    /// The CSV columns of a run trained on a CSV file.
    pub fn columns(&self) -> Option<&Columns> {
        self.columns.as_ref()
    }

    /// The class names, when they are known: a CSV's text labels, Fashion-MNIST's classes.
    pub fn class_names(&self) -> Option<Vec<String>> {
        if self.config.data.dataset == crate::config::DatasetKind::FashionMnist {
            return Some(nabla_data::FASHION_MNIST_CLASSES.map(String::from).to_vec());
        }
        self.columns.as_ref()?.classes.clone()
    }

    /// Reads inputs as the model takes them: PNG images (grayscale, `[0, 1]`) of the model's
    /// size, and CSV files of feature rows, or rows in the training file's own format (its
    /// header and label column are recognized and dropped; see [`prediction_rows`]).
    ///
    /// Fails, naming the file (and row), when one cannot be read or does not fit the model,
    /// when there is no input at all, or for a text model (see [`Run::predict_text_files`]).
    pub fn read_inputs<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Inputs> {
        if self.task() == Task::LanguageModel {
            return Err(Error::Config(format!(
                "{}: a text model: its inputs are text files (next-character logits)",
                self.dir.display()
            )));
        }
        let per: usize = self.input_shape.iter().product();
        let label_index = self.columns.as_ref().and_then(|c| c.label_index);
        let mut names = Vec::new();
        let mut flat: Vec<f32> = Vec::new();
        for p in paths {
            let p = p.as_ref();
            let is_png = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
            if is_png {
                let (px, w, h) = nabla_report::image::read_png_gray(p)?;
                if px.len() != per {
                    return Err(Error::Config(format!(
                        "{}: image is {w}x{h} ({} pixels) but the model takes {per} values",
                        p.display(),
                        px.len()
                    )));
                }
                names.push(p.display().to_string());
                flat.extend(px);
            } else {
                for (name, row) in prediction_rows(&self.config, p, per, label_index)? {
                    names.push(name);
                    flat.extend(row);
                }
            }
        }
        if names.is_empty() {
            return Err(Error::Config("predict: no input".into()));
        }
        let mut shape = vec![names.len()];
        shape.extend_from_slice(&self.input_shape);
        Ok(Inputs {
            x: Tensor::from_vec(flat, &shape)?,
            names,
        })
    }

    /// Raw samples `[n, input_shape...]` prepared as training prepared its data: standardized
    /// with the saved statistics when the run standardized its features.
    ///
    /// Fails when the samples do not have the standardizer's number of features.
    pub fn prepare(&self, x: &Tensor) -> Result<Tensor> {
        match &self.standardizer {
            Some(s) => s.transform(x),
            None => Ok(x.clone()),
        }
    }

    /// The model's outputs for raw samples ([`Run::prepare`]d first), in eval mode.
    ///
    /// Fails as [`Run::prepare`] and the model do.
    pub fn outputs(&self, x: &Tensor) -> Result<Tensor> {
        nabla_train::predict(&self.model, &self.prepare(x)?)
    }

    /// Per input: the raw outputs and, for a regression run, the values; for any other, the
    /// most likely class with its softmax probability and name.
    ///
    /// Fails as [`Run::outputs`] does, or when the model's output is not one row per input.
    pub fn predict(&self, inputs: &Inputs) -> Result<Vec<Prediction>> {
        let out = self.outputs(&inputs.x)?;
        let rows = out.to_vec2_f64()?;
        let outputs: Vec<Output> = if self.task() == Task::Regression {
            rows.iter().map(|r| Output::Values(r.clone())).collect()
        } else {
            let names = self.class_names();
            out.softmax(-1)?
                .to_vec2_f64()?
                .into_iter()
                .map(|p| {
                    let (index, probability) = p
                        .iter()
                        .enumerate()
                        .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
                    Output::Class {
                        index,
                        probability,
                        name: names.as_ref().and_then(|n| n.get(index)).cloned(),
                    }
                })
                .collect()
        };
        Ok(inputs
            .names
            .iter()
            .zip(rows)
            .zip(outputs)
            .map(|((input, logits), output)| Prediction {
                input: input.clone(),
                logits,
                output,
            })
            .collect())
    }

    /// [`Run::read_inputs`] then [`Run::predict`].
    pub fn predict_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Vec<Prediction>> {
        self.predict(&self.read_inputs(paths)?)
    }

    /// The vocabulary of a text run (`vocab.json`).
    ///
    /// Fails when the run is not a text model, or its vocabulary cannot be read.
    pub fn vocab(&self) -> Result<Vocab> {
        if self.task() != Task::LanguageModel {
            return Err(Error::Config(format!(
                "{}: not a text model (its dataset is {}); sample needs a run trained on dataset = \"text\"",
                self.dir.display(),
                crate::config::dataset_name(self.config.data.dataset)
            )));
        }
        match &self.vocab {
            Some(v) => Ok(v.clone()),
            None => Vocab::load(self.dir.join("vocab.json")),
        }
    }

    /// For each text file, the logits of the next character at every position.
    ///
    /// Fails, naming the file, when one cannot be read, is empty or has a character outside
    /// the vocabulary; and as [`Run::vocab`] does.
    pub fn predict_text_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Vec<TextLogits>> {
        let vocab = self.vocab()?;
        let mut all = Vec::new();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).map_err(|e| Error::file(p, e))?;
            let ids = vocab
                .encode(&text)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            if ids.is_empty() {
                return Err(Error::Config(format!("{}: no text", p.display())));
            }
            let x = Tensor::from_vec(ids.clone(), &[1, ids.len()])?;
            let out = nabla_train::predict(&self.model, &x)?;
            let &[_, _, v] = out.shape() else {
                return Err(Error::Config(format!(
                    "{}: the model's output {:?} is not [1, T, vocabulary]",
                    self.dir.display(),
                    out.shape()
                )));
            };
            let flat = out.to_vec_f64();
            all.push(TextLogits {
                input: p.display().to_string(),
                logits: flat.chunks(v.max(1)).map(<[f64]>::to_vec).collect(),
            });
        }
        Ok(all)
    }

    /// Text sampled from a text run's model (see [`sample_text`]).
    ///
    /// Fails as [`Run::vocab`] and [`sample_text`] do.
    pub fn sample(&self, opts: &SampleOptions) -> Result<String> {
        sample_text(&self.model, &self.vocab()?, &self.sample_options(opts))
    }

    /// `opts` with the context a transformer model sees at once (its positional
    /// embedding's `max_len`, else `data.seq_len`), when it has attention.
    fn sample_options(&self, opts: &SampleOptions) -> SampleOptions {
        let layers = &self.config.model.layers;
        let attention = layers
            .iter()
            .any(|l| matches!(l, crate::LayerConfig::Transformer(_)));
        let max_len = layers.iter().find_map(|l| match l {
            crate::LayerConfig::PositionalEmbedding(p) => Some(p.max_len),
            _ => None,
        });
        let mut o = opts.clone();
        if attention && o.context.is_none() {
            o.context = Some(max_len.unwrap_or(self.config.data.seq_len()));
        }
        o
    }

    /// [`Run::sample`], streamed: see [`crate::sample::sample_text_to`].
    pub fn sample_to(
        &self,
        opts: &SampleOptions,
        sink: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        crate::sample::sample_text_to(
            &self.model,
            &self.vocab()?,
            &self.sample_options(opts),
            sink,
        )
    }
}
