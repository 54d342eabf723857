//! The serde form of an experiment: `[data]`, `[model]`, `[train]`, parsed from TOML into
//! plain structs and validated before anything trains. Errors name the key path
//! (`train.epochs`), or the layer (index, type and both shapes).

use nabla_core::Error;
use nabla_nn::loss::LossKind;
use nabla_nn::LayerConfig;
use nabla_train::trainer::Task;
use nabla_train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole experiment config (a TOML file with the tables `[data]`, `[model]`, `[train]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Where the data comes from.
    #[serde(default)]
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// How it trains.
    #[serde(default)]
    pub train: TrainConfig,
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The bundled 8×8 digits (1797 images, 64 features, 10 classes).
    #[default]
    Digits,
    /// The bundled diabetes regression set (442 patients, 10 features, one target).
    Diabetes,
    /// MNIST IDX files in a folder.
    Mnist,
    /// Fashion-MNIST IDX files in a folder.
    FashionMnist,
    /// A CSV file.
    Csv,
    /// A UTF-8 text file, for character-level language models.
    Text,
}

impl DatasetKind {
    /// Whether the data comes as separate train and test files (the MNIST family), so
    /// `test_split` does not apply.
    pub fn has_test_files(self) -> bool {
        matches!(self, DatasetKind::Mnist | DatasetKind::FashionMnist)
    }
    /// The task the dataset poses unless `data.task` says otherwise.
    pub fn default_task(self) -> Task {
        match self {
            DatasetKind::Diabetes => Task::Regression,
            DatasetKind::Text => Task::LanguageModel,
            _ => Task::Classification,
        }
    }
}

/// A CSV column: its 0-based index (`label_column = 4`) or its header name
/// (`label_column = "label"`; a name of digits, `"4"`, is read as the index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKey {
    /// The column at this 0-based index.
    Index(usize),
    /// The column with this header name.
    Name(String),
}

impl Serialize for ColumnKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ColumnKey::Index(i) => s.serialize_u64(*i as u64),
            ColumnKey::Name(n) => s.serialize_str(n),
        }
    }
}

impl<'de> Deserialize<'de> for ColumnKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ColumnKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a 0-based column index (0, 1, ...) or a header name")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ColumnKey, E> {
                usize::try_from(v)
                    .map(ColumnKey::Index)
                    .map_err(|_| E::custom(format!("column index {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ColumnKey, E> {
                u64::try_from(v)
                    .map_err(|_| {
                        E::custom(format!(
                            "{v} is not a column: a 0-based index (0, 1, ...) or a header name"
                        ))
                    })
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ColumnKey, E> {
                Ok(match v.parse::<usize>() {
                    Ok(i) => ColumnKey::Index(i),
                    Err(_) => ColumnKey::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `[data]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// digits | diabetes | mnist | fashion-mnist | csv
    #[serde(default)]
    pub dataset: DatasetKind,
    /// Folder (mnist, fashion-mnist) or file (csv); `--data` and `NABLA_DATA` override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// classification | regression (default: regression for diabetes, else classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// CSV: the label column (a header name or a 0-based index); default the last column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<ColumnKey>,
    /// CSV: whether the first row is a header (default: detected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    /// CSV: lines skipped before the header or the first row (default 0; scikit-learn's
    /// count line `n_samples,n_features,...` is detected without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_rows: Option<usize>,
    /// CSV: the field separator, one character; `" "` splits on runs of whitespace
    /// (default `","`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Text: the window length in characters (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    /// Text: training windows start at random characters (as nanoGPT's `get_batch`
    /// draws them), a fresh draw of distinct offsets each epoch, instead of the fixed
    /// non-overlapping windows; an epoch keeps as many windows as those (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random_windows: bool,
    /// Fraction of the training data held out for validation (text: the last part of the
    /// text).
    #[serde(default = "default_val")]
    pub validation_split: f64,
    /// Fraction held out as the test set (digits, diabetes and CSV; MNIST has its own test
    /// files). Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_split: Option<f64>,
    /// CSV and diabetes: standardize features, fitted on the training split only (default
    /// true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize: Option<bool>,
}

fn default_val() -> f64 {
    0.1
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: DatasetKind::Digits,
            path: None,
            task: None,
            label_column: None,
            header: None,
            skip_rows: None,
            delimiter: None,
            seq_len: None,
            random_windows: false,
            validation_split: default_val(),
            test_split: None,
            standardize: None,
        }
    }
}

