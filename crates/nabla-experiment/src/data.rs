//! The data an experiment config names, loaded and split into train, validation and test
//! sets shaped as the model takes them.

use crate::config::{DatasetKind, ExperimentConfig};
use nabla_data::{CsvOptions, Error, Header, LabelColumn, Standardizer, TensorDataset};
use nabla_train::trainer::Task;
use std::path::{Path, PathBuf};

/// Data split into train, validation and test sets.
#[derive(Clone)]
pub struct Data {
    /// Training set.
    pub train: TensorDataset,
    /// Validation set (`None` when `validation_split` is 0 or leaves no sample).
    pub val: Option<TensorDataset>,
    /// Test set.
    pub test: TensorDataset,
    /// Shape of one sample as the model sees it.
    pub input_shape: Vec<usize>,
    /// The outputs the model must produce: the number of classes (classification) or of
    /// target columns (regression).
    pub outputs: usize,
    /// The standardizer fitted on the training split (CSV and diabetes).
    pub standardizer: Option<Standardizer>,
    /// The class names, when the file names them.
    pub class_names: Option<Vec<String>>,
    /// CSV: the label column's 0-based index among the file's columns.
    pub label_index: Option<usize>,
    /// Text: the vocabulary (saved with the run as `vocab.json`).
    pub vocab: Option<nabla_data::Vocab>,
    /// Text with `data.random_windows`: the training part's windows at every character,
    /// from which each epoch draws as many as `train` holds (`train` keeps the
    /// non-overlapping windows, which set the epoch's size).
    pub train_windows: Option<nabla_data::CharWindows>,
}

impl Data {
    /// The size of the largest evaluation batch: the validation or test set, up to
    /// [`crate::memory::EVAL_BATCH`].
    pub fn eval_batch(&self) -> usize {
        use nabla_data::Dataset;
        let val = self.val.as_ref().map_or(0, |v| v.len());
        val.max(self.test.len()).min(crate::memory::EVAL_BATCH)
    }

    /// The bytes its tensors hold (the training, validation and test sets' features and
    /// targets), for the memory estimate.
    pub fn bytes(&self) -> u128 {
        let set = |d: &TensorDataset| {
            [d.x(), d.y()]
                .iter()
                .map(|t| (t.numel() * t.dtype().size_in_bytes()) as u128)
                .sum::<u128>()
        };
        set(&self.train) + self.val.as_ref().map_or(0, set) + set(&self.test)
    }
}

/// All windows of a text part as one in-memory dataset (`x`, `y` i64 `[windows, T]`).
fn windows_dataset(w: &nabla_data::CharWindows) -> Result<TensorDataset, Error> {
    use nabla_data::Dataset;
    let idx: Vec<usize> = (0..w.len()).collect();
    let b = w.get_batch(&idx)?;
    TensorDataset::new(b.x, b.y)
}

