//! Anomaly mode: find the first op whose output, or whose gradient, is not finite.
//!
//! Inside a [`detect_anomaly`] scope every op's output is checked as it is computed, and every
//! gradient the backward pass computes; the first NaN or infinity is reported with the op, the
//! layer path that was running (layers announce themselves with [`scope`]), the shapes, and
//! whether it appeared in the forward or the backward pass. Forward findings are recorded
//! (ops cannot fail on a value) and returned by [`take_anomaly`] — the trainer asks after each
//! forward pass; backward findings make `backward` fail at once. Outside the scope nothing is
//! checked and nothing is recorded, so it costs nothing.
//!
//! ```
//! use nabla_core::{anomaly, Tensor, Var};
//! let x = Var::from_vec(vec![1.0f64, 0.0], &[2]).unwrap();
//! let _on = anomaly::detect_anomaly();
//! let y = {
//!     let _layer = anomaly::scope("3", "Linear");
//!     x.as_tensor().log().unwrap() // log(0) = -inf
//! };
//! let e = anomaly::take_anomaly().unwrap();
//! assert!(e.contains("log") && e.contains("3 (Linear)") && e.contains("forward"), "{e}");
//! let _ = y;
//! ```

use crate::dtype::DType;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};

thread_local! {
    static ON: Cell<usize> = const { Cell::new(0) };
    static PATH: RefCell<Vec<(String, &'static str)>> = const { RefCell::new(Vec::new()) };
    static FIRST: RefCell<Option<String>> = const { RefCell::new(None) };
    static IN_BACKWARD: Cell<bool> = const { Cell::new(false) };
    static PATHS: Cell<usize> = const { Cell::new(0) };
}

/// Keeps the layer path (see [`scope`]) while the guard lives, also outside anomaly mode
/// (the health monitor names layers with it).
#[must_use = "paths are kept only while the guard lives"]
pub struct PathGuard(());

/// Layers report their path while the guard lives.
pub fn track_paths() -> PathGuard {
    PATHS.with(|c| c.set(c.get() + 1));
    PathGuard(())
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        PATHS.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Marks the backward pass while it lives: its ops are checked by the backward pass itself
/// (as gradients), not recorded as forward anomalies.
pub(crate) struct BackwardGuard(bool);

pub(crate) fn in_backward() -> BackwardGuard {
    BackwardGuard(IN_BACKWARD.with(|b| b.replace(true)))
}

impl Drop for BackwardGuard {
    fn drop(&mut self) {
        let prev = self.0;
        IN_BACKWARD.with(|b| b.set(prev));
    }
}

/// Turns anomaly mode on for this thread while the guard lives (scopes nest).
#[must_use = "anomaly mode ends when the guard is dropped"]
pub struct AnomalyGuard(());

/// Anomaly mode on this thread until the guard is dropped.
pub fn detect_anomaly() -> AnomalyGuard {
    ON.with(|c| c.set(c.get() + 1));
    AnomalyGuard(())
}

impl Drop for AnomalyGuard {
    fn drop(&mut self) {
        ON.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Whether anomaly mode is on for this thread.
pub fn is_anomaly_enabled() -> bool {
    ON.with(|c| c.get() > 0)
}

/// A layer's entry in the current path while the guard lives (pushed only in anomaly mode).
#[must_use = "the layer leaves the path when the guard is dropped"]
pub struct ScopeGuard(bool);

/// Enters layer `name` (its place in its parent, e.g. `"3"`) of type `kind` (e.g.
/// `"Linear"`): ops computed until the guard drops are reported as `3 (Linear)`, nested paths
/// as `0.3 (Linear)`. Does nothing outside anomaly mode.
/// The name is formatted only when paths are kept, so a layer's forward pass allocates
/// nothing for it otherwise.
pub fn scope(name: impl std::fmt::Display, kind: &'static str) -> ScopeGuard {
    if !is_anomaly_enabled() && PATHS.with(|c| c.get()) == 0 {
        return ScopeGuard(false);
    }
    PATH.with(|p| p.borrow_mut().push((name.to_string(), kind)));
    ScopeGuard(true)
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.0 {
            PATH.with(|p| {
                p.borrow_mut().pop();
            });
        }
    }
}

/// The current layer path, e.g. `0.3 (Linear)`; empty outside any layer.
pub fn current_path() -> String {
    PATH.with(|p| {
        let p = p.borrow();
        match p.last() {
            None => String::new(),
            Some((_, kind)) => {
                let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
                format!("{} ({kind})", names.join("."))
            }
        }
    })
}

/// The first forward anomaly recorded since the last call (and forgets it).
pub fn take_anomaly() -> Option<String> {
    FIRST.with(|f| f.borrow_mut().take())
}

/// Counts the NaN and infinite elements of a float tensor (0 for i64).
pub fn count_non_finite(t: &Tensor) -> usize {
    match t.dtype() {
        DType::F32 => t
            .data::<f32>()
            .map_or(0, |d| d.iter().filter(|v| !v.is_finite()).count()),
        DType::F64 => t
            .data::<f64>()
            .map_or(0, |d| d.iter().filter(|v| !v.is_finite()).count()),
        DType::I64 => 0,
    }
}

fn describe(
    op: &str,
    path: &str,
    out: &Tensor,
    inputs: &[Vec<usize>],
    pass: &str,
    n: usize,
) -> String {
    let at = if path.is_empty() {
        String::new()
    } else {
        format!(" in layer {path}")
    };
    let ins: Vec<String> = inputs.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "anomaly: {op}{at} produced {n} non-finite value(s) in its {pass} (output {:?}, inputs {})",
        out.shape(),
        ins.join(", ")
    )
}

/// Called for each op output in anomaly mode: records the first non-finite one.
pub(crate) fn check_forward(op: &'static str, out: &Tensor, inputs: &[&Tensor]) {
    if IN_BACKWARD.with(|b| b.get()) || FIRST.with(|f| f.borrow().is_some()) {
        return;
    }
    let n = count_non_finite(out);
    if n > 0 {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let msg = describe(op, &current_path(), out, &shapes, "forward pass", n);
        FIRST.with(|f| *f.borrow_mut() = Some(msg));
    }
}

/// Called for each gradient the backward pass computes in anomaly mode.
pub(crate) fn check_backward(
    op: &'static str,
    path: &str,
    grad: &Tensor,
    inputs: &[Vec<usize>],
) -> crate::Result<()> {
    let n = count_non_finite(grad);
    if n > 0 {
        return Err(crate::Error::Anomaly(describe(
            op,
            path,
            grad,
            inputs,
            "backward pass (the gradient of one of its inputs)",
            n,
        )));
    }
    Ok(())
}