impl DataConfig {
    /// The task: `task` when given, else the dataset's.
    pub fn task(&self) -> Task {
        self.task.unwrap_or(self.dataset.default_task())
    }
    /// The window length of a text dataset (default 64).
    pub fn seq_len(&self) -> usize {
        self.seq_len.unwrap_or(64)
    }
    /// The test fraction (default 0.2; 0 for the MNIST family, which has test files, and
    /// for text, which is judged on its validation part).
    pub fn test_split(&self) -> f64 {
        if self.dataset.has_test_files() || self.dataset == DatasetKind::Text {
            0.0
        } else {
            self.test_split.unwrap_or(0.2)
        }
    }
    /// Whether features are standardized (CSV and diabetes; default true).
    pub fn standardize(&self) -> bool {
        matches!(self.dataset, DatasetKind::Csv | DatasetKind::Diabetes)
            && self.standardize.unwrap_or(true)
    }
}

/// `[model]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Shape of one input sample (the batch dim excluded); default from the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<LayerConfig>,
}

/// The metrics `train.metrics` can name, with the task each belongs to.
pub const METRICS: [(&str, Task); 4] = [
    ("accuracy", Task::Classification),
    ("mae", Task::Regression),
    ("rmse", Task::Regression),
    ("r2", Task::Regression),
];

impl ExperimentConfig {
    /// The hello-world: an MLP on the bundled digits (`configs/digits-mlp.toml`).
    pub fn digits_mlp() -> Self {
        ExperimentConfig {
            data: DataConfig {
                test_split: Some(0.2),
                ..DataConfig::default()
            },
            model: ModelConfig {
                input_shape: Some(vec![64]),
                layers: vec![
                    LayerConfig::linear(128),
                    LayerConfig::Relu,
                    LayerConfig::linear(10),
                ],
            },
            train: TrainConfig {
                epochs: 30,
                batch_size: 32,
                loss: Some(nabla_nn::loss::LossKind::CrossEntropy),
                ..TrainConfig::default()
            },
        }
    }

    /// Parses a config from TOML text and validates it; `name` is used in messages.
    ///
    /// Errors ([`Error::Config`], one line): TOML syntax (with line and column), an
    /// unknown key, a wrong value type (naming the key path), an unknown layer type, a value
    /// out of range (see [`ExperimentConfig::validate`]).
    pub fn from_toml_str(text: &str, name: &str) -> Result<Self, Error> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| Error::Config(format!("{name}: {}", one_line(&e.to_string()))))?;
        let cfg: ExperimentConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut path = e.path().to_string();
            let inner = one_line(&e.inner().to_string());
            if let Some(key) = culprit_key(text, &path) {
                path = format!("{path}.{key}");
            }
            Error::Config(if path == "." || path.is_empty() {
                format!("{name}: {inner}")
            } else {
                format!("{name}: {path}: {inner}")
            })
        })?;
        unknown_layer_keys(text, &cfg).map_err(|e| Error::Config(format!("{name}: {e}")))?;
        cfg.validate()
            .map_err(|e| Error::Config(format!("{name}: {e}")))?;
        Ok(cfg)
    }

    /// Reads and parses a config file (see [`ExperimentConfig::from_toml_str`]).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: cannot read config: {e}", path.display())))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The TOML text of this config.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::Io(format!("config: {e}")))
    }

    /// Checks values that serde's types cannot (ranges, and keys that do not fit together).
    pub fn validate(&self) -> Result<(), String> {
        validate(self)
    }
}

/// Refuses a key a layer does not have, for the layers without options too (`relu`,
/// `tanh`, ...), whose tagged form serde lets extra keys through: a layer's keys are the
/// ones it writes back.
fn unknown_layer_keys(text: &str, cfg: &ExperimentConfig) -> Result<(), String> {
    let Ok(root) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let Some(given) = root
        .get("model")
        .and_then(|m| m.get("layers"))
        .and_then(|l| l.as_array())
    else {
        return Ok(());
    };
    for (i, (g, l)) in given.iter().zip(&cfg.model.layers).enumerate() {
        let (Some(g), Ok(toml::Value::Table(known))) = (g.as_table(), toml::Value::try_from(l))
        else {
            continue;
        };
        if let Some(k) = g.keys().find(|k| !known.contains_key(*k)) {
            let mut keys: Vec<&str> = known
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "type")
                .collect();
            keys.sort_unstable();
            let takes = if keys.is_empty() {
                "no keys but type".to_string()
            } else {
                keys.join(", ")
            };
            return Err(format!(
                "model.layers[{i}].{k}: unknown key ({} takes {takes})",
                l.type_name()
            ));
        }
    }
    Ok(())
}

