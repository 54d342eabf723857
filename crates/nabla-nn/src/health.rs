//! Activation statistics for the gradient-health monitor: while [`collect`] is active, ReLU,
//! sigmoid and tanh layers record how many of their units are dead or saturated.

use nabla_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};

/// One activation layer's statistics on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationStat {
    /// The layer path, e.g. `1 (ReLU)`.
    pub layer: String,
    /// ReLU: the fraction of units (features, or channel positions) that are zero for every
    /// sample of the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead: Option<f64>,
    /// Sigmoid and tanh: the fraction of outputs in the flat tails (sigmoid below 0.01 or
    /// above 0.99, |tanh| above 0.99), where the derivative is under about 0.01 and δ dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<f64>,
}

thread_local! {
    static ON: Cell<usize> = const { Cell::new(0) };
    static STATS: RefCell<Vec<ActivationStat>> = const { RefCell::new(Vec::new()) };
}

/// Collects activation statistics (and keeps layer paths) while the guard lives.
#[must_use = "statistics are collected only while the guard lives"]
pub struct CollectGuard(#[allow(dead_code)] nabla_core::anomaly::PathGuard);

/// Starts collecting; [`take`] returns what was collected.
pub fn collect() -> CollectGuard {
    ON.with(|c| c.set(c.get() + 1));
    CollectGuard(nabla_core::anomaly::track_paths())
}

impl Drop for CollectGuard {
    fn drop(&mut self) {
        ON.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Whether statistics are being collected on this thread.
pub fn collecting() -> bool {
    ON.with(|c| c.get() > 0)
}

/// The statistics collected so far (and forgets them).
pub fn take() -> Vec<ActivationStat> {
    STATS.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn values(t: &Tensor) -> Vec<f32> {
    match t.dtype() {
        DType::F32 => t.to_vec::<f32>().unwrap_or_default(),
        _ => t.to_vec_f64().into_iter().map(|v| v as f32).collect(),
    }
}

/// Records a ReLU output `[N, ...]`: units zero across the whole batch.
pub(crate) fn record_relu(y: &Tensor) {
    let v = values(y);
    let n = y.shape().first().copied().unwrap_or(1).max(1);
    let units = v.len() / n;
    if units == 0 {
        return;
    }
    let mut alive = vec![false; units];
    for row in v.chunks(units) {
        for (a, &x) in alive.iter_mut().zip(row) {
            *a |= x != 0.0;
        }
    }
    let dead = alive.iter().filter(|a| !**a).count() as f64 / units as f64;
    push(ActivationStat {
        layer: nabla_core::anomaly::current_path(),
        dead: Some(dead),
        saturated: None,
    });
}

/// Records a sigmoid (`lo = 0.01`, `hi = 0.99`) or tanh (`-0.99`, `0.99`) output.
pub(crate) fn record_saturation(y: &Tensor, lo: f32, hi: f32) {
    let v = values(y);
    if v.is_empty() {
        return;
    }
    let s = v.iter().filter(|&&x| x < lo || x > hi).count() as f64 / v.len() as f64;
    push(ActivationStat {
        layer: nabla_core::anomaly::current_path(),
        dead: None,
        saturated: Some(s),
    });
}

fn push(s: ActivationStat) {
    STATS.with(|v| v.borrow_mut().push(s));
}
