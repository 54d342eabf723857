//! The run report: `report.html`, one self-contained page (inline SVG and CSS, no script,
//! no network) built from what a run folder holds, so any run can be re-reported
//! (`nabla report RUN_DIR`):
//!
//! - the config (`config.toml`) and the model summary (layers, output shapes, parameters);
//! - loss, accuracy (or bits per character, R²) and learning-rate curves (`metrics.jsonl`);
//! - gradient health (`health.jsonl`): a heatmap of each parameter tensor's gradient norm
//!   over the health steps on a log colour scale, the global gradient norm, update/weight
//!   ratios per tensor beside the 1e-3 rule of thumb, dead and saturated fractions per
//!   activation layer, and the diagnoses ([`nabla_train::health::diagnose`]);
//! - for classifiers, the test set's confusion matrix with per-class precision, recall and
//!   F1 (`confusion.json`) and the test metrics (`summary.json`).
//!
//! A damaged `metrics.jsonl` or `health.jsonl` line is left out and reported (see
//! [`nabla_train::jsonl::read_jsonl`]); a missing file leaves its section with a note.

mod health_section;
pub mod heatmap;
pub mod page;
pub mod tables;
pub mod text;

pub use page::render;

use nabla_core::Error;
use nabla_nn::LayerSummary;
use nabla_train::checkpoint::EpochMetrics;
use nabla_train::health::HealthRecord;
use nabla_train::jsonl::read_jsonl;
use nabla_train::metrics::ConfusionMatrix;
use nabla_train::Task;
use std::path::{Path, PathBuf};

/// What the report shows of a run's config.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The dataset's name (`digits`, `mnist`, `text`, ...).
    pub dataset: String,
    /// What the run learns.
    pub task: Task,
    /// The epochs the run was set to train.
    pub epochs: usize,
    /// The gradient-norm clip, drawn beside the global gradient norm.
    pub clip_grad_norm: Option<f64>,
}

/// A run's `config.toml` as the crate that owns the config format reads it (see
/// `nabla_experiment::report`): the report itself knows no config format.
#[derive(Debug, Clone)]
pub struct ConfigView {
    /// What the report shows of the config, or why the text does not parse.
    pub config: Result<RunConfig, String>,
    /// The model's summary, or why it cannot be built; `None` when the config gives no
    /// input shape.
    pub model: Option<Result<Vec<LayerSummary>, String>>,
}

/// What a run folder holds, read for the report.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// The run folder's name.
    pub name: String,
    /// `config.toml` as written.
    pub config_text: String,
    /// What the report shows of the config (`None` when it does not parse: see `damage`).
    pub config: Option<RunConfig>,
    /// The model's layers (`None` when the config cannot build it).
    pub model: Option<Vec<LayerSummary>>,
    /// `metrics.jsonl`: one row per epoch.
    pub metrics: Vec<EpochMetrics>,
    /// `health.jsonl`: the gradient-health records.
    pub health: Vec<HealthRecord>,
    /// `summary.json` (written when the run finished).
    pub summary: Option<serde_json::Value>,
    /// `confusion.json`: the test set's confusion matrix (classifiers).
    pub confusion: Option<ConfusionMatrix>,
    /// Damaged lines and files, each naming the file (also for stderr).
    pub damage: Vec<String>,
    /// Files that are absent, and what that means (shown in their sections).
    pub missing: Vec<String>,
}

fn read_json(path: &Path, damage: &mut Vec<String>) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            damage.push(format!(
                "{}: not valid JSON ({e}); it is ignored",
                path.display()
            ));
            None
        }
    }
}

fn confusion_of(v: &serde_json::Value) -> Result<ConfusionMatrix, String> {
    let rows: Vec<Vec<u64>> =
        serde_json::from_value(v["counts"].clone()).map_err(|e| format!("counts: {e}"))?;
    let cm = ConfusionMatrix::from_counts(&rows).map_err(|e| e.to_string())?;
    match v.get("classes") {
        Some(c) => {
            let names: Vec<String> =
                serde_json::from_value(c.clone()).map_err(|e| format!("classes: {e}"))?;
            cm.with_class_names(&names).map_err(|e| e.to_string())
        }
        None => Ok(cm),
    }
}

