//! The gradient-health monitor: every `health_every` optimizer steps, per parameter tensor the
//! gradient and weight norms and the update-to-weight ratio ‖Δw‖/‖w‖ the optimizer applied,
//! per activation layer the dead (ReLU) and saturated (sigmoid, tanh) fractions, the global
//! gradient norm before clipping, whether clipping fired, and the count of non-finite
//! gradient values — one JSON line per record in `health.jsonl` — and the diagnoses drawn
//! from them (vanishing and exploding gradients, dead or saturated units, a learning rate
//! too high or too low), printed once per kind during training and by `nabla health`.

use nabla_nn::health::ActivationStat;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One parameter tensor's statistics at a health step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamHealth {
    /// The `state_dict` name, e.g. `0.weight`.
    pub name: String,
    /// ‖∂C/∂w‖ (L2, before clipping).
    pub grad_norm: f64,
    /// ‖w‖ before the update.
    pub weight_norm: f64,
    /// ‖Δw‖ / ‖w‖ of the update the optimizer applied.
    pub update_ratio: f64,
    /// NaN or infinite gradient elements.
    pub non_finite: usize,
}

/// One health step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// Optimizer step (from 1).
    pub step: u64,
    /// Epoch (from 1).
    pub epoch: usize,
    /// The global gradient norm before clipping.
    pub global_grad_norm: f64,
    /// Whether norm clipping scaled the gradients down.
    pub clipped: bool,
    /// NaN or infinite gradient elements over all parameters.
    pub non_finite: usize,
    /// Per parameter tensor.
    pub params: Vec<ParamHealth>,
    /// Per activation layer (ReLU, sigmoid, tanh).
    pub activations: Vec<ActivationStat>,
    /// Weight and gradient histograms per parameter tensor, taken only when TensorBoard is
    /// on (`TrainConfig::health_histograms`, which TensorBoard asks for); not written to `health.jsonl`.
    #[serde(skip)]
    pub histograms: Vec<ParamHistograms>,
}

/// One parameter tensor's histograms at a health step (for TensorBoard).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamHistograms {
    /// The `state_dict` name.
    pub name: String,
    /// Its values before the update.
    pub weights: crate::Histogram,
    /// Its gradient (after clipping); `None` when it received none.
    pub grads: Option<crate::Histogram>,
}

/// A problem seen in the health records, with its suggested fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// `vanishing_gradients`, `exploding_gradients`, `dead_relu`, `saturated`,
    /// `learning_rate_too_high` or `learning_rate_too_low`.
    pub kind: &'static str,
    /// What was seen (layers and numbers) and what to do.
    pub message: String,
}

