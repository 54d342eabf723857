//! Line charts as inline SVG: axes with readable ticks (linear, or decades for a log
//! scale), one polyline per series (broken at non-finite values), point markers with
//! tooltips when there are few points, an optional dashed reference line, and a legend.

use super::text::{escape, num, tick_labels};
use crate::plot::{axis_range, nice_ticks};
use std::fmt::Write;

/// Series colours (Tableau 10), reused in order.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend and tooltips.
    pub name: String,
    /// `(x, y)` points in x order; non-finite `y` (or, on a log scale, `y <= 0`) breaks the
    /// line.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series of `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A line chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// The x axis' label.
    pub x_label: String,
    /// The y axis' label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A log10 y axis (non-positive values are left out).
    pub log_y: bool,
    /// Fixed y range (else from the data).
    pub y_range: Option<(f64, f64)>,
    /// A dashed horizontal line at this y, with its label.
    pub reference: Option<(f64, String)>,
}

/// Decade ticks (10^k) covering `[lo, hi]` (both > 0): the exponents, a step of 1, 2, ...
/// decades keeping about 8 labels, and the covered range.
pub fn log_ticks(lo: f64, hi: f64) -> (Vec<i32>, f64, f64) {
    // within the normal range of f64, so 10^a and 10^b are finite and positive
    let a = (lo.log10().floor() as i32).clamp(-307, 307);
    let mut b = (hi.log10().ceil() as i32).clamp(-307, 308);
    if b <= a {
        b = a + 1;
    }
    let step = ((b - a) as f64 / 8.0).ceil().max(1.0) as i32;
    let ticks = (a..=b).step_by(step as usize).collect();
    (ticks, 10f64.powi(a), 10f64.powi(b))
}

/// The label of 10^k: `0.01` to `100` written out, else `1e-5`.
pub fn decade(k: i32) -> String {
    if (-2..=2).contains(&k) {
        num(10f64.powi(k))
    } else {
        format!("1e{k}")
    }
}

struct Scale {
    lo: f64,
    hi: f64,
    px0: f64,
    px1: f64,
    log: bool,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (v.log10(), self.lo.log10(), self.hi.log10())
        } else {
            (v, self.lo, self.hi)
        };
        let px = self.px0 + (v - lo) / (hi - lo) * (self.px1 - self.px0);
        // values outside a fixed range (or beyond f64's span) sit on the frame
        let (a, b) = (self.px0.min(self.px1), self.px0.max(self.px1));
        if px.is_nan() {
            a
        } else {
            px.clamp(a, b)
        }
    }
}

/// The legend laid out in rows under the plot: `(x, y, colour, name)` per entry and the
/// rows' total height.
fn legend_layout(names: &[&str], width: f64, left: f64) -> (Vec<(f64, f64)>, f64) {
    let mut pos = Vec::new();
    let (mut x, mut row) = (left, 0);
    for n in names {
        let w = 26.0 + 6.6 * n.chars().count() as f64;
        if x + w > width - 8.0 && x > left {
            x = left;
            row += 1;
        }
        pos.push((x, row as f64 * 16.0));
        x += w + 10.0;
    }
    let h = if names.is_empty() {
        0.0
    } else {
        (row + 1) as f64 * 16.0
    };
    (pos, h)
}

impl LineChart {
    fn usable(&self, y: f64) -> bool {
        y.is_finite() && (!self.log_y || y > 0.0)
    }

