//! Laying out a [`LineChart`]: the title, the plot frame, grid lines and tick labels, axis
//! labels, the reference line, the series' lines and markers, and the legend rows under
//! the plot, as a [`Drawing`]. The sizes and colours match the report page's stylesheet.

use super::draw::{Anchor, Colour, Drawing, Shape, Stroke, Text};
use super::ticks::{axis_range, decade, log_ticks, nice_ticks};
use super::{LineChart, PALETTE};
use crate::html::text::{num, tick_labels};

const INK: Colour = Colour(0x1f, 0x29, 0x37);
const TEXT: Colour = Colour(0x37, 0x41, 0x51);
const LABEL: Colour = Colour(0x4b, 0x55, 0x63);
const MUTED: Colour = Colour(0x6b, 0x72, 0x80);
const WARN: Colour = Colour(0xb4, 0x53, 0x09);
const PLOT_FILL: Colour = Colour(0xfc, 0xfc, 0xfd);
const FRAME: Colour = Colour(0xd1, 0xd5, 0xdb);
const GRID: Colour = Colour(0xec, 0xee, 0xf1);

/// Series from the palette's length on are dashed, so that colours repeat distinguishably.
const SERIES_DASH: (f64, f64) = (5.0, 3.0);
/// Series with at most this many points get a marker (with a tooltip) at every point;
/// longer ones only at points standing alone.
const MARKER_MAX_POINTS: usize = 60;
/// The height of a legend row.
const LEGEND_ROW: f64 = 16.0;

/// The plot's area in pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

/// The scales of both axes and their ticks (value, label).
struct Axes {
    x: Scale,
    x_ticks: Vec<(f64, String)>,
    y: Scale,
    y_ticks: Vec<(f64, String)>,
}

/// A map from data values to pixels along one axis; values outside `[lo, hi]` (a fixed
/// range, or beyond what `f64` can span) land on the frame.
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
        let mut t = (v - lo) / (hi - lo);
        if !t.is_finite() {
            // hi - lo overflowed (values near f64::MAX): halved, the span is finite
            t = (v / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0);
        }
        let px = self.px0 + t * (self.px1 - self.px0);
        let (a, b) = (self.px0.min(self.px1), self.px0.max(self.px1));
        if px.is_nan() {
            a
        } else {
            px.clamp(a, b)
        }
    }
}

/// The legend's entries placed in rows under the plot.
struct Legend {
    /// `(x, row offset)` of each shown entry, in the series' order.
    entries: Vec<(f64, f64)>,
    /// Where "+N more" goes, and N, when not every entry fits.
    more: Option<(f64, f64, usize)>,
    /// The rows' total height.
    height: f64,
}

fn legend_width(name: &str) -> f64 {
    26.0 + 6.6 * name.chars().count() as f64
}

/// The legend laid out in at most `max_rows` rows starting at `left` and wrapping before
/// `width`; entries that do not fit are counted in a "+N more" note.
fn legend_layout(names: &[&str], width: f64, left: f64, max_rows: usize) -> Legend {
    let mut entries = Vec::new();
    let (mut x, mut row) = (left, 0);
    for n in names {
        let w = legend_width(n);
        if x + w > width - 8.0 && x > left {
            x = left;
            row += 1;
        }
        entries.push((x, row, w));
        x += w + 10.0;
    }
    let mut more = None;
    if row >= max_rows.max(1) {
        entries.retain(|e| e.1 < max_rows.max(1));
        // drop entries from the end until the note fits after the last one
        loop {
            let note = format!("+{} more", names.len() - entries.len());
            let (x, row) = match entries.last() {
                Some(&(x, row, w)) => (x + w + 10.0, row),
                None => (left, 0),
            };
            if x + 6.6 * note.len() as f64 <= width - 8.0 || entries.len() <= 1 {
                more = Some((x, row as f64 * LEGEND_ROW, names.len() - entries.len()));
                break;
            }
            entries.pop();
        }
        row = entries.last().map_or(0, |e| e.1);
    }
    let height = if names.is_empty() {
        0.0
    } else {
        (row + 1) as f64 * LEGEND_ROW
    };
    Legend {
        entries: entries
            .into_iter()
            .map(|(x, row, _)| (x, row as f64 * LEGEND_ROW))
            .collect(),
        more,
        height,
    }
}

