//! The report page: the sections assembled into one HTML document with its CSS inline.

use super::tables::{class_table, confusion_table, model_table, thousands};
use super::text::{escape, num, percent};
use super::RunData;
use crate::chart::{LineChart, Series};
use nabla_train::health::diagnose;
use nabla_train::Task;
use std::fmt::Write;

const CSS: &str = r#"
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --panel: #ffffff; --bg: #f6f7f9;
  --accent: #2563eb; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 20px 40px; }
header h1 { font-size: 24px; margin: 0 0 2px; }
header .sub { color: var(--muted); margin: 0 0 14px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 14px 0 18px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px 18px; margin: 0 0 18px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); font-weight: 600; }
p.note, .note { color: var(--muted); font-size: 13px; margin: 4px 0 8px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 8px 14px; min-width: 130px; }
.tile .k { color: var(--muted); font-size: 12px; }
.tile .v { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 8px 20px; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #374151; }
svg text.title { font-size: 13px; font-weight: 600; fill: var(--ink); }
svg text.label { font-size: 11.5px; fill: #4b5563; }
svg text.empty { font-size: 13px; fill: var(--muted); text-anchor: middle; }
svg text.ref-label { font-size: 10.5px; fill: var(--warn); }
svg rect.plot { fill: #fcfcfd; stroke: #d1d5db; }
svg rect.outline { fill: none; stroke: #9ca3af; }
svg line.grid { stroke: #eceef1; }
svg line.axis { stroke: #9ca3af; }
svg line.ref { stroke: var(--warn); stroke-dasharray: 6 4; stroke-width: 1.3; }
svg line.swatch { stroke-width: 3; }
svg polyline.line { fill: none; stroke-width: 2; stroke-linejoin: round; }
ul.diag { list-style: none; padding: 0; margin: 0; }
ul.diag li { border-left: 4px solid var(--bad); background: #fef2f2; padding: 8px 12px;
  margin: 0 0 8px; border-radius: 4px; }
ul.diag li b { display: block; color: var(--bad); }
.healthy { border-left: 4px solid var(--ok); background: #f0fdf4; padding: 8px 12px;
  border-radius: 4px; color: var(--ok); }
ul.notes li { color: var(--warn); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; }
tfoot td, tfoot th { font-weight: 600; border-bottom: none; }
td.num, th.num { text-align: right; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.small { font-size: 12px; color: #4b5563; }
table.confusion td { text-align: center; min-width: 30px; padding: 4px 6px; border: 1px solid #fff; }
table.confusion td.dark { color: #fff; }
table.confusion th { text-align: center; }
table.confusion th.corner { font-size: 11px; color: var(--muted); font-weight: 500; }
td.bar { min-width: 90px; background-clip: content-box; }
.side { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.scroll { overflow-x: auto; }
pre { background: #f3f4f6; border-radius: 8px; padding: 12px 14px; overflow-x: auto;
  font: 12.5px/1.45 ui-monospace, "DejaVu Sans Mono", monospace; margin: 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; }
"#;

pub(super) fn section(id: &str, title: &str, body: &str) -> String {
    format!(
        "<section id=\"{id}\"><h2>{}</h2>{body}</section>\n",
        escape(title)
    )
}

pub(super) fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", escape(text))
}

fn tile(k: &str, v: &str) -> String {
    format!(
        "<div class=\"tile\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>",
        escape(k),
        escape(v)
    )
}

fn header(d: &RunData) -> String {
    let mut sub = Vec::new();
    if let Some(c) = &d.config {
        sub.push(format!("dataset {}", c.dataset));
        sub.push(c.task.name().replace('_', " "));
    }
    let epochs = d.metrics.last().map(|m| m.epoch).unwrap_or(0);
    let planned = d.config.as_ref().map(|c| c.epochs);
    let s = &d.summary;
    let stopped = s
        .as_ref()
        .and_then(|s| s["stopped_early"].as_bool())
        .unwrap_or(false);
    sub.push(match (planned, stopped) {
        (_, true) => format!("{epochs} epochs (stopped early)"),
        (Some(p), false) if p != epochs => format!("{epochs} of {p} epochs"),
        _ => format!("{epochs} epochs"),
    });
    if let Some(m) = &d.model {
        let n: usize = m.iter().map(|l| l.count).sum();
        sub.push(format!("{} parameters", thousands(n as u64)));
    }
    if let Some(t) = s.as_ref().and_then(|s| s["train_seconds"].as_f64()) {
        sub.push(format!("{t:.1} s of training"));
    }
    let mut tiles = String::new();
    if let Some(s) = s {
        for (key, label, pct) in [
            ("test_accuracy", "test accuracy", true),
            ("test_loss", "test loss", false),
            ("test_r2", "test R²", false),
            ("test_mae", "test MAE", false),
            ("test_rmse", "test RMSE", false),
            ("val_bpc", "val bits/char", false),
        ] {
            if let Some(v) = s[key].as_f64() {
                tiles.push_str(&tile(label, &if pct { percent(v) } else { num(v) }));
            }
        }
    } else {
        tiles.push_str(&tile("status", "unfinished"));
    }
    if let Some(last) = d.metrics.last() {
        tiles.push_str(&tile("final train loss", &num(last.train_loss)));
        let best = d
            .metrics
            .iter()
            .filter_map(|m| m.val_loss.map(|v| (m.epoch, v)))
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((e, v)) = best {
            tiles.push_str(&tile(&format!("best val loss (epoch {e})"), &num(v)));
        }
    }
    let n_diag = diagnose(&d.health).len();
    if !d.health.is_empty() {
        tiles.push_str(&tile(
            "diagnoses",
            &if n_diag == 0 {
                "none".to_string()
            } else {
                n_diag.to_string()
            },
        ));
    }
    format!(
        "<header><h1>Run report: {}</h1><p class=\"sub\">{}</p><div class=\"tiles\">{tiles}</div></header>\n",
        escape(&d.name),
        escape(&sub.join(" · "))
    )
}

fn diagnoses(d: &RunData) -> String {
    if d.health.is_empty() {
        return section(
            "diagnoses",
            "Diagnoses",
            &note("No gradient-health records: nothing to diagnose (train.health_every = 0, or the run stopped before its first step)."),
        );
    }
    let r = &d.health;
    let clipped = r.iter().filter(|h| h.clipped).count();
    let bad: usize = r.iter().map(|h| h.non_finite).sum();
    let mut body = note(&format!(
        "From {} gradient-health records, steps {} to {}; clipping fired at {clipped} of them; {bad} non-finite gradient values.",
        r.len(),
        r[0].step,
        r[r.len() - 1].step
    ));
    let ds = diagnose(r);
    if ds.is_empty() {
        body.push_str("<div class=\"healthy\">No diagnosis: the gradients look healthy (no vanishing or exploding gradients, no dead or saturated layer, update/weight ratios near the 1e-3 rule of thumb).</div>");
    } else {
        body.push_str("<ul class=\"diag\">");
        for x in ds {
            let _ = write!(
                body,
                "<li><b>{}</b>{}</li>",
                escape(&x.kind.replace('_', " ")),
                escape(&x.message)
            );
        }
        body.push_str("</ul>");
    }
    section("diagnoses", "Diagnoses", &body)
}

fn epoch_series(
    d: &RunData,
    name: &str,
    f: impl Fn(&nabla_train::EpochMetrics) -> Option<f64>,
) -> Option<Series> {
    let pts: Vec<(f64, f64)> = d
        .metrics
        .iter()
        .filter_map(|m| f(m).map(|v| (m.epoch as f64, v)))
        .collect();
    (!pts.is_empty()).then(|| Series::new(name, pts))
}

fn chart(title: &str, y: &str, series: Vec<Option<Series>>) -> Option<LineChart> {
    let series: Vec<Series> = series.into_iter().flatten().collect();
    (!series.is_empty()).then(|| LineChart {
        title: title.into(),
        x_label: "epoch".into(),
        y_label: y.into(),
        series,
        ..LineChart::default()
    })
}

fn curves(d: &RunData) -> String {
    if d.metrics.is_empty() {
        return section(
            "curves",
            "Training curves",
            &note("No epoch finished yet: no curves (metrics.jsonl is absent or empty)."),
        );
    }
    let mut charts = Vec::new();
    charts.extend(chart(
        "Loss",
        "loss",
        vec![
            epoch_series(d, "train", |m| Some(m.train_loss)),
            epoch_series(d, "validation", |m| m.val_loss),
        ],
    ));
    charts.extend(chart(
        "Accuracy",
        "accuracy",
        vec![
            epoch_series(d, "train", |m| m.train_accuracy),
            epoch_series(d, "validation", |m| m.val_accuracy),
        ],
    ));
    charts.extend(chart(
        "Bits per character",
        "bits",
        vec![
            epoch_series(d, "train", |m| m.train_bpc),
            epoch_series(d, "validation", |m| m.val_bpc),
        ],
    ));
    charts.extend(chart(
        "Validation R²",
        "R²",
        vec![epoch_series(d, "validation R²", |m| m.val_r2)],
    ));
    charts.extend(chart(
        "Validation errors",
        "error",
        vec![
            epoch_series(d, "MAE", |m| m.val_mae),
            epoch_series(d, "RMSE", |m| m.val_rmse),
        ],
    ));
    if let Some(mut c) = chart(
        "Learning rate (end of epoch)",
        "learning rate",
        vec![epoch_series(d, "lr", |m| Some(m.lr))],
    ) {
        // a log scale for schedules spanning decades, unless one reaches 0 (cosine's end)
        let (lo, hi) = d.metrics.iter().fold((f64::INFINITY, 0.0f64), |(a, b), m| {
            (a.min(m.lr), b.max(m.lr))
        });
        c.log_y = lo > 0.0 && hi / lo > 20.0;
        charts.push(c);
    }
    let mut body = String::from("<div class=\"grid\">");
    for c in charts {
        let _ = write!(body, "<div>{}</div>", c.to_svg(530, 260));
    }
    body.push_str("</div>");
    section("curves", "Training curves", &body)
}

fn confusion(d: &RunData) -> String {
    let Some(cm) = &d.confusion else {
        let classifier = d
            .config
            .as_ref()
            .is_some_and(|c| c.task == Task::Classification);
        if !classifier {
            return String::new();
        }
        return section(
            "confusion",
            "Confusion matrix (test set)",
            &note("No confusion.json: the run has not finished (it is written after the test evaluation)."),
        );
    };
    let body = format!(
        "{}<div class=\"side\"><div class=\"scroll\">{}</div><div>{}</div></div>",
        note(&format!(
            "{} test samples; rows are true classes, columns predicted ones; accuracy {}.",
            cm.total(),
            percent(cm.accuracy())
        )),
        confusion_table(cm),
        class_table(cm)
    );
    section("confusion", "Confusion matrix (test set)", &body)
}

fn model(d: &RunData) -> String {
    let body = match &d.model {
        Some(m) => model_table(m),
        None => note("The model could not be rebuilt from config.toml (see the notes)."),
    };
    section("model", "Model", &body)
}

fn config(d: &RunData) -> String {
    let body = format!(
        "{}<pre>{}</pre>",
        note("config.toml of the run folder: the resolved config (eval, predict and --resume read it)."),
        escape(&d.config_text)
    );
    section("config", "Config", &body)
}

fn notes(d: &RunData) -> String {
    if d.damage.is_empty() && d.missing.is_empty() {
        return String::new();
    }
    let mut body = String::from("<ul class=\"notes\">");
    for n in d.damage.iter().chain(&d.missing) {
        let _ = write!(body, "<li>{}</li>", escape(n));
    }
    body.push_str("</ul>");
    section("notes", "Notes on the run folder", &body)
}

/// The report page of a run: one HTML document with inline CSS and SVG, no script and no
/// external resource (a Content-Security-Policy forbids loading any). The same data give the
/// same bytes.
pub fn render(d: &RunData) -> String {
    let sections = [
        diagnoses(d),
        curves(d),
        super::health_section::health(d),
        confusion(d),
        model(d),
        config(d),
        notes(d),
    ];
    let mut nav = String::from("<nav>");
    for (id, label) in [
        ("diagnoses", "Diagnoses"),
        ("curves", "Training curves"),
        ("health", "Gradient health"),
        ("confusion", "Confusion matrix"),
        ("model", "Model"),
        ("config", "Config"),
        ("notes", "Notes"),
    ] {
        if sections
            .iter()
            .any(|s| s.starts_with(&format!("<section id=\"{id}\"")))
        {
            let _ = write!(nav, "<a href=\"#{id}\">{label}</a>");
        }
    }
    nav.push_str("</nav>\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>nabla run report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&d.name)
    );
    html.push_str(&header(d));
    html.push_str(&nav);
    for s in sections {
        html.push_str(&s);
    }
    let _ = write!(
        html,
        "<footer>Made by nabla {} from the files of this run folder; <code>nabla report RUN_DIR</code> rebuilds it.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::RunConfig;
    use nabla_nn::health::ActivationStat;
    use nabla_nn::LayerSummary;
    use nabla_train::checkpoint::EpochMetrics;
    use nabla_train::health::{HealthRecord, ParamHealth};
    use nabla_train::metrics::ConfusionMatrix;

    fn metrics(epoch: usize, loss: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step: epoch as u64 * 10,
            train_loss: loss,
            train_accuracy: Some(1.0 - loss / 2.0),
            val_loss: Some(loss * 1.1),
            val_accuracy: Some(1.0 - loss / 1.8),
            train_bpc: None,
            val_bpc: None,
            val_mae: None,
            val_rmse: None,
            val_r2: None,
            lr: 0.01 / epoch as f64,
            seconds: 1.0,
        }
    }

    fn record(step: u64, g: f64) -> HealthRecord {
        HealthRecord {
            step,
            epoch: 1,
            global_grad_norm: g,
            clipped: false,
            non_finite: 0,
            params: ["0.weight", "0.bias", "2.weight"]
                .iter()
                .map(|n| ParamHealth {
                    name: n.to_string(),
                    grad_norm: g,
                    weight_norm: 1.0,
                    update_ratio: 1e-3,
                    non_finite: 0,
                })
                .collect(),
            activations: vec![ActivationStat {
                layer: "1 (ReLU)".into(),
                dead: Some(0.1),
                saturated: None,
            }],
            histograms: vec![],
        }
    }

    fn data() -> RunData {
        let linear = |i: usize, n_in: usize, n_out: usize| LayerSummary {
            name: format!("{i} (Linear)"),
            output_shape: vec![n_out],
            params: vec![
                (format!("{i}.weight"), vec![n_out, n_in]),
                (format!("{i}.bias"), vec![n_out]),
            ],
            count: n_in * n_out + n_out,
        };
        let relu = LayerSummary {
            name: "1 (ReLU)".into(),
            output_shape: vec![128],
            params: vec![],
            count: 0,
        };
        RunData {
            name: "run <1> & 'x'".into(),
            config_text: "[train]\nepochs = 3 # <script>alert(1)</script>\n".into(),
            model: Some(vec![linear(0, 64, 128), relu, linear(2, 128, 10)]),
            config: Some(RunConfig {
                dataset: "digits".into(),
                task: Task::Classification,
                epochs: 30,
                clip_grad_norm: None,
            }),
            metrics: (1..=3).map(|e| metrics(e, 1.0 / e as f64)).collect(),
            health: (0..4).map(|i| record(1 + 10 * i, 0.5 + i as f64)).collect(),
            summary: Some(serde_json::json!({"test_accuracy": 0.97, "test_loss": 0.1})),
            confusion: Some(ConfusionMatrix::from_counts(&[vec![5, 1], vec![0, 6]]).unwrap()),
            damage: vec!["health.jsonl: line 9 is cut short".into()],
            missing: vec![],
        }
    }

    #[test]
    fn the_page_has_every_section_and_escapes_its_text() {
        let html = render(&data());
        for id in [
            "diagnoses",
            "curves",
            "health",
            "confusion",
            "model",
            "config",
            "notes",
        ] {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
            assert!(html.contains(&format!("href=\"#{id}\"")), "{id}");
        }
        assert!(html.contains("run &lt;1&gt; &amp; &#39;x&#39;"));
        assert!(!html.contains("<script"), "a script tag got through");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("No diagnosis"));
        assert!(html.contains("Gradient norm per parameter tensor"));
        assert!(html.contains("Update / weight ratio") && html.contains("1 (ReLU) dead"));
        assert!(html.contains("97.0%") && html.contains("cut short"));
        assert!(html.contains("0 (Linear)") && html.contains("8,320"));
        // nothing to fetch: no external URL in any src or href
        for attr in ["src=", "href=\"http", "url("] {
            assert!(!html.contains(attr), "{attr}");
        }
        // every element opened is closed
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert_eq!(
            html.matches("<section").count(),
            html.matches("</section>").count()
        );
        assert_eq!(
            html.matches("<table").count(),
            html.matches("</table>").count()
        );
        // deterministic
        assert_eq!(html, render(&data()));
    }

    #[test]
    fn a_sick_run_lists_its_diagnoses_and_a_bare_run_its_gaps() {
        let mut d = data();
        d.health = (0..4)
            .map(|i| record(1 + 10 * i, 10f64.powi(2 * i as i32)))
            .collect();
        let html = render(&d);
        assert!(html.contains("<ul class=\"diag\">") && html.contains("exploding gradients"));
        let bare = RunData {
            name: "r".into(),
            config_text: String::new(),
            missing: vec!["no metrics.jsonl".into()],
            ..RunData::default()
        };
        let html = render(&bare);
        assert!(html.contains("No epoch finished yet") && html.contains("No health records"));
        assert!(html.contains("unfinished") && html.contains("no metrics.jsonl"));
        assert!(!html.contains("<section id=\"confusion\">"));
    }
}