fn weights(r: &HealthRecord) -> Vec<&ParamHealth> {
    // weight matrices and kernels (not biases or norm scales)
    r.params
        .iter()
        .filter(|p| p.name.ends_with("weight") || p.name.contains("weight_"))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The diagnoses the records support (each kind at most once), in a fixed order; none for a
/// healthy run.
///
/// - vanishing gradients: the first weight tensor's gradient norm below 1e-3 of the last's
///   (median over the records);
/// - exploding gradients: a non-finite gradient, or the global norm grown more than 1000-fold
///   from the first record;
/// - dead ReLUs: a ReLU layer with more than half its units dead in each of the last three
///   records;
/// - saturated sigmoid/tanh: more than half the outputs saturated in each of the last three;
/// - learning rate too high / too low: the median update-to-weight ratio above 0.1 (or one
///   record's above 1) or below 1e-6 (about 1e-3 is healthy: CS231n's rule of thumb), over
///   the weight tensors that got a gradient (a dead layer's zero update is not a low rate).
pub fn diagnose(records: &[HealthRecord]) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return out;
    };
    // vanishing: first layer's gradient a tiny fraction of the last's
    let ratios: Vec<(f64, String, String)> = records
        .iter()
        .filter_map(|r| {
            let w = weights(r);
            let (a, b) = (w.first()?, w.last()?);
            (w.len() >= 2 && b.grad_norm > 0.0)
                .then(|| (a.grad_norm / b.grad_norm, a.name.clone(), b.name.clone()))
        })
        .collect();
    if !ratios.is_empty() {
        let m = median(ratios.iter().map(|r| r.0).collect());
        if m < 1e-3 {
            out.push(Diagnosis {
                kind: "vanishing_gradients",
                message: format!(
                    "vanishing gradients: ‖∂C/∂W‖ of {} is {m:.1e} of {}'s (median over {} records): δ shrinks on its way back through the layers (each sigmoid multiplies it by σ' ≤ 1/4); use ReLU with Kaiming init, batch normalization, or residual connections",
                    ratios[0].1, ratios[0].2, ratios.len()
                ),
            });
        }
    }
    // exploding
    let non_finite = records
        .iter()
        .find(|r| r.non_finite > 0 || !r.global_grad_norm.is_finite());
    let growth = last.global_grad_norm / first.global_grad_norm;
    if let Some(r) = non_finite {
        out.push(Diagnosis {
            kind: "exploding_gradients",
            message: format!(
                "exploding gradients: {} non-finite gradient values at step {} (global norm {:.3e}); lower the learning rate, clip the gradient norm (train.clip_grad_norm), or run with --detect-anomaly to find the op",
                r.non_finite, r.step, r.global_grad_norm
            ),
        });
    } else if first.global_grad_norm > 0.0 && growth > 1e3 {
        out.push(Diagnosis {
            kind: "exploding_gradients",
            message: format!(
                "exploding gradients: the global gradient norm grew {growth:.1e}-fold, from {:.3e} at step {} to {:.3e} at step {}; lower the learning rate or clip the gradient norm (train.clip_grad_norm)",
                first.global_grad_norm, first.step, last.global_grad_norm, last.step
            ),
        });
    }
    // dead ReLUs, saturated units: in each of the last 3 records (a layer can start with
    // half its units off, e.g. after non-negative inputs, and recover in a few steps)
    let recent = &records[records.len().saturating_sub(3)..];
    let persists = |i: usize, f: &dyn Fn(&ActivationStat) -> Option<f64>| {
        recent.len() == 3
            && recent
                .iter()
                .all(|r| r.activations.get(i).and_then(f).is_some_and(|v| v > 0.5))
    };
    let dead: Vec<String> = last
        .activations
        .iter()
        .enumerate()
        .filter(|(i, _)| persists(*i, &|a: &ActivationStat| a.dead))
        .map(|(_, a)| format!("{} ({:.0}% dead)", a.layer, 100.0 * a.dead.unwrap_or(0.0)))
        .collect();
    if !dead.is_empty() {
        out.push(Diagnosis {
            kind: "dead_relu",
            message: format!(
                "dead ReLUs: {} output 0 for every sample, so no gradient flows through them; lower the learning rate, use Kaiming init or LeakyReLU",
                dead.join(", ")
            ),
        });
    }
    let sat: Vec<String> = last
        .activations
        .iter()
        .enumerate()
        .filter(|(i, _)| persists(*i, &|a: &ActivationStat| a.saturated))
        .map(|(_, a)| {
            format!(
                "{} ({:.0}% saturated)",
                a.layer,
                100.0 * a.saturated.unwrap_or(0.0)
            )
        })
        .collect();
    if !sat.is_empty() {
        out.push(Diagnosis {
            kind: "saturated",
            message: format!(
                "saturated units: {} sit in the flat tails where σ' ≈ 0, so δ vanishes there; scale the inputs, use a smaller init, batch normalization, or ReLU",
                sat.join(", ")
            ),
        });
    }
    // learning rate: update / weight ratios of the tensors that got a gradient (a dead layer's
    // zero update says nothing about the learning rate)
    let per_record: Vec<f64> = records
        .iter()
        .filter_map(|r| {
            let v: Vec<f64> = weights(r)
                .iter()
                .filter(|p| p.grad_norm > 0.0)
                .map(|p| p.update_ratio)
                .collect();
            (!v.is_empty()).then(|| median(v))
        })
        .collect();
    let upd = median(per_record.clone());
    // one step that moves the weights by more than their norm is too high whatever follows
    let worst = per_record.iter().copied().fold(0.0f64, f64::max);
    if upd > 0.1 || worst > 1.0 {
        out.push(Diagnosis {
            kind: "learning_rate_too_high",
            message: format!(
                "learning rate too high: the updates change the weights by {upd:.1e} of their norm per step (median; up to {worst:.1e} in one step; about 1e-3 is healthy); lower train.optimizer.lr"
            ),
        });
    } else if !per_record.is_empty() && upd < 1e-6 {
        out.push(Diagnosis {
            kind: "learning_rate_too_low",
            message: format!(
                "learning rate too low: the updates change the weights by only {upd:.1e} of their norm per step (median; about 1e-3 is healthy); raise train.optimizer.lr"
            ),
        });
    }
    out
}

/// The records of a `health.jsonl`: every complete line, and a note on each damaged one
/// (a line cut short or not a record), naming the file and the line.
///
/// Fails when the file cannot be read.
pub fn read_health(path: &Path) -> std::io::Result<(Vec<HealthRecord>, Vec<String>)> {
    crate::jsonl::read_jsonl(path, "health record")
}