/// The runs of consecutive points that can be drawn (`x` finite and `usable(y)`).
pub(crate) fn runs(points: &[(f64, f64)], usable: impl Fn(f64) -> bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && usable(y) {
            cur.push((x, y));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn text(text: &str, x: f64, y: f64, anchor: Anchor, size: f64, colour: Colour) -> Text {
    Text {
        text: text.to_string(),
        x,
        y,
        anchor,
        size,
        bold: false,
        colour,
        rotated: false,
    }
}

impl LineChart {
    fn usable(&self, y: f64) -> bool {
        y.is_finite() && (!self.log_y || y > 0.0)
    }

    /// The chart laid out `width` pixels wide and `height` pixels high plus the legend's
    /// rows (16 pixels each) under it, as on the report page.
    pub fn layout(&self, width: f64, height: f64) -> Drawing {
        self.lay_out(width, height, true)
    }

    /// The chart laid out in exactly `width` x `height` pixels, the plot giving up the
    /// height the legend's rows take, as in a file of a fixed size.
    pub fn layout_fixed(&self, width: f64, height: f64) -> Drawing {
        self.lay_out(width, height, false)
    }

    fn lay_out(&self, w: f64, h0: f64, grow: bool) -> Drawing {
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let (left, right, top) = (62.0, 14.0, 30.0);
        // a fixed height leaves the plot at least half the height it has without a legend
        let max_rows = if grow {
            usize::MAX
        } else {
            let rows = (((h0 - top - 40.0) / 2.0 - 6.0) / LEGEND_ROW).floor();
            rows.max(1.0) as usize
        };
        let legend = legend_layout(&names, w, left, max_rows);
        let bottom = if legend.height > 0.0 {
            46.0 + legend.height
        } else {
            40.0
        };
        let h = if grow { h0 + legend.height } else { h0 };
        let frame = Frame {
            x0: left,
            x1: (w - right).max(left + 1.0),
            y0: top,
            y1: (h - bottom).max(top + 1.0),
        };
        let mut shapes = vec![
            Shape::Rect {
                x: 0.0,
                y: 0.0,
                w,
                h,
                fill: Colour::WHITE,
                stroke: None,
                class: "",
            },
            Shape::Text {
                text: Text {
                    bold: true,
                    ..text(&self.title, left, 18.0, Anchor::Start, 13.0, INK)
                },
                class: "title",
            },
        ];
        match self.scales(&frame) {
            Some(axes) => {
                self.push_axes(&mut shapes, &frame, &axes);
                self.push_series(&mut shapes, &axes);
            }
            None => shapes.push(Shape::Text {
                text: text(
                    "no finite values to plot",
                    (frame.x0 + frame.x1) / 2.0,
                    (frame.y0 + frame.y1) / 2.0,
                    Anchor::Middle,
                    13.0,
                    MUTED,
                ),
                class: "empty",
            }),
        }
        push_legend(&mut shapes, &legend, &names, frame.y1 + 44.0);
        Drawing {
            width: w,
            height: h,
            title: self.title.clone(),
            shapes,
        }
    }

    /// The axes' scales and ticks over `frame`, or `None` when no point can be drawn.
    fn scales(&self, frame: &Frame) -> Option<Axes> {
        // the x axis spans every point (a line that stops early, e.g. at a ratio of 0 on a
        // log scale, shows where it stops); the y axis the drawable ones
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let mut ys: Vec<f64> = points()
            .filter(|p| p.0.is_finite() && self.usable(p.1))
            .map(|p| p.1)
            .collect();
        if ys.is_empty() {
            return None;
        }
        let xs: Vec<f64> = points().map(|p| p.0).filter(|x| x.is_finite()).collect();
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
        let x = Scale {
            lo: x_lo,
            hi: x_hi,
            px0: frame.x0,
            px1: frame.x1,
            log: false,
        };
        let (y_lo, y_hi) = self.y_range.unwrap_or((min(&ys), max(&ys)));
        let (lo, hi, y_ticks) = if self.log_y {
            let (t, lo, hi) = log_ticks(y_lo.max(f64::MIN_POSITIVE), y_hi.max(y_lo));
            let ticks = t.iter().map(|k| (10f64.powi(*k), decade(*k))).collect();
            (lo, hi, ticks)
        } else {
            let (lo, hi) = match self.y_range {
                Some(r) => r,
                None => axis_range(ys.iter().copied()),
            };
            let t = nice_ticks(lo, hi, 5, 0.0);
            (lo, hi, t.iter().copied().zip(tick_labels(&t)).collect())
        };
        let y = Scale {
            lo,
            hi,
            px0: frame.y1,
            px1: frame.y0,
            log: self.log_y,
        };
        Some(Axes {
            x_ticks: xt.iter().copied().zip(tick_labels(&xt)).collect(),
            x,
            y_ticks,
            y,
        })
    }

    /// The plot's frame, grid lines, tick labels, axis labels and reference line.
    fn push_axes(&self, shapes: &mut Vec<Shape>, f: &Frame, axes: &Axes) {
        shapes.push(Shape::Rect {
            x: f.x0,
            y: f.y0,
            w: f.x1 - f.x0,
            h: f.y1 - f.y0,
            fill: PLOT_FILL,
            stroke: Some(Stroke::solid(FRAME, 1.0)),
            class: "plot",
        });
        let grid = Stroke::solid(GRID, 1.0);
        for (v, label) in &axes.y_ticks {
            let y = axes.y.at(*v);
            shapes.push(Shape::Line {
                from: (f.x0, y),
                to: (f.x1, y),
                stroke: grid,
                class: "grid",
            });
            shapes.push(Shape::Text {
                text: text(label, f.x0 - 6.0, y + 3.5, Anchor::End, 11.0, TEXT),
                class: "tick",
            });
        }
        for (v, label) in &axes.x_ticks {
            let x = axes.x.at(*v);
            shapes.push(Shape::Line {
                from: (x, f.y0),
                to: (x, f.y1),
                stroke: grid,
                class: "grid",
            });
            shapes.push(Shape::Text {
                text: text(label, x, f.y1 + 14.0, Anchor::Middle, 11.0, TEXT),
                class: "tick",
            });
        }
        let (mid_x, mid_y) = ((f.x0 + f.x1) / 2.0, (f.y0 + f.y1) / 2.0);
        shapes.push(Shape::Text {
            text: text(
                &self.x_label,
                mid_x,
                f.y1 + 30.0,
                Anchor::Middle,
                11.5,
                LABEL,
            ),
            class: "label",
        });
        shapes.push(Shape::Text {
            text: Text {
                rotated: true,
                ..text(&self.y_label, 14.0, mid_y, Anchor::Middle, 11.5, LABEL)
            },
            class: "label",
        });
        if let Some((r, label)) = &self.reference {
            if self.usable(*r) {
                let y = axes.y.at(*r);
                shapes.push(Shape::Line {
                    from: (f.x0, y),
                    to: (f.x1, y),
                    stroke: Stroke {
                        colour: WARN,
                        width: 1.3,
                        dash: Some((6.0, 4.0)),
                    },
                    class: "ref",
                });
                shapes.push(Shape::Text {
                    text: text(label, f.x1 - 4.0, y - 4.0, Anchor::End, 10.5, WARN),
                    class: "ref-label",
                });
            }
        }
    }

    /// Each series' lines, then its markers with tooltips.
    fn push_series(&self, shapes: &mut Vec<Shape>, axes: &Axes) {
        let at = |(x, y): (f64, f64)| (axes.x.at(x), axes.y.at(y));
        for (i, se) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let stroke = Stroke {
                colour,
                width: 2.0,
                dash: (i >= PALETTE.len()).then_some(SERIES_DASH),
            };
            let runs = runs(&se.points, |y| self.usable(y));
            for run in runs.iter().filter(|r| r.len() > 1) {
                shapes.push(Shape::Polyline {
                    points: run.iter().map(|&p| at(p)).collect(),
                    stroke,
                    class: "line",
                });
            }
            let n: usize = runs.iter().map(Vec::len).sum();
            for run in &runs {
                if n > MARKER_MAX_POINTS && run.len() > 1 {
                    continue;
                }
                for &(x, y) in run {
                    shapes.push(Shape::Circle {
                        centre: at((x, y)),
                        r: 2.6,
                        fill: colour,
                        tooltip: Some(format!("{}: {} at {}", se.name, num(y), num(x))),
                    });
                }
            }
        }
    }
}

/// A swatch and a name per shown series, and the note on those left out, below `y`.
fn push_legend(shapes: &mut Vec<Shape>, legend: &Legend, names: &[&str], y: f64) {
    for (i, ((x, dy), name)) in legend.entries.iter().zip(names).enumerate() {
        let y = y + dy;
        let colour = PALETTE[i % PALETTE.len()];
        shapes.push(Shape::Line {
            from: (*x, y - 4.0),
            to: (x + 18.0, y - 4.0),
            stroke: Stroke::solid(colour, 3.0),
            class: "swatch",
        });
        shapes.push(Shape::Text {
            text: text(name, x + 23.0, y, Anchor::Start, 11.0, TEXT),
            class: "legend",
        });
    }
    if let Some((x, dy, n)) = legend.more {
        shapes.push(Shape::Text {
            text: text(&format!("+{n} more"), x, y + dy, Anchor::Start, 11.0, MUTED),
            class: "legend",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::Series;

    fn count(d: &Drawing, f: impl Fn(&Shape) -> bool) -> usize {
        d.shapes.iter().filter(|s| f(s)).count()
    }

    #[test]
    fn runs_break_at_non_finite_points() {
        let s = runs(
            &[
                (0.0, 1.0),
                (1.0, f64::NAN),
                (2.0, 2.0),
                (3.0, 3.0),
                (f64::INFINITY, 1.0),
            ],
            f64::is_finite,
        );
        assert_eq!(s, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
    }

    #[test]
    fn the_height_grows_with_the_legend_or_the_plot_gives_way() {
        let c = LineChart {
            series: (0..12)
                .map(|i| {
                    Series::new(
                        format!("a long series name {i}"),
                        vec![(0.0, 1.0), (1.0, 2.0)],
                    )
                })
                .collect(),
            ..LineChart::default()
        };
        let grown = c.layout(400.0, 200.0);
        assert!(grown.height > 200.0 + LEGEND_ROW);
        let fixed = c.layout_fixed(400.0, 200.0);
        assert_eq!((fixed.width, fixed.height), (400.0, 200.0));
        // three rows of two fit, the last entry giving way to the note on the rest
        let note = fixed
            .shapes
            .iter()
            .any(|s| matches!(s, Shape::Text { text, .. } if text.text == "+7 more"));
        assert!(note, "{fixed:?}");
        // everything, the last legend row included, lies inside the fixed frame
        for s in &fixed.shapes {
            if let Shape::Text { text, .. } = s {
                assert!(text.y <= 200.0, "{text:?}");
            }
        }
        // series past the palette's length are dashed
        let dashed = count(
            &fixed,
            |s| matches!(s, Shape::Polyline { stroke, .. } if stroke.dash.is_some()),
        );
        assert_eq!(dashed, 2);
    }

    #[test]
    fn long_series_get_markers_only_at_lone_points() {
        let mut pts: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 1.0 + i as f64)).collect();
        pts[50].1 = f64::NAN;
        pts[52].1 = f64::NAN;
        let c = LineChart {
            series: vec![Series::new("s", pts)],
            ..LineChart::default()
        };
        let d = c.layout(400.0, 200.0);
        assert_eq!(count(&d, |s| matches!(s, Shape::Circle { .. })), 1);
        assert_eq!(count(&d, |s| matches!(s, Shape::Polyline { .. })), 2);
    }
}
