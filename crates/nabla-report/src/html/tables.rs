//! The report's HTML tables: the model summary, the confusion matrix (cells shaded by their
//! share of the true class) and the per-class precision, recall and F1.

use super::text::escape;
use nabla_nn::LayerSummary;
use nabla_train::metrics::{ClassMetrics, ConfusionMatrix};
use std::fmt::Write;

/// The model summary: layer, output shape, parameter tensors with their shapes, count; and
/// the total.
pub fn model_table(layers: &[LayerSummary]) -> String {
    let mut s = String::from(
        r#"<table class="model"><thead><tr><th>Layer (type)</th><th>Output shape</th><th>Parameters</th><th class="num">Param #</th></tr></thead><tbody>"#,
    );
    let mut total = 0usize;
    for l in layers {
        total += l.count;
        let params: Vec<String> = l
            .params
            .iter()
            .map(|(n, shape)| {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                format!("{} [{}]", escape(n), dims.join(", "))
            })
            .collect();
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="mono">{}</td><td class="mono small">{}</td><td class="num">{}</td></tr>"#,
            escape(&l.name),
            escape(&l.shape_text()),
            params.join("<br>"),
            thousands(l.count as u64)
        );
    }
    let _ = write!(
        s,
        r#"</tbody><tfoot><tr><td colspan="3">Total parameters (all trainable)</td><td class="num">{}</td></tr></tfoot></table>"#,
        thousands(total as u64)
    );
    s
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The confusion matrix: rows are true classes, columns predicted ones; each cell is shaded
/// by its fraction of the row (the diagonal in blue, errors in red) with the count in it.
pub fn confusion_table(cm: &ConfusionMatrix) -> String {
    let names = cm.class_names();
    let counts = cm.counts();
    let mut s = String::from(
        r#"<table class="confusion"><thead><tr><th class="corner">true \ predicted</th>"#,
    );
    for n in names {
        let _ = write!(s, "<th>{}</th>", escape(n));
    }
    s.push_str("</tr></thead><tbody>");
    for (i, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let _ = write!(s, "<tr><th>{}</th>", escape(&names[i]));
        for (j, &c) in row.iter().enumerate() {
            let f = if total > 0 {
                c as f64 / total as f64
            } else {
                0.0
            };
            let (rgb, alpha) = if i == j {
                ("37, 99, 235", 0.08 + 0.8 * f)
            } else if c > 0 {
                ("220, 38, 38", 0.12 + 0.75 * f.sqrt())
            } else {
                ("0, 0, 0", 0.0)
            };
            let dark = if alpha > 0.55 { r#" class="dark""# } else { "" };
            let _ = write!(
                s,
                r#"<td{dark} style="background: rgba({rgb}, {alpha:.2})" title="true {}, predicted {}: {c} ({:.1}% of the row)">{c}</td>"#,
                escape(&names[i]),
                escape(&names[j]),
                100.0 * f
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A cell with the value over a bar of its length (a value in [0, 1]).
fn bar(v: f64) -> String {
    let p = (100.0 * v).clamp(0.0, 100.0);
    format!(
        r#"<td class="num bar" style="background: linear-gradient(90deg, #dbeafe {p:.0}%, transparent {p:.0}%)">{v:.3}</td>"#
    )
}

/// Per-class precision, recall, F1 and support, then accuracy, macro and weighted averages
/// (scikit-learn's `classification_report`).
pub fn class_table(cm: &ConfusionMatrix) -> String {
    let mut s = String::from(
        r#"<table class="classes"><thead><tr><th>class</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr></thead><tbody>"#,
    );
    let row = |s: &mut String, name: &str, m: &ClassMetrics| {
        let _ = write!(
            s,
            r#"<tr><th>{}</th>{}{}{}<td class="num">{}</td></tr>"#,
            escape(name),
            bar(m.precision),
            bar(m.recall),
            bar(m.f1),
            m.support
        );
    };
    for (n, m) in cm.class_names().iter().zip(cm.per_class()) {
        row(&mut s, n, &m);
    }
    s.push_str("</tbody><tfoot>");
    let _ = write!(
        s,
        r#"<tr><th>accuracy</th><td></td><td></td><td class="num">{:.3}</td><td class="num">{}</td></tr>"#,
        cm.accuracy(),
        cm.total()
    );
    row(&mut s, "macro avg", &cm.macro_avg());
    row(&mut s, "weighted avg", &cm.weighted_avg());
    s.push_str("</tfoot></table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(235146), "235,146");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn the_confusion_tables_show_counts_and_metrics() {
        let cm = ConfusionMatrix::from_counts(&[vec![8, 2], vec![0, 10]])
            .unwrap()
            .with_class_names(&["cat", "<dog>"])
            .unwrap();
        let t = confusion_table(&cm);
        assert!(t.contains("&lt;dog&gt;") && !t.contains("<dog>"));
        assert_eq!(t.matches("<td").count(), 4);
        assert!(t.contains(">8</td>") && t.contains(">10</td>"));
        assert!(t.contains("80.0% of the row"));
        let c = class_table(&cm);
        // cat: precision 8/8, recall 8/10; dog: precision 10/12, recall 1
        assert!(c.contains(">1.000<") && c.contains(">0.800<") && c.contains(">0.833<"));
        assert!(c.contains("macro avg") && c.contains("weighted avg") && c.contains(">20<"));
    }

    #[test]
    fn the_model_table_totals_the_parameters() {
        let l = LayerSummary {
            name: "0 (Linear)".into(),
            output_shape: vec![10],
            params: vec![
                ("0.weight".into(), vec![10, 64]),
                ("0.bias".into(), vec![10]),
            ],
            count: 650,
        };
        let t = model_table(&[l.clone(), l]);
        assert!(t.contains("[None, 10]") && t.contains("0.weight [10, 64]"));
        assert!(t.contains(">1,300<"));
    }
}
