//! Checkpoints: everything a run needs to continue bitwise, written atomically.
//!
//! A checkpoint is a folder `checkpoints/ckpt-{step:010}` holding
//! - `model.safetensors`: parameters and buffers with PyTorch `state_dict` names and layouts
//!   (so `model.load_state_dict(safetensors.torch.load_file(...))` works in PyTorch);
//! - `optim.safetensors`: optimizer and schedule tensors (momentum buffers, moments, ...);
//! - `state.json`: epoch, step, data-loader cursor, random streams, optimizer and schedule
//!   scalars, the epoch's running sums and the metrics history.
//!
//! It is written into `ckpt-….tmp`, every file is fsynced, and the folder is renamed into place
//! (then the parent is fsynced), so a new folder appears complete or not at all. Replacing an
//! existing folder (always for `best`, and for a `ckpt-…` rewritten at the same step) takes
//! two renames, the old folder to `{name}.old` and then the new one into place: a crash
//! between them leaves the previous version only as `{name}.old`, which
//! [`latest_checkpoint`] does not read (it falls back to the other kept checkpoint). The two
//! newest `ckpt-…` folders are kept.

use crate::Error;
use nabla_core::io::{load_safetensors, to_safetensors_bytes};
use nabla_core::{MtState, Tensor};
use nabla_nn::{Module, StateDict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One epoch's row of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (classification).
    pub train_accuracy: Option<f64>,
    /// Validation loss.
    pub val_loss: Option<f64>,
    /// Validation accuracy.
    pub val_accuracy: Option<f64>,
    /// Training bits per token (language models: the loss / ln 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_bpc: Option<f64>,
    /// Validation bits per token (language models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bpc: Option<f64>,
    /// Validation mean absolute error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_mae: Option<f64>,
    /// Validation root mean squared error (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rmse: Option<f64>,
    /// Validation R² (regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_r2: Option<f64>,
    /// The learning rate the epoch trained with (its last step's, under a per-step schedule).
    pub lr: f64,
    /// Wall time of the epoch (training and validation).
    pub seconds: f64,
}

/// The scalar part of a checkpoint (`state.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Completed epochs.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The training loader's cursor: epoch, position, seed.
    pub cursor: [u64; 3],
    /// The dropout stream's state.
    pub rng_key: Vec<u32>,
    /// Its position.
    pub rng_pos: usize,
    /// Its cached normal deviate.
    pub rng_gauss: Option<f64>,
    /// Optimizer scalars (step counts, learning rates).
    pub optim_scalars: BTreeMap<String, f64>,
    /// Schedule scalars.
    pub sched_scalars: BTreeMap<String, f64>,
    /// Running sums of the current epoch: loss·n, correct, n, seconds.
    pub running: [f64; 4],
    /// Best monitored value so far (validation loss, or training loss without validation).
    pub best: Option<f64>,
    /// Epochs without improvement (early stopping).
    pub bad_epochs: usize,
    /// Metrics of the completed epochs.
    pub history: Vec<EpochMetrics>,
    /// Ranks that trained the run when the checkpoint was written (1 in one process; absent
    /// in checkpoints older than data-parallel training).
    #[serde(default = "one")]
    pub world_size: usize,
    /// The run's config as it was when the checkpoint was written (absent when the trainer
    /// was not given one, see `Trainer::with_run_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

fn one() -> usize {
    1
}

impl TrainerState {
    /// Parses the bytes of a `state.json`; `name` names the file in errors.
    ///
    /// Fails ([`Error::Checkpoint`], naming the file) when they are not the JSON of a
    /// `TrainerState`.
    pub fn from_json_bytes(bytes: &[u8], name: &str) -> Result<Self, Error> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Checkpoint(format!("{name}: corrupted ({e})")))
    }

    /// The random state as an [`MtState`].
    pub fn rng_state(&self) -> MtState {
        MtState {
            key: self.rng_key.clone(),
            pos: self.rng_pos,
            gauss: self.rng_gauss,
        }
    }
}

