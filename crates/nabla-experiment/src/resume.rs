//! What `--resume` checks before it writes anything: that the checkpoint's state is in
//! range, that the config was not edited since the checkpoint in a way that breaks an exact
//! resume, and that the run is not finished.

use crate::config::ExperimentConfig;
use nabla_core::Error;
use nabla_train::checkpoint::LoadedCheckpoint;
use std::collections::BTreeMap;
use std::path::Path;

/// The config keys that may change between a checkpoint and its resume: they do not enter
/// the arithmetic (`train.epochs` extends the run; the rest are display, files and paths).
const MAY_CHANGE: [&str; 7] = [
    "train.epochs",
    "train.progress",
    "train.tensorboard",
    "train.detect_anomaly",
    "train.keep_checkpoints",
    "train.out_dir",
    "data.path",
];

/// `cfg`'s keys, flattened to `table.key = value`.
fn flat(cfg: &ExperimentConfig) -> Result<BTreeMap<String, String>, Error> {
    let text = cfg.to_toml()?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| Error::Io(format!("config: {e}")))?;
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out);
    Ok(out)
}

/// Flattens nested tables into `a.b.c` keys; arrays of tables (the layers) keep their
/// index: `model.layers[2].kernel_size`.
pub(crate) fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::Array(a) if a.iter().all(|x| x.is_table()) && !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The keys in which `now` differs from `then`, as `key = now (the checkpoint's: then)`,
/// leaving out the keys in [`MAY_CHANGE`].
fn edited_keys(now: &ExperimentConfig, then: &ExperimentConfig) -> Result<Vec<String>, Error> {
    let (a, b) = (flat(now)?, flat(then)?);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let absent = "(absent)".to_string();
    Ok(keys
        .into_iter()
        .filter(|k| !MAY_CHANGE.contains(&k.as_str()) && a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{k} = {} (the checkpoint's: {})",
                a.get(k).unwrap_or(&absent),
                b.get(k).unwrap_or(&absent)
            )
        })
        .collect())
}

/// Checks that `ck` can continue the run of `cfg` (the config being resumed, with
/// `--epochs` applied) in `run`, whose training loader has `batches` batches an epoch;
/// `extended` says whether `--epochs` asked for more epochs than the saved config.
///
/// Fails with [`Error::Config`] when the config was edited since the checkpoint (naming the
/// keys), when the run is finished, or when `--epochs` is not past the epochs trained; with
/// [`Error::Checkpoint`] when the state is out of range.
pub fn check_resume(
    run: &Path,
    ck: &LoadedCheckpoint,
    cfg: &ExperimentConfig,
    batches: usize,
    extended: bool,
) -> Result<(), Error> {
    let st = &ck.state;
    let state = ck.dir.join("state.json");
    let damaged = |what: String| {
        Error::Checkpoint(format!(
            "{}: {what}; the checkpoint is damaged (remove its folder to resume from an \
             older one)",
            state.display()
        ))
    };
    if let Some(text) = &st.config {
        let then = ExperimentConfig::from_toml_str(text, &state.display().to_string())
            .map_err(|e| damaged(format!("its config does not read: {e}")))?;
        let edits = edited_keys(cfg, &then)?;
        if !edits.is_empty() {
            let shown = if edits.len() > 4 {
                format!("{}, and {} more", edits[..4].join(", "), edits.len() - 4)
            } else {
                edits.join(", ")
            };
            return Err(Error::Config(format!(
                "--resume {}: config.toml was edited since the checkpoint ({shown}); an exact \
                 resume needs the config the run was trained with: restore it, or train a \
                 new run with --out",
                run.display()
            )));
        }
        if st.epoch > then.train.epochs {
            return Err(damaged(format!(
                "epoch {} is past the run's {} epochs",
                st.epoch, then.train.epochs
            )));
        }
    }
    if st.history.len() != st.epoch {
        return Err(damaged(format!(
            "epoch {} does not match its {} epochs of history",
            st.epoch,
            st.history.len()
        )));
    }
    let [c_epoch, position, seed] = st.cursor;
    let epoch = st.epoch as u64;
    if c_epoch != epoch && c_epoch.checked_add(1) != Some(epoch) {
        return Err(damaged(format!(
            "the loader's epoch {c_epoch} does not match epoch {epoch}"
        )));
    }
    if position > batches as u64 {
        return Err(damaged(format!(
            "the loader's position {position} is past the {batches} batches of an epoch \
             (was train.batch_size changed?)"
        )));
    }
    let expected = c_epoch
        .checked_mul(batches as u64)
        .and_then(|s| s.checked_add(position));
    if expected != Some(st.step) {
        return Err(damaged(format!(
            "step {} does not match the loader's epoch {c_epoch} and position {position} \
             ({batches} batches an epoch)",
            st.step
        )));
    }
    if seed != cfg.train.seed {
        return Err(damaged(format!(
            "the loader's seed {seed} is not train.seed = {}",
            cfg.train.seed
        )));
    }
    if let Some(m) = cfg.train.max_steps.filter(|&m| st.step >= m) {
        return Err(Error::Config(format!(
            "--resume {}: the run is finished (train.max_steps = {m} steps trained); a run \
             measured in steps is not extended: train a new run with --out",
            run.display()
        )));
    }
    let target = cfg.train.epochs;
    if st.epoch >= target {
        return Err(Error::Config(if extended || st.epoch > target {
            format!(
                "--resume {}: --epochs {target} is not past the {} epochs trained; give \
                 more to extend the run",
                run.display(),
                st.epoch
            )
        } else {
            format!(
                "--resume {}: the run is finished ({} of {target} epochs trained); \
                 --epochs N with N > {target} extends it",
                run.display(),
                st.epoch
            )
        }));
    }
    if !extended && stopped_early(run) {
        return Err(Error::Config(format!(
            "--resume {}: the run is finished (it stopped early at epoch {}); --epochs N \
             with N > {target} continues it",
            run.display(),
            st.epoch
        )));
    }
    Ok(())
}

/// Refuses to start over a run that has results but no checkpoint to continue from: its
/// `summary.json` (a finished run) or `metrics.jsonl` rows would be replaced.
pub fn check_restart(run: &Path) -> Result<(), Error> {
    for f in ["summary.json", "metrics.jsonl"] {
        let p = run.join(f);
        if std::fs::metadata(&p).is_ok_and(|m| m.len() > 0) {
            return Err(Error::Config(format!(
                "--resume {}: no complete checkpoint to continue from, but the run has results \
                 ({f}) that starting over would replace; train a new run with --out",
                run.display()
            )));
        }
    }
    Ok(())
}

/// Refuses a text run whose saved `vocab.json` is damaged or differs from the vocabulary of
/// its data now (the model's rows would mean other characters).
pub fn check_vocab(run: &Path, now: &nabla_data::Vocab) -> Result<(), Error> {
    let p = run.join("vocab.json");
    if !p.exists() {
        return Ok(());
    }
    let saved = nabla_data::Vocab::load(&p).map_err(|e| {
        Error::Checkpoint(format!(
            "{}: {e}; the run's vocabulary is damaged",
            p.display()
        ))
    })?;
    if saved.chars() != now.chars() {
        return Err(Error::Config(format!(
            "--resume {}: the text's characters differ from the run's vocab.json ({} then, {} \
             now); resume needs the text the run was trained on",
            run.display(),
            saved.len(),
            now.len()
        )));
    }
    Ok(())
}

/// Whether the run's `summary.json` says it stopped early.
fn stopped_early(run: &Path) -> bool {
    std::fs::read(run.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("stopped_early").and_then(|s| s.as_bool()))
        .unwrap_or(false)
}
