//! What a finished run produced ([`RunResult`]) and the line a run closes with.

use crate::config::ExperimentConfig;
use nabla_train::checkpoint::EpochMetrics;
use nabla_train::trainer::Task;
use nabla_train::Evaluation;
use std::path::PathBuf;

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run folder.
    pub dir: PathBuf,
    /// The resolved config saved in it.
    pub config: ExperimentConfig,
    /// Every epoch's metrics.
    pub history: Vec<EpochMetrics>,
    /// The test set's loss and metrics (a text model's: its validation part); `None` when
    /// the split left no sample to test on.
    pub test: Option<Evaluation>,
    /// `summary.json`'s content.
    pub summary: serde_json::Value,
    /// Whether the run continued an earlier one, and from which epoch and step.
    pub resumed_from: Option<(usize, u64)>,
}

impl RunResult {
    /// The closing line, `test_accuracy=0.9778 test_loss=0.0872` for classification and
    /// `test_r2=0.4521 test_mae=43.1234 test_rmse=54.3210 test_loss=2950.1234` for regression
    /// (the metrics of `train.metrics`, in its order).
    /// Without a test set, the line says so instead of printing a metric.
    pub fn closing_line(&self) -> String {
        let Some(test) = &self.test else {
            return if self.config.data.task() == Task::LanguageModel {
                "no validation part to judge the model on (data.validation_split = 0)".into()
            } else {
                "no test set: the split left no sample to test on (see data.test_split)".into()
            };
        };
        if self.config.data.task() == Task::LanguageModel {
            // judged on the validation part: nats and bits per character
            return format!(
                "val_loss={:.4} val_bpc={:.4}",
                test.loss,
                test.loss / std::f64::consts::LN_2
            );
        }
        let mut parts = Vec::new();
        for m in metric_names(&self.config) {
            if let Some(v) = self.summary[format!("test_{m}")].as_f64() {
                parts.push(format!("test_{m}={v:.4}"));
            }
        }
        parts.push(format!("test_loss={:.4}", test.loss));
        parts.join(" ")
    }
}

/// The metrics a run reports: `train.metrics`, else the task's defaults.
pub(crate) fn metric_names(cfg: &ExperimentConfig) -> Vec<String> {
    match &cfg.train.metrics {
        Some(m) => m.clone(),
        None => match cfg.data.task() {
            Task::Regression => vec!["r2".into(), "mae".into(), "rmse".into()],
            Task::Classification => vec!["accuracy".into()],
            Task::LossOnly | Task::LanguageModel => Vec::new(),
        },
    }
}
