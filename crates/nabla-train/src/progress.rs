//! Progress display: a bar with loss, throughput and ETA on a terminal, plain lines elsewhere.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// A bar when stdout is a terminal, else one plain line per epoch.
    #[default]
    Auto,
    /// Always plain lines.
    Plain,
    /// Nothing.
    Quiet,
}

/// The progress of one epoch.
pub struct EpochProgress {
    bar: Option<ProgressBar>,
}

impl EpochProgress {
    /// Starts showing an epoch of `batches` batches.
    pub fn start(mode: ProgressMode, epoch: usize, epochs: usize, batches: u64, done: u64) -> Self {
        let bar = if mode == ProgressMode::Auto && std::io::stdout().is_terminal() {
            let b = ProgressBar::with_draw_target(Some(batches), ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.set_prefix(format!("{epoch}/{epochs}"));
            b.set_position(done);
            Some(b)
        } else {
            None
        };
        EpochProgress { bar }
    }
    /// Updates after a batch.
    pub fn update(&self, loss: f64, samples_per_second: f64) {
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(format!(
                "loss {loss:.4} {:.0} samples/s",
                samples_per_second
            ));
        }
    }
    /// Ends the epoch, printing its summary line.
    pub fn finish(self, mode: ProgressMode, line: &str) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
        if mode != ProgressMode::Quiet {
            println!("{line}");
        }
    }
}
