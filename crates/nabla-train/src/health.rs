//! The gradient-health monitor: every `health_every` optimizer steps, per parameter tensor the
//! gradient and weight norms and the update-to-weight ratio ‖Δw‖/‖w‖ the optimizer applied,
//! per activation layer the dead (ReLU) and saturated (sigmoid, tanh) fractions, the global
//! gradient norm before clipping, whether clipping fired, and the count of non-finite
//! gradient values — one JSON line per record in `health.jsonl` — and the diagnoses drawn
//! from them (vanishing and exploding gradients, dead or saturated units, a learning rate
//! too high or too low), logged once per kind during training (target `nabla::health`) and
//! summarized with the statistics' ranges by [`HealthSummary`] (`nabla health` prints it).

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

/// One statistic over a run's health records: its first, last, smallest and largest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatRange {
    /// At the first record.
    pub first: f64,
    /// At the last record.
    pub last: f64,
    /// The smallest (NaN values left out).
    pub min: f64,
    /// The largest (NaN values left out).
    pub max: f64,
}

impl StatRange {
    /// The range of `values` in record order; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<StatRange> {
        let (first, last) = (*values.first()?, *values.last()?);
        Some(StatRange {
            first,
            last,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

impl std::fmt::Display for StatRange {
    /// The four values in columns 10 wide, as in the `nabla health` table.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let StatRange {
            first,
            last,
            min,
            max,
        } = self;
        write!(f, "{first:>10.3e} {last:>10.3e} {min:>10.3e} {max:>10.3e}")
    }
}

/// One parameter tensor's statistics over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSummary {
    /// The `state_dict` name.
    pub name: String,
    /// ‖∂C/∂w‖.
    pub grad_norm: StatRange,
    /// ‖w‖.
    pub weight_norm: StatRange,
    /// ‖Δw‖ / ‖w‖.
    pub update_ratio: StatRange,
}

/// One activation layer's statistics over a run (those it has).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationSummary {
    /// The layer path, e.g. `1 (ReLU)`.
    pub layer: String,
    /// ReLU: the dead fraction.
    pub dead: Option<StatRange>,
    /// Sigmoid and tanh: the saturated fraction.
    pub saturated: Option<StatRange>,
}

/// A run's gradient health at a glance: per parameter tensor and activation layer the first,
/// last, smallest and largest value of each statistic, how often clipping fired, and the
/// [`diagnose`]s. Displays as the table `nabla health` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSummary {
    /// Health records summarized.
    pub records: usize,
    /// The first record's step.
    pub first_step: u64,
    /// The last record's step.
    pub last_step: u64,
    /// Per parameter tensor of the first record, in its order.
    pub params: Vec<ParamSummary>,
    /// The global gradient norm before clipping.
    pub global_grad_norm: StatRange,
    /// Per activation layer of the first record, in its order.
    pub activations: Vec<ActivationSummary>,
    /// Records at which norm clipping fired.
    pub clipped: usize,
    /// What the records show (empty for a healthy run).
    pub diagnoses: Vec<Diagnosis>,
}

impl HealthSummary {
    /// The summary of `records` (in step order); `None` when there are none.
    pub fn new(records: &[HealthRecord]) -> Option<HealthSummary> {
        let (first, last) = (records.first()?, records.last()?);
        let column = |f: &dyn Fn(&HealthRecord) -> Option<f64>| -> Option<StatRange> {
            StatRange::of(&records.iter().filter_map(f).collect::<Vec<_>>())
        };
        let params = (0..first.params.len())
            .filter_map(|i| {
                let p = |f: fn(&ParamHealth) -> f64| column(&|r| r.params.get(i).map(f));
                Some(ParamSummary {
                    name: first.params[i].name.clone(),
                    grad_norm: p(|p| p.grad_norm)?,
                    weight_norm: p(|p| p.weight_norm)?,
                    update_ratio: p(|p| p.update_ratio)?,
                })
            })
            .collect();
        let activations = first
            .activations
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let pick = |f: fn(&ActivationStat) -> Option<f64>| {
                    column(&|r| r.activations.get(i).and_then(f))
                };
                ActivationSummary {
                    layer: a.layer.clone(),
                    dead: pick(|a| a.dead),
                    saturated: pick(|a| a.saturated),
                }
            })
            .collect();
        Some(HealthSummary {
            records: records.len(),
            first_step: first.step,
            last_step: last.step,
            params,
            global_grad_norm: column(&|r| Some(r.global_grad_norm))?,
            activations,
            clipped: records.iter().filter(|r| r.clipped).count(),
            diagnoses: diagnose(records),
        })
    }
}

