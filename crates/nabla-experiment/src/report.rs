//! The HTML report of a run folder (see `nabla_report::html`), with the run's `config.toml`
//! read as this crate reads configs: `nabla report RUN_DIR` and the end of every run.

use crate::config::{dataset_name, ExperimentConfig};
use crate::summary::model_summary;
use nabla_core::Error;
use nabla_report::{ConfigView, RunConfig, RunData, Written};
use std::path::Path;

/// What the report shows of a config's text (`path` names it in messages).
pub fn config_view(text: &str, path: &Path) -> ConfigView {
    match ExperimentConfig::from_toml_str(text, &path.display().to_string()) {
        Ok(c) => ConfigView {
            config: Ok(RunConfig {
                dataset: dataset_name(c.data.dataset).into(),
                task: c.data.task(),
                epochs: c.train.epochs,
                clip_grad_norm: c.train.clip_grad_norm,
            }),
            model: c.model.input_shape.as_ref().map(|shape| {
                model_summary(&c, shape)
                    .map(|s| s.layers)
                    .map_err(|e| e.to_string())
            }),
        },
        Err(e) => ConfigView {
            config: Err(e.to_string()),
            model: None,
        },
    }
}

/// Reads the run folder `dir` for its report (see `nabla_report::read_run`).
pub fn read_run(dir: &Path) -> Result<RunData, Error> {
    nabla_report::read_run(dir, &config_view)
}

/// Writes `dir/report.html` (see `nabla_report::write_report`).
pub fn write_report(dir: &Path) -> Result<Written, Error> {
    nabla_report::write_report(dir, &config_view)
}