    /// The chart as an `<svg>` element `width` pixels wide (the height grows with the
    /// legend's rows). A chart without a point to draw says so instead.
    pub fn to_svg(&self, width: u32, height: u32) -> String {
        let (w, h0) = (width as f64, height as f64);
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let (left, right, top) = (62.0, 14.0, 30.0);
        let (legend, legend_h) = legend_layout(&names, w, left);
        let bottom = 40.0 + if legend_h > 0.0 { legend_h + 6.0 } else { 0.0 };
        let h = h0 + legend_h;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><title>{}</title><text class="title" x="{left}" y="18">{}</text>"#,
            escape(&self.title),
            escape(&self.title)
        );
        // the x axis spans every point (a line that stops early, e.g. at a ratio of 0 on a
        // log scale, shows where it stops); the y axis the drawable ones
        let drawable = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .any(|p| p.0.is_finite() && self.usable(p.1));
        let xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && drawable)
            .map(|p| p.0)
            .collect();
        let mut ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && self.usable(p.1))
            .map(|p| p.1)
            .collect();
        if xs.is_empty() {
            let _ = write!(
                s,
                r#"<text class="empty" x="{}" y="{}">no finite values to plot</text></svg>"#,
                w / 2.0,
                h / 2.0
            );
            return s;
        }
        if let Some((r, _)) = &self.reference {
            if self.usable(*r) {
                ys.push(*r);
            }
        }
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (x_lo, x_hi) = (min(&xs), max(&xs));
        let (x_lo, x_hi) = if x_hi > x_lo {
            (x_lo, x_hi)
        } else {
            (x_lo - 0.5, x_hi + 0.5)
        };
        let integer_x = xs.iter().all(|x| x.fract() == 0.0);
        let xt = nice_ticks(x_lo, x_hi, 6, if integer_x { 1.0 } else { 0.0 });
        let (plot_x0, plot_x1) = (left, w - right);
        let (plot_y0, plot_y1) = (top, h - bottom);
        let xs_scale = Scale {
            lo: x_lo,
            hi: x_hi,
            px0: plot_x0,
            px1: plot_x1,
            log: false,
        };
        // y axis: ticks and the scale
        let (y_lo, y_hi) = self.y_range.unwrap_or((min(&ys), max(&ys)));
        let mut y_ticks: Vec<(f64, String)> = Vec::new();
        let ys_scale = if self.log_y {
            let (t, lo, hi) = log_ticks(y_lo.max(f64::MIN_POSITIVE), y_hi.max(y_lo));
            y_ticks.extend(t.iter().map(|k| (10f64.powi(*k), decade(*k))));
            Scale {
                lo,
                hi,
                px0: plot_y1,
                px1: plot_y0,
                log: true,
            }
        } else {
            let (lo, hi) = match self.y_range {
                Some(r) => r,
                None => axis_range(ys.iter().copied()),
            };
            let t = nice_ticks(lo, hi, 5, 0.0);
            y_ticks.extend(t.iter().copied().zip(tick_labels(&t)));
            Scale {
                lo,
                hi,
                px0: plot_y1,
                px1: plot_y0,
                log: false,
            }
        };
        // frame, grid and ticks
        let _ = write!(
            s,
            r#"<rect class="plot" x="{plot_x0}" y="{plot_y0}" width="{}" height="{}"/>"#,
            plot_x1 - plot_x0,
            plot_y1 - plot_y0
        );
        for (v, label) in &y_ticks {
            let y = ys_scale.at(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{plot_x0}" x2="{plot_x1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                plot_x0 - 6.0,
                y + 3.5,
                escape(label)
            );
        }
        for (v, label) in xt.iter().zip(tick_labels(&xt)) {
            let x = xs_scale.at(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{plot_y0}" y2="{plot_y1}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                plot_y1 + 14.0,
                escape(&label)
            );
        }
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            (plot_x0 + plot_x1) / 2.0,
            plot_y1 + 30.0,
            escape(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text class="label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (plot_y0 + plot_y1) / 2.0,
            escape(&self.y_label)
        );
        if let Some((r, label)) = &self.reference {
            if self.usable(*r) {
                let y = ys_scale.at(*r);
                let _ = write!(
                    s,
                    r#"<line class="ref" x1="{plot_x0}" x2="{plot_x1}" y1="{y:.1}" y2="{y:.1}"/><text class="ref-label" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                    plot_x1 - 4.0,
                    y - 4.0,
                    escape(label)
                );
            }
        }
        // the lines, then markers with tooltips
        for (i, se) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let dash = if i >= PALETTE.len() {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for &(x, y) in &se.points {
                if x.is_finite() && self.usable(y) {
                    runs.last_mut().expect("one run").push((x, y));
                } else if !runs.last().expect("one run").is_empty() {
                    runs.push(Vec::new());
                }
            }
            for run in runs.iter().filter(|r| r.len() > 1) {
                let pts: Vec<String> = run
                    .iter()
                    .map(|&(x, y)| format!("{:.1},{:.1}", xs_scale.at(x), ys_scale.at(y)))
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline class="line" stroke="{colour}"{dash} points="{}"/>"#,
                    pts.join(" ")
                );
            }
            let n: usize = runs.iter().map(|r| r.len()).sum();
            for &(x, y) in runs.iter().flatten() {
                let big = n <= 60 || runs.iter().any(|r| r.len() == 1 && r[0] == (x, y));
                if big {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.6" fill="{colour}"><title>{}: {} at {}</title></circle>"#,
                        xs_scale.at(x),
                        ys_scale.at(y),
                        escape(&se.name),
                        num(y),
                        num(x)
                    );
                }
            }
        }
        for (i, ((x, dy), name)) in legend.iter().zip(&names).enumerate() {
            let y = plot_y1 + 44.0 + dy;
            let colour = PALETTE[i % PALETTE.len()];
            let _ = write!(
                s,
                r#"<line class="swatch" stroke="{colour}" x1="{x}" x2="{}" y1="{}" y2="{}"/><text class="legend" x="{}" y="{y}">{}</text>"#,
                x + 18.0,
                y - 4.0,
                y - 4.0,
                x + 23.0,
                escape(name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_cover_the_range() {
        let (t, lo, hi) = log_ticks(3e-5, 0.2);
        assert_eq!(t, vec![-5, -4, -3, -2, -1, 0]);
        assert_eq!((lo, hi), (1e-5, 1.0));
        // many decades: every other label
        let (t, _, _) = log_ticks(1e-12, 1e6);
        assert!(t.len() <= 10, "{t:?}");
        // the ends of f64: finite, positive bounds
        let (_, lo, hi) = log_ticks(5e-324, f64::MAX);
        assert!(lo > 0.0 && hi.is_finite());
        assert_eq!(decade(-1), "0.1");
        assert_eq!(decade(2), "100");
        assert_eq!(decade(-4), "1e-4");
    }

    #[test]
    fn extreme_values_still_draw() {
        for pts in [
            vec![(0.0, 1e-300), (1.0, 1e300)],
            vec![(0.0, -f64::MAX), (1.0, f64::MAX)],
            vec![(1e15, 1.0), (1e15 + 1.0, 2.0)],
        ] {
            for log_y in [false, true] {
                let c = LineChart {
                    series: vec![Series::new("s", pts.clone())],
                    log_y,
                    ..LineChart::default()
                };
                let svg = c.to_svg(400, 200);
                assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            }
        }
    }

    #[test]
    fn a_chart_draws_its_series_legend_and_reference() {
        let c = LineChart {
            title: "loss <train>".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![
                Series::new("train", vec![(1.0, 1.0), (2.0, 0.5), (3.0, 0.25)]),
                Series::new("val", vec![(1.0, 1.2), (2.0, f64::NAN), (3.0, 0.3)]),
            ],
            log_y: true,
            y_range: None,
            reference: Some((1e-3, "1e-3 healthy".into())),
        };
        let svg = c.to_svg(500, 260);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // the title is escaped; one polyline for train, val broken into single points
        assert!(svg.contains("loss &lt;train&gt;") && !svg.contains("<train>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains(">train</text>") && svg.contains(">val</text>"));
        assert!(svg.contains("1e-3 healthy") && svg.contains(">1e-3<"));
        assert!(!svg.contains("NaN,"), "a NaN coordinate: {svg}");
    }

    #[test]
    fn the_x_axis_spans_points_that_cannot_be_drawn() {
        let c = LineChart {
            log_y: true,
            series: vec![Series::new(
                "ratio",
                vec![(0.0, 1e-3), (500.0, 1e-4), (1000.0, 0.0), (1500.0, 0.0)],
            )],
            ..LineChart::default()
        };
        let svg = c.to_svg(400, 200);
        assert!(svg.contains(">1500<"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn an_empty_chart_says_so() {
        let c = LineChart {
            title: "t".into(),
            series: vec![Series::new("s", vec![(1.0, f64::NAN)])],
            ..LineChart::default()
        };
        assert!(c.to_svg(300, 200).contains("no finite values"));
        // a log chart of zeros has nothing to draw either
        let c = LineChart {
            log_y: true,
            series: vec![Series::new("s", vec![(1.0, 0.0), (2.0, 0.0)])],
            ..LineChart::default()
        };
        assert!(c.to_svg(300, 200).contains("no finite values"));
    }
}
