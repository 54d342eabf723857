//! Run folders: readable names for new runs, and reopening a finished run's model.

use crate::build::build_model;
use crate::config::ExperimentConfig;
use nabla_core::Error;
use nabla_core::Mt19937;
use nabla_nn::Sequential;
use nabla_train::checkpoint::{
    latest_model_weights, load_model_tensors, read_model_weights, ModelWeights,
};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DD_HH-MM-SS` (UTC) of a time since the Unix epoch.
pub fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}_{:02}-{:02}-{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A new run folder under `root`: `root/<date>_<time>-<name>` (UTC), with `-2`, `-3`, ...
/// appended when that folder exists already.
pub fn new_run_dir(root: &Path, name: &str) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = format!("{}-{clean}", timestamp(secs));
    let mut dir = root.join(&base);
    let mut k = 2;
    while dir.exists() {
        dir = root.join(format!("{base}-{k}"));
        k += 1;
    }
    dir
}

/// A finished (or interrupted) run: its saved config and its model with the weights of
/// `checkpoint` (a checkpoint folder or a safetensors file) when given, else of the newest
/// checkpoint whose weights can be read. No data is read. The returned [`ModelWeights`] says
/// which file was loaded and which damaged newer checkpoints were passed over. The model
/// takes inputs as training fed them (standardized, for a run that standardized its
/// features): to predict from raw inputs, open the run as a [`crate::Run`].
///
/// Fails when `run` is not a run folder, its config is damaged, it has no readable
/// checkpoint, or the weights do not fit the model (naming the tensors).
pub fn open_run_with(
    run: &Path,
    checkpoint: Option<&Path>,
) -> Result<(ExperimentConfig, Sequential, ModelWeights), Error> {
    if let Some(why) = nabla_core::io::folder_problem(run) {
        return Err(Error::Config(format!(
            "run folder {}: {why}",
            run.display()
        )));
    }
    let cfg = ExperimentConfig::from_toml_file(run.join("config.toml"))?;
    let input = cfg.model.input_shape.clone().ok_or_else(|| {
        Error::Config(format!(
            "{}: config.toml lacks model.input_shape",
            run.display()
        ))
    })?;
    let mut rng = Mt19937::new(0);
    let (model, _) = build_model(&cfg, &input, None, &mut rng)?;
    let weights = match checkpoint {
        Some(c) => read_model_weights(c)?,
        None => latest_model_weights(run)?,
    };
    load_model_tensors(
        &model,
        &weights.tensors,
        &weights.file.display().to_string(),
    )?;
    Ok((cfg, model, weights))
}

/// [`open_run_with`] the newest readable checkpoint; returns the folder (or file) loaded.
pub fn open_run(run: &Path) -> Result<(ExperimentConfig, Sequential, PathBuf), Error> {
    let (cfg, model, w) = open_run_with(run, None)?;
    Ok((cfg, model, w.file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(0), "1970-01-01_00-00-00");
        // date -u -d @1796157296 +%F_%H-%M-%S
        assert_eq!(timestamp(1_796_157_296), "2026-12-01_20-34-56");
        assert_eq!(timestamp(951_782_400), "2000-02-29_00-00-00");
    }
}
