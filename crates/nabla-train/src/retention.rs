//! How many step checkpoints a run keeps (`train.keep_checkpoints`): the newest N, or all of
//! them, as Keras' `ModelCheckpoint` and Lightning's `save_top_k` let users choose. The
//! `best/` checkpoint is kept apart and never pruned.

use crate::checkpoint::list_checkpoints;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;

/// Which step checkpoints (`checkpoints/ckpt-*`) a run keeps after writing a new one.
///
/// The TOML form is a whole number of at least 1 or the string `"all"`:
///
/// ```
/// use nabla_train::KeepCheckpoints;
/// let k: KeepCheckpoints = serde_json::from_str("5").unwrap();
/// assert_eq!(k, KeepCheckpoints::Newest(5));
/// let k: KeepCheckpoints = serde_json::from_str("\"all\"").unwrap();
/// assert_eq!(k, KeepCheckpoints::All);
/// let e = serde_json::from_str::<KeepCheckpoints>("0").unwrap_err().to_string();
/// assert!(e.contains(">= 1, or \"all\""), "{e}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepCheckpoints {
    /// The newest this many (at least 1: resuming needs one).
    Newest(usize),
    /// Every one written.
    All,
}

impl Default for KeepCheckpoints {
    /// The newest two: the one just written and the one before, in case the newest is
    /// damaged.
    fn default() -> Self {
        KeepCheckpoints::Newest(2)
    }
}

impl KeepCheckpoints {
    /// Removes the step checkpoints of `run_dir` beyond what this keeps (oldest first).
    pub fn prune(self, run_dir: &Path) {
        let KeepCheckpoints::Newest(keep) = self else {
            return;
        };
        let all = list_checkpoints(run_dir);
        if all.len() > keep {
            for d in &all[..all.len() - keep] {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

impl fmt::Display for KeepCheckpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepCheckpoints::Newest(n) => write!(f, "{n}"),
            KeepCheckpoints::All => f.write_str("all"),
        }
    }
}

impl Serialize for KeepCheckpoints {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepCheckpoints::Newest(n) => s.serialize_u64(*n as u64),
            KeepCheckpoints::All => s.serialize_str("all"),
        }
    }
}

const ALLOWED: &str = "a whole number of checkpoints >= 1, or \"all\"";

impl<'de> Deserialize<'de> for KeepCheckpoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeepCheckpoints;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(ALLOWED)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                match usize::try_from(v) {
                    Ok(n) if n >= 1 => Ok(KeepCheckpoints::Newest(n)),
                    _ => Err(E::custom(format!("expected {ALLOWED}, got {v}"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!("expected {ALLOWED}, got {v}"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "all" {
                    Ok(KeepCheckpoints::All)
                } else {
                    Err(E::custom(format!("expected {ALLOWED}, got \"{v}\"")))
                }
            }
        }
        d.deserialize_any(V)
    }
}