/// A text dataset: windows of `data.seq_len` characters, the last `validation_split` of the
/// text for validation (and as the test set).
fn load_text(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<Data, Error> {
    let path = csv_path(cfg, data_flag)?;
    let corpus = nabla_data::TextCorpus::read(&path)?;
    let seq = cfg.data.seq_len();
    let (train, val) = corpus.split(seq, cfg.data.validation_split)?;
    let train_windows = if cfg.data.random_windows {
        Some(train.clone().with_stride(1)?)
    } else {
        None
    };
    let train = windows_dataset(&train)?;
    let val = windows_dataset(&val)?;
    if let Some(s) = &cfg.model.input_shape {
        if s.as_slice() != [seq] {
            return Err(Error::Config(format!(
                "model.input_shape: a text model takes windows of data.seq_len = {seq} characters, not {s:?}"
            )));
        }
    }
    Ok(Data {
        train,
        test: val.clone(),
        val: Some(val),
        input_shape: vec![seq],
        outputs: corpus.vocab().len(),
        standardizer: None,
        class_names: None,
        label_index: None,
        vocab: Some(corpus.vocab().clone()),
        train_windows,
    })
}

/// The folder of the MNIST family's IDX files: `data_flag`, else `NABLA_DATA`, else
/// `data.path`; a folder holding a `mnist/` (or `fashion-mnist/`) folder with the files works
/// too.
pub fn data_dir(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<PathBuf, Error> {
    let sub = match cfg.data.dataset {
        DatasetKind::Mnist => "mnist",
        DatasetKind::FashionMnist => "fashion-mnist",
        _ => "",
    };
    let base = data_flag
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("NABLA_DATA").map(PathBuf::from))
        .or_else(|| cfg.data.path.as_ref().map(PathBuf::from))
        .ok_or_else(|| {
            Error::Config(format!(
                "data.path: no data folder for {sub}: set it in the config, with --data DIR or NABLA_DATA"
            ))
        })?;
    if let Some(why) = nabla_core::io::folder_problem(&base) {
        return Err(Error::Config(format!(
            "data folder {}: {why}",
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

/// The CSV or text file: `data_flag`, else `data.path`.
pub fn csv_path(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<PathBuf, Error> {
    data_flag
        .map(Path::to_path_buf)
        .or_else(|| cfg.data.path.as_ref().map(PathBuf::from))
        .ok_or_else(|| {
            Error::Config(format!(
                "data.path: a {} dataset needs a file (config or --data)",
                crate::config::dataset_name(cfg.data.dataset)
            ))
        })
}

/// The CSV reading options of a config.
pub fn csv_options(cfg: &ExperimentConfig) -> CsvOptions {
    let d = &cfg.data;
    let mut o = CsvOptions::default().with_labels(match d.task() {
        Task::Regression => nabla_data::LabelKind::Number,
        _ => nabla_data::LabelKind::Class,
    });
    if let Some(h) = d.header {
        o = o.with_header(if h { Header::Present } else { Header::Absent });
    }
    if let Some(l) = &d.label_column {
        o = o.with_label(match l {
            crate::config::ColumnKey::Index(i) => LabelColumn::Index(*i),
            crate::config::ColumnKey::Name(n) => LabelColumn::Name(n.clone()),
        });
    }
    if let Some(n) = d.skip_rows {
        o = o.with_skip_rows(n);
    }
    if let Some(c) = d.delimiter.as_ref().and_then(|s| s.chars().next()) {
        o = o.with_delimiter(c);
    }
    o
}

fn reshape_ds(ds: TensorDataset, shape: &[usize]) -> Result<TensorDataset, Error> {
    let (x, y) = ds.into_parts();
    let n = x.shape()[0];
    let per: usize = x.shape()[1..].iter().product();
    let want = crate::build::elements(shape)
        .map_err(|e| Error::Config(format!("model.input_shape: {shape:?}: {e}")))?;
    if per != want {
        return Err(Error::Config(format!(
            "model.input_shape: {shape:?} ({want} values) does not fit the data's samples {:?} ({per} values)",
            &x.shape()[1..]
        )));
    }
    let mut full = vec![n];
    full.extend_from_slice(shape);
    TensorDataset::new(x.reshape(&full)?, y)
}

/// Refuses `--data` for a dataset that reads no file (digits, diabetes).
pub fn check_data_flag(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<(), Error> {
    if let (Some(f), DatasetKind::Digits | DatasetKind::Diabetes) = (data_flag, cfg.data.dataset) {
        return Err(Error::Config(format!(
            "--data {}: the {} dataset is bundled with nabla and reads no file (--data applies \
             to mnist, fashion-mnist, csv and text)",
            f.display(),
            crate::config::dataset_name(cfg.data.dataset)
        )));
    }
    Ok(())
}

/// Loads and splits the configured data (`data_flag` overrides the config's path).
///
/// Fails when the data cannot be read (naming the file), when a regression target is not a
/// number, or when `model.input_shape` does not fit the samples.
pub fn load_data(cfg: &ExperimentConfig, data_flag: Option<&Path>) -> Result<Data, Error> {
    check_data_flag(cfg, data_flag)?;
    if cfg.data.dataset == DatasetKind::Text {
        return load_text(cfg, data_flag);
    }
    let seed = cfg.train.seed;
    let d = &cfg.data;
    let test_split = d.test_split();
    let mut class_names = None;
    let mut label_index = None;
    let (trainval, test) = match d.dataset {
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            let dir = data_dir(cfg, data_flag)?;
            let tr = nabla_data::load_mnist(&dir, true)?;
            let te = nabla_data::load_mnist(&dir, false)?;
            if d.dataset == DatasetKind::FashionMnist {
                class_names = Some(nabla_data::FASHION_MNIST_CLASSES.map(String::from).to_vec());
            }
            (tr, te)
        }
        kind => {
            let all = match kind {
                DatasetKind::Digits => nabla_data::digits()?,
                DatasetKind::Diabetes => nabla_data::diabetes()?,
                _ => {
                    let path = csv_path(cfg, data_flag)?;
                    let csv = nabla_data::read_csv(&path, &csv_options(cfg)).map_err(|e| {
                        match (&cfg.data.label_column, e.to_string()) {
                            // the key that chose the column
                            (Some(_), m) if m.contains("label column") => {
                                Error::Config(format!("data.label_column: {m}"))
                            }
                            _ => e,
                        }
                    })?;
                    class_names = csv.classes.clone();
                    label_index = csv.label_index;
                    csv.into_dataset()?
                }
            };
            all.split_test(test_split, seed)?
        }
    };
    let (train, val) = trainval.split_validation(d.validation_split, seed)?;
    let (train, val, test, standardizer) = if d.standardize() {
        let s = Standardizer::fit_dataset(&train)?;
        let tr = s.transform_dataset(&train)?;
        let va = match &val {
            Some(v) => Some(s.transform_dataset(v)?),
            None => None,
        };
        let te = s.transform_dataset(&test)?;
        (tr, va, te, Some(s))
    } else {
        (train, val, test, None)
    };
    let outputs = match d.task() {
        Task::Regression => {
            if train.y().dtype().is_float() {
                train.y().shape().get(1).copied().unwrap_or(1)
            } else {
                return Err(Error::Config(
                    "data.task: regression needs numeric targets".into(),
                ));
            }
        }
        _ => [Some(&train), val.as_ref(), Some(&test)]
            .iter()
            .flatten()
            .filter_map(|d| d.num_classes())
            .max()
            .unwrap_or(0),
    };
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
        outputs,
        standardizer,
        class_names,
        label_index,
        vocab: None,
        train_windows: None,
    })
}

/// The feature rows of a CSV file given to a trained model, as `(name, values)` with names
/// `file:row` (data rows counted from 1). The file may have a header row and, when the run
/// was trained on a CSV with a label column, that column too (so the training file itself,
/// or rows cut from it, can be predicted): rows of `features` values are features; rows of
/// `features + 1` values of a CSV-trained run drop its label column (at `label_index`, as
/// the run saved it in `columns.json`, else as configured), whose labels may be numbers or
/// class names.
///
/// Fails, naming the file and row, when the file cannot be read, a value is not a number,
/// or the rows have another width.
pub fn prediction_rows(
    cfg: &ExperimentConfig,
    path: &Path,
    features: usize,
    label_index: Option<usize>,
) -> Result<Vec<(String, Vec<f32>)>, Error> {
    let mut o = csv_options(cfg).with_label(LabelColumn::None);
    if cfg.data.dataset != DatasetKind::Csv {
        o = CsvOptions::default().with_label(LabelColumn::None);
    }
    // a first row of numbers is data: rows to predict are often cut from a file without
    // its header (a run trained with `data.header = false` never has one)
    if cfg.data.header != Some(false) && first_row_is_numeric(path, &o) {
        o = o.with_header(Header::Absent);
    }
    let csv_run = cfg.data.dataset == DatasetKind::Csv;
    // the file read as the run read its training data, label column dropped: its features
    // when they are as many as the model takes
    let training_format = || -> Result<Option<nabla_core::Tensor>, Error> {
        let mut o = csv_options(cfg).with_labels(nabla_data::LabelKind::Class);
        if let Some(i) = label_index {
            o = o.with_label(LabelColumn::Index(i));
        }
        let d = nabla_data::read_csv(path, &o)?;
        Ok((d.num_features() == features).then_some(d.x))
    };
    let all = match nabla_data::read_csv(path, &o) {
        Ok(all) => all,
        // text labels are not numbers: the training file's own rows
        Err(e) if csv_run => match training_format() {
            Ok(Some(x)) => return Ok(named_rows(path, &x.to_vec::<f32>()?, features)),
            _ => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let width = all.num_features();
    let x = if width == features {
        all.x
    } else if width == features + 1 && csv_run {
        // the label column is there: read the file as the run read its training data
        training_format()?.ok_or_else(|| {
            Error::Config(format!(
                "{}: rows have {width} values; the model takes {features} features",
                path.display()
            ))
        })?
    } else {
        return Err(Error::Config(format!(
            "{}: rows have {width} values, the model takes {features}{}",
            path.display(),
            if csv_run {
                format!(" (or {} with the label column)", features + 1)
            } else {
                String::new()
            }
        )));
    };
    Ok(named_rows(path, &x.to_vec::<f32>()?, features))
}

/// Whether the first row of `path` (after `skip_rows`) holds numbers only.
fn first_row_is_numeric(path: &Path, o: &CsvOptions) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some(line) = text
        .lines()
        .skip(o.skip_rows)
        .find(|l| !l.trim().is_empty())
    else {
        return false;
    };
    let fields: Vec<&str> = if o.delimiter == ' ' {
        line.split_whitespace().collect()
    } else {
        line.split(o.delimiter).collect()
    };
    fields.iter().all(|f| {
        let f = f.trim().trim_matches('"').trim();
        !f.is_empty() && f.parse::<f64>().is_ok()
    })
}

/// Rows of `features` values named `file:row` (from 1).
fn named_rows(path: &Path, values: &[f32], features: usize) -> Vec<(String, Vec<f32>)> {
    values
        .chunks(features.max(1))
        .enumerate()
        .map(|(i, r)| (format!("{}:{}", path.display(), i + 1), r.to_vec()))
        .collect()
}