/// Reads a run folder for the report; `read_config` reads the text of its `config.toml`
/// (`config.toml` is the second argument, for messages).
///
/// Fails ([`Error::Config`]) when `dir` is not a folder or holds no `config.toml` (not
/// a nabla run), or when `config.toml` cannot be read. Everything else that is missing or
/// damaged is noted in [`RunData::damage`] and [`RunData::missing`].
pub fn read_run(
    dir: &Path,
    read_config: &dyn Fn(&str, &Path) -> ConfigView,
) -> Result<RunData, Error> {
    if let Some(why) = nabla_core::io::folder_problem(dir) {
        return Err(Error::Config(format!(
            "run folder {}: {why}",
            dir.display()
        )));
    }
    let cfg_path = dir.join("config.toml");
    if !cfg_path.is_file() {
        return Err(Error::Config(format!(
            "{}: not a nabla run (no config.toml)",
            dir.display()
        )));
    }
    let config_text = std::fs::read_to_string(&cfg_path)
        .map_err(|e| Error::Config(format!("{}: cannot read: {e}", cfg_path.display())))?;
    let mut d = RunData {
        name: std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into()),
        config_text: config_text.clone(),
        ..RunData::default()
    };
    let view = read_config(&config_text, &cfg_path);
    match view.config {
        Ok(c) => {
            d.config = Some(c);
            match view.model {
                Some(Ok(m)) => d.model = Some(m),
                Some(Err(e)) => d.damage.push(format!("model summary: {e}")),
                None => d
                    .missing
                    .push("config.toml has no model.input_shape: no model summary".into()),
            }
        }
        Err(e) => d.damage.push(format!("{e}; the model summary is left out")),
    }
    let m = dir.join("metrics.jsonl");
    match read_jsonl::<EpochMetrics>(&m, "metrics row") {
        Ok((rows, damage)) => {
            d.metrics = rows;
            d.damage.extend(damage);
        }
        Err(_) if !m.exists() => d
            .missing
            .push("no metrics.jsonl: the run has not finished an epoch".into()),
        Err(e) => d.damage.push(format!("{}: {e}", m.display())),
    }
    let h = dir.join("health.jsonl");
    match read_jsonl::<HealthRecord>(&h, "health record") {
        Ok((rows, damage)) => {
            d.health = rows;
            d.damage.extend(damage);
        }
        Err(_) if !h.exists() => d
            .missing
            .push("no health.jsonl: the run was trained with train.health_every = 0".into()),
        Err(e) => d.damage.push(format!("{}: {e}", h.display())),
    }
    d.summary = read_json(&dir.join("summary.json"), &mut d.damage);
    let c = dir.join("confusion.json");
    if let Some(v) = read_json(&c, &mut d.damage) {
        match confusion_of(&v) {
            Ok(cm) => d.confusion = Some(cm),
            Err(e) => d
                .damage
                .push(format!("{}: {e}; it is ignored", c.display())),
        }
    }
    Ok(d)
}

/// What [`write_report`] did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The file written.
    pub path: PathBuf,
    /// Damaged lines and files that were left out (for stderr).
    pub damage: Vec<String>,
}

/// Reads the run folder `dir` and writes its report to `dir/report.html` (atomically).
///
/// Fails as [`read_run`] does, and ([`Error::Io`]) when the file cannot be written
/// (a read-only run folder: nothing in it is changed).
pub fn write_report(
    dir: &Path,
    read_config: &dyn Fn(&str, &Path) -> ConfigView,
) -> Result<Written, Error> {
    let data = read_run(dir, read_config)?;
    let path = dir.join("report.html");
    nabla_core::io::write_atomic(&path, render(&data).as_bytes())?;
    Ok(Written {
        path,
        damage: data.damage,
    })
}