/// Parameters and buffers of a module, by their `state_dict` names.
pub fn model_tensors(m: &dyn Module) -> BTreeMap<String, Tensor> {
    m.parameters()
        .into_iter()
        .chain(m.buffers())
        .map(|(k, v)| (k, v.as_tensor().detach()))
        .collect()
}

/// Saves a module's parameters and buffers to a safetensors file, with PyTorch's
/// `state_dict` names (`0.weight`, ...), atomically.
pub fn save_model(m: &dyn Module, path: impl AsRef<Path>) -> Result<(), Error> {
    nabla_core::io::save_safetensors(&model_tensors(m), path.as_ref())?;
    Ok(())
}

/// Loads a safetensors file written by [`save_model`] (or by PyTorch's `save_file` of a
/// `state_dict` of the same model) into a module.
///
/// Fails, changing nothing, when the file cannot be read or a tensor is missing, extra, or of
/// another shape or dtype (the message names the file and lists the problems).
pub fn load_model(m: &dyn Module, path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    let tensors = nabla_core::io::load_safetensors(path)?;
    load_model_tensors(m, &tensors, &path.display().to_string())
}

/// Loads weights into a module, checking that every name is present with the right shape and
/// dtype and that there is nothing extra.
pub fn load_model_tensors(
    m: &dyn Module,
    tensors: &BTreeMap<String, Tensor>,
    what: &str,
) -> Result<(), Error> {
    let own: Vec<_> = m.parameters().into_iter().chain(m.buffers()).collect();
    let mut problems = Vec::new();
    for (k, v) in &own {
        match tensors.get(k) {
            None => problems.push(format!("missing tensor {k}")),
            Some(t) if t.shape() != v.shape().as_slice() || t.dtype() != v.dtype() => problems
                .push(format!(
                    "tensor {k} is {} {:?}, the model has {} {:?}",
                    t.dtype(),
                    t.shape(),
                    v.dtype(),
                    v.shape()
                )),
            _ => {}
        }
    }
    for k in tensors.keys() {
        if !own.iter().any(|(n, _)| n == k) {
            problems.push(format!("unexpected tensor {k}"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Checkpoint(format!(
            "{what} does not fit this model: {}",
            problems.join("; ")
        )));
    }
    for (k, v) in own {
        if let Some(t) = tensors.get(&k) {
            v.set(t)?;
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A checkpoint encoded in memory: the bytes of its three files, ready to be written to one
/// folder or several (the latest checkpoint and `best`).
pub struct EncodedCheckpoint {
    model: Vec<u8>,
    optim: Vec<u8>,
    state: Vec<u8>,
}

impl EncodedCheckpoint {
    /// Encodes model tensors, optimizer and schedule tensors, and the scalar state (the
    /// optimizer and schedule scalars travel in `state`; the `StateDict`s' own scalars are
    /// not read).
    pub fn encode(
        model: &BTreeMap<String, Tensor>,
        optim: &StateDict,
        sched: &StateDict,
        state: &TrainerState,
    ) -> Result<Self, Error> {
        let mut ot: BTreeMap<String, Tensor> = BTreeMap::new();
        for (k, v) in &optim.tensors {
            ot.insert(format!("optim.{k}"), v.clone());
        }
        for (k, v) in &sched.tensors {
            ot.insert(format!("sched.{k}"), v.clone());
        }
        Ok(EncodedCheckpoint {
            model: to_safetensors_bytes(model, None)?,
            optim: to_safetensors_bytes(&ot, None)?,
            state: serde_json::to_vec_pretty(state)
                .map_err(|e| Error::Io(format!("state.json: {e}")))?,
        })
    }

    /// A fingerprint of the optimizer, schedule and scalar state (not the model): what every
    /// rank of a data-parallel run must share.
    pub(crate) fn state_fingerprint(&self) -> u64 {
        crate::distributed::fingerprint(&[&self.optim, &self.state])
    }

    /// Writes the checkpoint folder atomically at `dir` (which must not exist yet, or is
    /// replaced; see the [module docs](crate::checkpoint) for what a crash leaves).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        write_encoded(dir, self)
    }
}

/// Writes a checkpoint folder atomically at `dir` (which must not exist yet, or is replaced).
pub fn write_checkpoint(
    dir: &Path,
    model: &BTreeMap<String, Tensor>,
    optim: &StateDict,
    sched: &StateDict,
    state: &TrainerState,
) -> Result<(), Error> {
    EncodedCheckpoint::encode(model, optim, sched, state)?.write(dir)
}

fn write_encoded(dir: &Path, enc: &EncodedCheckpoint) -> Result<(), Error> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::Io(format!("{}: {e}", parent.display())))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!("{name}.tmp"));
    if tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::Io(format!("{}: {e}", tmp.display())))?;
    write_synced(&tmp.join("model.safetensors"), &enc.model)?;
    write_synced(&tmp.join("optim.safetensors"), &enc.optim)?;
    write_synced(&tmp.join("state.json"), &enc.state)?;
    sync_dir(&tmp);
    if dir.exists() {
        let old = parent.join(format!("{name}.old"));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        std::fs::rename(&tmp, dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    }
    sync_dir(parent);
    Ok(())
}

/// A checkpoint read back.
pub struct LoadedCheckpoint {
    /// Where it was.
    pub dir: PathBuf,
    /// Model tensors.
    pub model: BTreeMap<String, Tensor>,
    /// Optimizer state (tensors from the file, scalars from `state.json`).
    pub optim: StateDict,
    /// Schedule state.
    pub sched: StateDict,
    /// Everything else.
    pub state: TrainerState,
}

/// Reads a checkpoint folder.
///
/// Fails with a message naming the file when one is missing, truncated or corrupted.
pub fn read_checkpoint(dir: &Path) -> Result<LoadedCheckpoint, Error> {
    let sp = dir.join("state.json");
    let bytes =
        std::fs::read(&sp).map_err(|e| Error::Checkpoint(format!("{}: {e}", sp.display())))?;
    let state = TrainerState::from_json_bytes(&bytes, &sp.display().to_string())?;
    let model = load_safetensors(&dir.join("model.safetensors"))
        .map_err(|e| Error::Checkpoint(e.to_string()))?;
    let ot = load_safetensors(&dir.join("optim.safetensors"))
        .map_err(|e| Error::Checkpoint(e.to_string()))?;
    let mut optim = StateDict {
        tensors: BTreeMap::new(),
        scalars: state.optim_scalars.clone(),
    };
    let mut sched = StateDict {
        tensors: BTreeMap::new(),
        scalars: state.sched_scalars.clone(),
    };
    for (k, v) in ot {
        if let Some(n) = k.strip_prefix("optim.") {
            optim.tensors.insert(n.to_string(), v);
        } else if let Some(n) = k.strip_prefix("sched.") {
            sched.tensors.insert(n.to_string(), v);
        }
    }
    Ok(LoadedCheckpoint {
        dir: dir.to_path_buf(),
        model,
        optim,
        sched,
        state,
    })
}

/// The step checkpoint folders (`ckpt-…`) of `run_dir/checkpoints` that hold `file`,
/// oldest first (half-written `.tmp` and replaced `.old` folders excluded).
fn checkpoint_dirs_with(run_dir: &Path, file: &str) -> Vec<PathBuf> {
    let dir = run_dir.join("checkpoints");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    n.starts_with("ckpt-")
                        && !n.ends_with(".tmp")
                        && !n.ends_with(".old")
                        && p.join(file).exists()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The complete checkpoints in `run_dir/checkpoints`, oldest first.
pub fn list_checkpoints(run_dir: &Path) -> Vec<PathBuf> {
    checkpoint_dirs_with(run_dir, "state.json")
}

/// A checkpoint that was passed over, and why (the message names the file).
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The newest complete checkpoint of a run that can be read, with the newer ones that could
/// not (damaged: a file missing, truncated or corrupted; a folder holding only the weights
/// counts as one with files missing), newest first. `None` when the run
/// has no complete checkpoint; an error when it has some and none can be read.
pub fn latest_checkpoint_reporting(
    run_dir: &Path,
) -> Result<(Option<LoadedCheckpoint>, Vec<Skipped>), Error> {
    // folders with weights but no state count too: they are damaged for resuming
    let mut all = list_checkpoints(run_dir);
    all.extend(checkpoint_dirs_with(run_dir, "model.safetensors"));
    all.sort();
    all.dedup();
    let mut skipped = Vec::new();
    for d in all.iter().rev() {
        match read_checkpoint(d) {
            Ok(c) => return Ok((Some(c), skipped)),
            Err(e) => skipped.push(Skipped {
                dir: d.clone(),
                reason: e.to_string(),
            }),
        }
    }
    match skipped.first() {
        Some(s) => Err(Error::Checkpoint(format!(
            "{}: no checkpoint of the run can be read (newest: {})",
            run_dir.display(),
            s.reason.trim_start_matches("checkpoint: ")
        ))),
        None => Ok((None, skipped)),
    }
}

/// The newest complete checkpoint of a run that can be read; an older one is used when the
/// newest is damaged (see [`latest_checkpoint_reporting`] to learn which were passed over).
pub fn latest_checkpoint(run_dir: &Path) -> Result<Option<LoadedCheckpoint>, Error> {
    Ok(latest_checkpoint_reporting(run_dir)?.0)
}

/// Model weights read for evaluation or prediction: where they came from, and the newer
/// checkpoints passed over because they were damaged.
#[derive(Debug, Clone)]
pub struct ModelWeights {
    /// The `model.safetensors` file read.
    pub file: PathBuf,
    /// The tensors, by `state_dict` name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Newer checkpoints that could not be read, newest first.
    pub skipped: Vec<Skipped>,
}

/// The weights of a checkpoint given explicitly: a folder holding `model.safetensors` (its
/// other files are not needed: a folder written by PyTorch in nabla's layout will do) or a
/// safetensors file.
///
/// Fails, naming the file, when it is missing or damaged.
pub fn read_model_weights(dir_or_file: &Path) -> Result<ModelWeights, Error> {
    let file = if dir_or_file.is_dir() {
        dir_or_file.join("model.safetensors")
    } else {
        dir_or_file.to_path_buf()
    };
    if !file.exists() {
        return Err(Error::Checkpoint(format!(
            "{}: no such file",
            file.display()
        )));
    }
    let tensors = load_safetensors(&file).map_err(|e| Error::Checkpoint(e.to_string()))?;
    Ok(ModelWeights {
        file,
        tensors,
        skipped: Vec::new(),
    })
}

/// The weights of a run's newest checkpoint whose `model.safetensors` can be read (the
/// optimizer and loader state are not needed, so a folder holding only the weights counts);
/// damaged newer ones are passed over and listed in [`ModelWeights::skipped`].
///
/// Fails when the run has no checkpoint, or none whose weights can be read.
pub fn latest_model_weights(run_dir: &Path) -> Result<ModelWeights, Error> {
    let mut skipped = Vec::new();
    for d in checkpoint_dirs_with(run_dir, "model.safetensors")
        .iter()
        .rev()
    {
        match read_model_weights(d) {
            Ok(mut w) => {
                w.skipped = skipped;
                return Ok(w);
            }
            Err(e) => skipped.push(Skipped {
                dir: d.clone(),
                reason: e.to_string(),
            }),
        }
    }
    Err(Error::Checkpoint(match skipped.first() {
        Some(s) => format!(
            "{}: no checkpoint's weights can be read (newest: {})",
            run_dir.display(),
            s.reason.trim_start_matches("checkpoint: ")
        ),
        None => format!("{}: the run has no checkpoint", run_dir.display()),
    }))
}
