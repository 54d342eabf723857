//! The files rank 0 writes into a run folder before training: the resolved config, and the
//! standardizer, vocabulary and CSV columns when the data have them.

use crate::config::ExperimentConfig;
use crate::data::Data;
use nabla_core::Error;
use serde_json::json;
use std::path::Path;

/// Fails when `dir` cannot be written (a read-only folder), naming it.
pub(crate) fn check_writable(dir: &Path) -> Result<(), Error> {
    let probe = dir.join(".nabla-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        Error::Io(format!(
            "output folder {} is not writable: {e}",
            dir.display()
        ))
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Rank 0's files of a new (or resumed) run: the resolved config, and the standardizer,
/// vocabulary and CSV columns when the data have them.
pub(crate) fn write(out: &Path, cfg: &ExperimentConfig, data: &Data) -> Result<(), Error> {
    check_writable(out)?;
    nabla_core::io::write_atomic(&out.join("config.toml"), cfg.to_toml()?.as_bytes())?;
    if let Some(s) = &data.standardizer {
        let j = json!({"mean": s.mean(), "std": s.std()});
        nabla_train::trainer::write_json(&out.join("standardizer.json"), &j)?;
    }
    if let Some(v) = &data.vocab {
        v.save(out.join("vocab.json"))?;
    }
    if let Some(i) = data.label_index {
        let j = json!({"label_index": i, "classes": data.class_names});
        nabla_train::trainer::write_json(&out.join("columns.json"), &j)?;
    }
    Ok(())
}

/// `p` resolved to an absolute path when it can be.
pub(crate) fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
