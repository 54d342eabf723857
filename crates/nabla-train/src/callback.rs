//! Observers of a run, as Keras' callbacks: the trainer reports what happens (a run starts,
//! an epoch starts, a step ends, a gradient-health record is taken, an epoch ends) and the
//! progress display, the run's metric files, the health diagnoses, TensorBoard (in
//! `nabla-report`) and a user's own hooks attach through [`Callback`], so the training loop
//! knows none of them.

use crate::checkpoint::EpochMetrics;
use crate::health::{diagnose, HealthRecord};
use crate::progress::{EpochProgress, ProgressMode};
use crate::Error;
use nabla_core::Result;
use std::path::{Path, PathBuf};

/// What a run is, given to [`Callback::on_fit_start`].
#[derive(Debug, Clone, Copy)]
pub struct FitStart<'a> {
    /// The run folder (created before this call), when the trainer writes one.
    pub out_dir: Option<&'a Path>,
    /// The epochs the run trains to.
    pub epochs: usize,
    /// Completed epochs (more than 0 after a resume).
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
}

/// An epoch about to train, given to [`Callback::on_epoch_start`].
#[derive(Debug, Clone, Copy)]
pub struct EpochStart {
    /// The epoch (from 1).
    pub epoch: usize,
    /// The epochs the run trains to.
    pub epochs: usize,
    /// Batches in the epoch.
    pub batches: u64,
    /// Batches already done (a resume mid-epoch).
    pub done: u64,
}

/// An optimizer step that ended, given to [`Callback::on_step_end`].
#[derive(Debug, Clone, Copy)]
pub struct StepEnd {
    /// The step (from 1).
    pub step: u64,
    /// The batch's mean loss.
    pub loss: f64,
    /// The batch's samples per second.
    pub samples_per_second: f64,
}

/// Something that watches a run. Every method has an empty default; an error stops the run.
pub trait Callback: Send {
    /// Whether gradient-health records should carry weight and gradient histograms.
    fn wants_histograms(&self) -> bool {
        false
    }
    /// Before the first epoch of `fit`.
    fn on_fit_start(&mut self, _run: &FitStart<'_>) -> Result<()> {
        Ok(())
    }
    /// Before an epoch's first batch.
    fn on_epoch_start(&mut self, _epoch: &EpochStart) -> Result<()> {
        Ok(())
    }
    /// After each optimizer step.
    fn on_step_end(&mut self, _step: &StepEnd) -> Result<()> {
        Ok(())
    }
    /// After a gradient-health record was taken; `all` holds this process's records so far,
    /// the new one last.
    fn on_health(&mut self, _record: &HealthRecord, _all: &[HealthRecord]) -> Result<()> {
        Ok(())
    }
    /// After an epoch's validation, with its metrics; `history` holds every epoch so far, the
    /// new one last.
    fn on_epoch_end(&mut self, _row: &EpochMetrics, _history: &[EpochMetrics]) -> Result<()> {
        Ok(())
    }
}

/// The progress display: a bar on a terminal, one line per epoch elsewhere, nothing in
/// [`ProgressMode::Quiet`].
pub struct ProgressDisplay {
    mode: ProgressMode,
    bar: Option<EpochProgress>,
    epochs: usize,
}

impl ProgressDisplay {
    /// A display in `mode`.
    pub fn new(mode: ProgressMode) -> Self {
        ProgressDisplay {
            mode,
            bar: None,
            epochs: 0,
        }
    }
}

/// The epoch's summary line, e.g. `epoch 3/10  train_loss 0.2615  train_acc 0.9467  val_loss
/// 0.2601  val_acc 0.9371  lr 1.000e-3  0.41s`.
pub fn epoch_line(row: &EpochMetrics, epochs: usize) -> String {
    let mut line = format!(
        "epoch {}/{epochs}  train_loss {:.4}",
        row.epoch, row.train_loss
    );
    if let Some(a) = row.train_accuracy {
        line.push_str(&format!("  train_acc {a:.4}"));
    }
    if let Some(b) = row.train_bpc {
        line.push_str(&format!("  train_bpc {b:.4}"));
    }
    if let Some(l) = row.val_loss {
        line.push_str(&format!("  val_loss {l:.4}"));
        if let Some(b) = row.val_bpc {
            line.push_str(&format!("  val_bpc {b:.4}"));
        }
    }
    if let Some(a) = row.val_accuracy {
        line.push_str(&format!("  val_acc {a:.4}"));
    }
    if let (Some(mae), Some(r2)) = (row.val_mae, row.val_r2) {
        line.push_str(&format!("  val_mae {mae:.4}  val_r2 {r2:.4}"));
    }
    line.push_str(&format!("  lr {:.3e}  {:.2}s", row.lr, row.seconds));
    line
}

impl Callback for ProgressDisplay {
    fn on_epoch_start(&mut self, e: &EpochStart) -> Result<()> {
        self.epochs = e.epochs;
        self.bar = Some(EpochProgress::start(
            self.mode, e.epoch, e.epochs, e.batches, e.done,
        ));
        Ok(())
    }
    fn on_step_end(&mut self, s: &StepEnd) -> Result<()> {
        if let Some(b) = &self.bar {
            b.update(s.loss, s.samples_per_second);
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, row: &EpochMetrics, _: &[EpochMetrics]) -> Result<()> {
        if let Some(b) = self.bar.take() {
            b.finish(self.mode, &epoch_line(row, self.epochs));
        }
        Ok(())
    }
}

/// The run folder's records: `health.jsonl` (one line per health record, appended) and
/// `metrics.jsonl` (every epoch's metrics, rewritten atomically after each epoch).
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    /// Records into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunFiles { dir: dir.into() }
    }
}

fn json_line<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Io(e.to_string()))
}

impl Callback for RunFiles {
    fn on_health(&mut self, h: &HealthRecord, _: &[HealthRecord]) -> Result<()> {
        use std::io::Write;
        let line = json_line(h)?;
        let path = self.dir.join("health.jsonl");
        let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        writeln!(f, "{line}").map_err(io)
    }
    fn on_epoch_end(&mut self, _: &EpochMetrics, history: &[EpochMetrics]) -> Result<()> {
        let mut text = String::new();
        for row in history {
            text.push_str(&json_line(row)?);
            text.push('\n');
        }
        nabla_core::io::write_atomic(&self.dir.join("metrics.jsonl"), text.as_bytes())
    }
}

/// The health diagnoses (vanishing or exploding gradients, dead units, ...), each kind
/// reported once per run through the `log` facade (target `nabla::health`, level warn).
#[derive(Default)]
pub struct HealthDiagnoses {
    reported: Vec<&'static str>,
}

impl Callback for HealthDiagnoses {
    fn on_health(&mut self, _: &HealthRecord, all: &[HealthRecord]) -> Result<()> {
        for d in diagnose(all) {
            if !self.reported.contains(&d.kind) {
                self.reported.push(d.kind);
                log::warn!(target: "nabla::health", "{}", d.message);
            }
        }
        Ok(())
    }
}

/// Stops a run at the end of the step during which `flag` was set (for example by a Ctrl-C
/// handler): the run ends with [`crate::Error::Invalid`] ("interrupted"), its checkpoints as
/// the last completed save left them, so it can be resumed.
#[derive(Debug, Clone)]
pub struct StopFlag(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Callback for StopFlag {
    fn on_step_end(&mut self, step: &StepEnd) -> Result<()> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::Error::Invalid {
                op: "fit",
                msg: format!("interrupted after step {}", step.step),
            });
        }
        Ok(())
    }
}