/// The key of a tagged table (a layer, `train.optimizer`, `train.schedule`) whose value
/// made it fail, which serde's path stops short of: the one key whose removal lets the table
/// read, or makes it miss just that key.
fn culprit_key(text: &str, path: &str) -> Option<String> {
    let root: toml::Table = text.parse().ok()?;
    type Check = fn(toml::Value) -> Result<(), String>;
    let (table, check): (&toml::Table, Check) = if let Some(i) = path
        .strip_prefix("model.layers[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|i| i.parse::<usize>().ok())
    {
        let t = root.get("model")?.get("layers")?.get(i)?.as_table()?;
        (t, |v| {
            LayerConfig::deserialize(v)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    } else if path == "train.optimizer" {
        let t = root.get("train")?.get("optimizer")?.as_table()?;
        (t, |v| {
            nabla_nn::optim::OptimizerConfig::deserialize(v)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    } else if path == "train.schedule" {
        let t = root.get("train")?.get("schedule")?.as_table()?;
        (t, |v| {
            nabla_nn::schedule::ScheduleConfig::deserialize(v)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    } else {
        return None;
    };
    let found: Vec<&String> = table
        .keys()
        .filter(|k| !matches!(k.as_str(), "type" | "name"))
        .filter(|k| {
            let mut t = table.clone();
            t.remove(k.as_str());
            match check(toml::Value::Table(t)) {
                Ok(()) => true,
                Err(e) => e.contains(&format!("missing field `{k}`")),
            }
        })
        .collect();
    (found.len() == 1).then(|| found[0].clone())
}

/// Collapses a multi-line message (toml's excerpts) into one line.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    lines
        .join("; ")
        .split("; ")
        // drop toml's source excerpt markers like "3 | epochs = ..."
        .filter(|p| {
            !p.split_once(" | ")
                .is_some_and(|(a, _)| a.trim().chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn fraction(key: &str, v: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{key}: must be in [0, 1), got {v}"))
    }
}

fn validate(c: &ExperimentConfig) -> Result<(), String> {
    if let Some(s) = &c.model.input_shape {
        if s.contains(&0) {
            return Err(format!(
                "model.input_shape: every size must be at least 1, got {s:?}"
            ));
        }
    }
    let t = &c.train;
    t.validate().map_err(|e| format!("train.{e}"))?;
    let task = c.data.task();
    if task == Task::LossOnly {
        return Err(
            "data.task: loss_only is for custom training steps; a config trains classification or regression"
                .into(),
        );
    }
    if (task == Task::LanguageModel) != (d_kind_text(c)) {
        return Err(format!(
            "data.task: language_model goes with dataset = \"text\" (dataset {}, task {})",
            dataset_name(c.data.dataset),
            task.name()
        ));
    }
    let loss = t.loss_for(task == Task::Regression);
    if task == Task::LanguageModel && loss != LossKind::CrossEntropy {
        return Err(format!(
            "train.loss: a language model trains with cross_entropy, not '{loss}'"
        ));
    }
    if t.label_smoothing > 0.0 && loss != LossKind::CrossEntropy {
        return Err(format!(
            "train.label_smoothing: only cross_entropy smooths labels, not '{loss}' (the {} loss)",
            if t.loss.is_some() {
                "configured"
            } else {
                "regression's default"
            }
        ));
    }
    if task == Task::LanguageModel {
        // each position predicts the next token: no layer may let it see that token
        for (i, l) in c.model.layers.iter().enumerate() {
            if let Some(why) = l.lookahead() {
                return Err(format!(
                    "model.layers[{i}] ({}): a next-token model cannot have it ({why}): a \
                     position would see the token it predicts",
                    l.type_name()
                ));
            }
        }
    }
    if task != Task::LanguageModel {
        // causal attention orders positions as a text does; other samples have no order
        for (i, l) in c.model.layers.iter().enumerate() {
            if matches!(l, crate::LayerConfig::Transformer(t) if t.causal) {
                return Err(format!(
                    "model.layers[{i}].causal: causal attention is for next-token models on \
                     text; {} samples are not a sequence (set causal = false)",
                    dataset_name(c.data.dataset)
                ));
            }
        }
    }
    if c.data.seq_len == Some(0) {
        return Err("data.seq_len: must be at least 1".into());
    }
    if c.data.seq_len.is_some() && c.data.dataset != DatasetKind::Text {
        return Err(format!(
            "data.seq_len: only a text dataset has it, not {}",
            dataset_name(c.data.dataset)
        ));
    }
    if c.data.random_windows && c.data.dataset != DatasetKind::Text {
        return Err(format!(
            "data.random_windows: only a text dataset has windows, not {}",
            dataset_name(c.data.dataset)
        ));
    }
    match (task, loss) {
        (Task::Regression, LossKind::CrossEntropy | LossKind::Nll) => {
            return Err(format!(
                "train.loss: '{}' is a classification loss but the task is regression (use mse, l1 or huber)",
                loss
            ))
        }
        (Task::Classification, LossKind::L1 | LossKind::Huber) => {
            return Err(format!(
                "train.loss: '{}' is a regression loss (set data.task = \"regression\") or use cross_entropy",
                loss
            ))
        }
        _ => {}
    }
    if let Some(ms) = &t.metrics {
        for m in ms {
            match METRICS.iter().find(|(n, _)| n == m) {
                None => {
                    return Err(format!(
                        "train.metrics: unknown metric '{m}' (accuracy, mae, rmse, r2)"
                    ))
                }
                Some((_, mt)) if *mt != task => {
                    return Err(format!(
                        "train.metrics: '{m}' is a {} metric but this run is a {} (data.task)",
                        mt.name(),
                        task.name()
                    ))
                }
                _ => {}
            }
        }
    }
    let d = &c.data;
    fraction("data.validation_split", d.validation_split)?;
    if let Some(ts) = d.test_split {
        fraction("data.test_split", ts)?;
    }
    if d.validation_split + d.test_split() >= 1.0 {
        return Err("data.validation_split + data.test_split: must leave data to train on".into());
    }
    if let Some(dl) = &d.delimiter {
        if dl.chars().count() != 1 {
            return Err(format!(
                "data.delimiter: must be one character, got \"{dl}\""
            ));
        }
    }
    let csv_only = [
        ("label_column", d.label_column.is_some()),
        ("header", d.header.is_some()),
        ("skip_rows", d.skip_rows.is_some()),
        ("delimiter", d.delimiter.is_some()),
    ];
    if d.dataset != DatasetKind::Csv {
        if let Some((k, _)) = csv_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "data.{k}: only a csv dataset has it, not {}",
                dataset_name(d.dataset)
            ));
        }
    }
    if d.dataset == DatasetKind::Diabetes && c.data.task() == Task::Classification {
        return Err(
            "data.task: diabetes has numeric targets (a regression), not class labels".into(),
        );
    }
    if d.dataset == DatasetKind::Text && d.test_split.is_some() {
        return Err(
            "data.test_split: a text dataset is judged on its validation part (data.validation_split)"
                .into(),
        );
    }
    if d.path.is_some() && matches!(d.dataset, DatasetKind::Digits | DatasetKind::Diabetes) {
        return Err(format!(
            "data.path: the {} dataset is bundled with nabla and reads no file (path applies \
             to mnist, fashion-mnist, csv and text)",
            dataset_name(d.dataset)
        ));
    }
    if d.dataset.has_test_files() && d.test_split.is_some() {
        return Err(format!(
            "data.test_split: {} has its own test files",
            dataset_name(d.dataset)
        ));
    }
    if d.standardize.is_some() && !matches!(d.dataset, DatasetKind::Csv | DatasetKind::Diabetes) {
        return Err(format!(
            "data.standardize: only csv and diabetes features are standardized, not {}",
            dataset_name(d.dataset)
        ));
    }
    if let Some(shape) = &c.model.input_shape {
        crate::build::elements(shape).map_err(|e| format!("model.input_shape: {shape:?}: {e}"))?;
    }
    if c.model.layers.is_empty() {
        return Err("model.layers: at least one layer is needed".into());
    }
    for (i, l) in c.model.layers.iter().enumerate() {
        l.validate()
            .map_err(|e| format!("model.layers[{i}] ({}): {e}", l.type_name()))?;
    }
    Ok(())
}

fn d_kind_text(c: &ExperimentConfig) -> bool {
    c.data.dataset == DatasetKind::Text
}

/// The config spelling of a dataset.
pub fn dataset_name(d: DatasetKind) -> &'static str {
    match d {
        DatasetKind::Digits => "digits",
        DatasetKind::Diabetes => "diabetes",
        DatasetKind::Mnist => "mnist",
        DatasetKind::FashionMnist => "fashion-mnist",
        DatasetKind::Csv => "csv",
        DatasetKind::Text => "text",
    }
}