impl std::fmt::Display for HealthSummary {
    /// The header line, the table (a row per statistic), the clipping count and the
    /// diagnoses, one per line (no newline after the last).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} records, steps {} to {}",
            self.records, self.first_step, self.last_step
        )?;
        writeln!(
            f,
            "{:<22}{:<14}{:>10} {:>10} {:>10} {:>10}",
            "parameter", "statistic", "first", "last", "min", "max"
        )?;
        for p in &self.params {
            writeln!(f, "{:<22}{:<14}{}", p.name, "grad_norm", p.grad_norm)?;
            writeln!(f, "{:<22}{:<14}{}", "", "weight_norm", p.weight_norm)?;
            writeln!(f, "{:<22}{:<14}{}", "", "update/weight", p.update_ratio)?;
        }
        writeln!(
            f,
            "{:<22}{:<14}{}",
            "(all)", "global_norm", self.global_grad_norm
        )?;
        for a in &self.activations {
            if let Some(d) = &a.dead {
                writeln!(f, "{:<22}{:<14}{}", a.layer, "dead", d)?;
            }
            if let Some(s) = &a.saturated {
                writeln!(f, "{:<22}{:<14}{}", a.layer, "saturated", s)?;
            }
        }
        writeln!(
            f,
            "clipping fired at {} of {} health steps",
            self.clipped, self.records
        )?;
        if self.diagnoses.is_empty() {
            return write!(f, "diagnoses: none (the gradients look healthy)");
        }
        write!(f, "diagnoses:")?;
        for d in &self.diagnoses {
            write!(f, "\n- {}", d.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64, grad: f64, weight: f64, dead: f64, clipped: bool) -> HealthRecord {
        HealthRecord {
            step,
            epoch: 1,
            global_grad_norm: grad,
            clipped,
            non_finite: 0,
            params: vec![ParamHealth {
                name: "0.weight".into(),
                grad_norm: grad,
                weight_norm: weight,
                update_ratio: 1e-3 * weight,
                non_finite: 0,
            }],
            activations: vec![ActivationStat {
                layer: "1 (ReLU)".into(),
                dead: Some(dead),
                saturated: None,
            }],
            histograms: Vec::new(),
        }
    }

    #[test]
    fn the_summary_table_shows_first_last_min_and_max() {
        let records = [
            record(10, 0.5, 2.0, 0.25, false),
            record(20, 0.125, 4.0, 0.75, true),
            record(30, 0.25, 3.0, 0.5, false),
        ];
        let s = HealthSummary::new(&records).unwrap();
        assert_eq!(s.params[0].grad_norm.min, 0.125);
        assert_eq!(s.activations[0].saturated, None);
        let want = "\
3 records, steps 10 to 30
parameter             statistic          first       last        min        max
0.weight              grad_norm       5.000e-1   2.500e-1   1.250e-1   5.000e-1
                      weight_norm      2.000e0    3.000e0    2.000e0    4.000e0
                      update/weight   2.000e-3   3.000e-3   2.000e-3   4.000e-3
(all)                 global_norm     5.000e-1   2.500e-1   1.250e-1   5.000e-1
1 (ReLU)              dead            2.500e-1   5.000e-1   2.500e-1   7.500e-1
clipping fired at 1 of 3 health steps
diagnoses: none (the gradients look healthy)";
        assert_eq!(s.to_string(), want);
        assert!(HealthSummary::new(&[]).is_none());
    }
}
