//! Named tensors and scalars: how parameters, buffers, optimizer and schedule state are saved.

use nabla_core::Tensor;
use std::collections::BTreeMap;

/// Named tensors (PyTorch `state_dict` names such as `"0.weight"`) and named scalars
/// (step counters, learning rates), in sorted order.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Scalars by name.
    pub scalars: BTreeMap<String, f64>,
}

impl StateDict {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds every entry of `other` with `prefix.` before its name.
    pub fn extend_prefixed(&mut self, prefix: &str, other: StateDict) {
        for (k, v) in other.tensors {
            self.tensors.insert(format!("{prefix}.{k}"), v);
        }
        for (k, v) in other.scalars {
            self.scalars.insert(format!("{prefix}.{k}"), v);
        }
    }
    /// The entries whose names start with `prefix.`, with the prefix removed.
    pub fn sub(&self, prefix: &str) -> StateDict {
        let p = format!("{prefix}.");
        StateDict {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|s| (s.to_string(), v.clone())))
                .collect(),
            scalars: self
                .scalars
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|s| (s.to_string(), *v)))
                .collect(),
        }
    }
}
