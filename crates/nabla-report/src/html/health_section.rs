//! The report's gradient-health section: gradient norms per tensor over the health steps
//! (a heatmap), the global norm beside the clip, update/weight ratios, and the dead and
//! saturated fractions of the activation layers.

use super::heatmap::Heatmap;
use super::page::{note, section};
use super::text::num;
use super::RunData;
use crate::chart::{LineChart, Series};
use nabla_train::health::HealthRecord;
use std::fmt::Write;

/// Weight tensors (not biases or norm scales), or every tensor when none is named so.
fn weight_indices(r: &HealthRecord) -> Vec<usize> {
    let w: Vec<usize> = r
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.name.ends_with("weight") || p.name.contains("weight_"))
        .map(|(i, _)| i)
        .collect();
    if w.is_empty() {
        (0..r.params.len()).collect()
    } else {
        w
    }
}

fn step_chart(title: &str, y: &str, log: bool, series: Vec<Series>) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "optimizer step".into(),
        y_label: y.into(),
        series,
        log_y: log,
        ..LineChart::default()
    }
}

pub(super) fn health(d: &RunData) -> String {
    let r = &d.health;
    let Some(first) = r.first() else {
        return section("health", "Gradient health", &note("No health records (health.jsonl is absent or empty): train with train.health_every > 0 to see gradient norms, update ratios and dead units."));
    };
    let mut body = note("‖∂C/∂W‖ of each parameter tensor at every health step: the δ of the origin document's backward pass, summed over the batch, layer by layer. Vanishing gradients show as rows fading to the dark end toward the input layers; exploding ones as colour climbing step by step.");
    let names: Vec<String> = first.params.iter().map(|p| p.name.clone()).collect();
    let pick = |i: usize, f: &dyn Fn(&nabla_train::health::ParamHealth) -> f64| -> Vec<f64> {
        r.iter()
            .map(|h| h.params.get(i).map(f).unwrap_or(f64::NAN))
            .collect()
    };
    let hm = Heatmap {
        title: "Gradient norm per parameter tensor".into(),
        rows: names.clone(),
        cols: r.iter().map(|h| h.step).collect(),
        values: (0..names.len())
            .map(|i| pick(i, &|p| p.grad_norm))
            .collect(),
        measure: "‖∂C/∂W‖".into(),
    };
    let _ = write!(body, "<div class=\"scroll\">{}</div>", hm.to_svg(1060));
    let steps: Vec<f64> = r.iter().map(|h| h.step as f64).collect();
    let mut global = step_chart(
        "Global gradient norm (before clipping)",
        "‖∇C‖",
        true,
        vec![Series::new(
            "global norm",
            steps
                .iter()
                .zip(r)
                .map(|(s, h)| (*s, h.global_grad_norm))
                .collect(),
        )],
    );
    if let Some(c) = d.config.as_ref().and_then(|c| c.clip_grad_norm) {
        global.reference = Some((c, format!("clip_grad_norm {}", num(c))));
    }
    let ratio = step_chart(
        "Update / weight ratio ‖Δw‖/‖w‖",
        "ratio",
        true,
        weight_indices(first)
            .into_iter()
            .map(|i| {
                Series::new(
                    names[i].clone(),
                    steps
                        .iter()
                        .copied()
                        .zip(pick(i, &|p| p.update_ratio))
                        .collect(),
                )
            })
            .collect(),
    );
    let ratio = LineChart {
        reference: Some((1e-3, "≈1e-3: healthy (CS231n)".into())),
        ..ratio
    };
    let mut charts = vec![global, ratio];
    let mut act = Vec::new();
    for (i, a) in first.activations.iter().enumerate() {
        for (kind, f) in [
            (
                "dead",
                (|x: &nabla_nn::health::ActivationStat| x.dead) as fn(&_) -> _,
            ),
            ("saturated", |x: &nabla_nn::health::ActivationStat| {
                x.saturated
            }),
        ] {
            if f(a).is_some() {
                act.push(Series::new(
                    format!("{} {kind}", a.layer),
                    steps
                        .iter()
                        .zip(r)
                        .map(|(s, h)| (*s, h.activations.get(i).and_then(f).unwrap_or(f64::NAN)))
                        .collect(),
                ));
            }
        }
    }
    if !act.is_empty() {
        charts.push(LineChart {
            y_range: Some((0.0, 1.0)),
            ..step_chart(
                "Dead ReLU / saturated sigmoid-tanh fraction",
                "fraction of units",
                false,
                act,
            )
        });
    } else {
        body.push_str(&note(
            "The model has no ReLU, sigmoid or tanh layer: no dead or saturated fractions.",
        ));
    }
    body.push_str("<div class=\"grid\">");
    for c in charts {
        let _ = write!(body, "<div>{}</div>", c.to_svg(530, 270));
    }
    body.push_str("</div>");
    section("health", "Gradient health", &body)
}
