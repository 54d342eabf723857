//! Loss and accuracy curves, written as both SVG and PNG.
//!
//! Drawing is done by the `plotters` crate with pure-Rust backends only: text in the PNG is
//! rasterized with `ab_glyph` from a bundled copy of DejaVu Sans (see
//! `assets/DejaVuSans-LICENSE.txt`), so no system font, fontconfig or freetype is needed.
//! Every image is [`PLOT_WIDTH`] x [`PLOT_HEIGHT`] pixels.
//!
//! Non-finite values (NaN, ±inf) are never drawn: a curve is broken into separate line pieces
//! at them, and they do not affect the axis ranges. A point standing alone (one epoch, or a
//! finite value between two NaNs) is drawn as a dot.
//!
//! ```no_run
//! use nabla_report::plot::{plot_training, EpochRow};
//! let rows: Vec<EpochRow> = (1..=5)
//!     .map(|e| EpochRow {
//!         epoch: e,
//!         train_loss: 1.0 / e as f64,
//!         train_accuracy: Some(1.0 - 0.5 / e as f64),
//!         val_loss: Some(1.2 / e as f64),
//!         val_accuracy: None,
//!     })
//!     .collect();
//! plot_training(&rows, std::path::Path::new("runs/plots")).unwrap();
//! ```

use nabla_core::Error;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width in pixels of every chart (the SVG's `width` and the PNG's).
pub const PLOT_WIDTH: u32 = 800;
/// Height in pixels of every chart (the SVG's `height` and the PNG's).
pub const PLOT_HEIGHT: u32 = 500;

/// The font family name under which the bundled font is registered with plotters.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static FONT_REGISTERED: OnceLock<bool> = OnceLock::new();

/// Line colors, cycled (matplotlib's "tab10").
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Curves with at most this many points also get a dot at every point.
const MARKER_MAX_POINTS: usize = 30;

/// One named line of a chart: `(x, y)` points drawn in the given order.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The legend entry.
    pub name: String,
    /// The points; non-finite coordinates break the line (see the [module docs](self)).
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    /// A curve named `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Curve {
            name: name.into(),
            points,
        }
    }
}

/// The metrics of one epoch, as collected by a training loop, for [`plot_training`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRow {
    /// The epoch number (the x coordinate).
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy, if measured.
    pub train_accuracy: Option<f64>,
    /// Validation loss, if a validation pass ran this epoch.
    pub val_loss: Option<f64>,
    /// Validation accuracy, if measured.
    pub val_accuracy: Option<f64>,
}

fn ensure_font(path: &Path) -> Result<(), Error> {
    let ok = *FONT_REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Io(format!(
            "plot {}: the bundled font could not be loaded",
            path.display()
        )))
    }
}

/// Axis range `[lo, hi]` covering the finite values with 5 % padding, never empty.
pub(crate) fn axis_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else if lo != 0.0 {
        lo.abs() * 0.1
    } else {
        1.0
    };
    let (a, b) = (lo - pad, hi + pad);
    if a < b && (b - a).is_finite() {
        return (a, b);
    }
    // near the limits of f64 (or subnormal): an unpadded range that keeps b - a finite
    let (a, b) = (
        lo.clamp(-f64::MAX / 2.0, 0.0),
        hi.clamp(0.0, f64::MAX / 2.0),
    );
    if a < b {
        (a, b)
    } else {
        (0.0, 1.0)
    }
}

/// "Nice" tick positions (multiples of 1, 2 or 5 times a power of ten) inside `[lo, hi]`,
/// about `target` of them, with a step of at least `min_step`. Computed here rather than by
/// plotters, whose search does not terminate for some extreme ranges. Always terminates and
/// never returns more than `target + 2` ticks.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, min_step: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) || target == 0 {
        return vec![lo];
    }
    let raw = (span / target as f64).max(min_step);
    let base = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * base);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let first = (lo / step).ceil();
    let mut ticks = Vec::new();
    for i in 0..target + 2 {
        let v = (first + i as f64) * step;
        if !v.is_finite() || v > hi + step * 1e-9 {
            break;
        }
        if ticks.last().is_none_or(|&last| v > last) {
            ticks.push(v);
        }
    }
    if ticks.is_empty() {
        ticks.push(lo);
    }
    ticks
}

/// Tick label: up to 4 decimals without trailing zeros, scientific for very large or small.
fn fmt_tick(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A linear f64 axis over `[lo, hi]` (`lo < hi`, both finite) with precomputed ticks,
/// labelled by [`fmt_tick`].
#[derive(Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let w = self.hi - self.lo;
        let mut t = (v - self.lo) / w;
        if !t.is_finite() {
            // v - lo overflowed (values near f64::MAX): split the difference
            t = v / w - self.lo / w;
        }
        let len = f64::from(limit.1) - f64::from(limit.0);
        // far outside the chart is as good as just outside it; NaN maps to the start
        let offset = (len * t).round().clamp(-1e6, 1e6);
        limit
            .0
            .saturating_add(if offset.is_nan() { 0 } else { offset as i32 })
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(value: &f64) -> String {
        fmt_tick(value)
    }
}

/// Runs of consecutive finite points.
fn finite_segments(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
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

/// Everything needed to draw one chart on any backend.
struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    curves: &'a [Curve],
    x: Axis,
    y: Axis,
    legend: SeriesLabelPosition,
}

impl<'a> Chart<'a> {
    fn new(title: &'a str, x_label: &'a str, y_label: &'a str, curves: &'a [Curve]) -> Self {
        let all = || curves.iter().flat_map(|c| c.points.iter().copied());
        let x = axis_range(all().filter(|p| p.1.is_finite()).map(|p| p.0));
        let y = axis_range(all().filter(|p| p.0.is_finite()).map(|p| p.1));
        // integer x (epochs): no ticks between integers
        let finite_x: Vec<f64> = all()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|p| p.0)
            .collect();
        let integral = !finite_x.is_empty() && finite_x.iter().all(|v| v.fract() == 0.0);
        let legend = Self::legend_corner(all(), x, y);
        let x = Axis {
            lo: x.0,
            hi: x.1,
            ticks: nice_ticks(x.0, x.1, 10, if integral { 1.0 } else { 0.0 }),
        };
        let y = Axis {
            lo: y.0,
            hi: y.1,
            ticks: nice_ticks(y.0, y.1, 8, 0.0),
        };
        Chart {
            title,
            x_label,
            y_label,
            curves,
            x,
            y,
            legend,
        }
    }

    /// The corner with the fewest data points nearby, preferring upper right.
    fn legend_corner(
        points: impl Iterator<Item = (f64, f64)>,
        x: (f64, f64),
        y: (f64, f64),
    ) -> SeriesLabelPosition {
        // upper right, lower right, upper left, lower left
        let mut counts = [0usize; 4];
        for (px, py) in points.filter(|p| p.0.is_finite() && p.1.is_finite()) {
            let u = (px - x.0) / (x.1 - x.0);
            let v = (py - y.0) / (y.1 - y.0);
            let (right, left) = (u > 0.55, u < 0.45);
            let (top, bottom) = (v > 0.6, v < 0.4);
            counts[0] += usize::from(right && top);
            counts[1] += usize::from(right && bottom);
            counts[2] += usize::from(left && top);
            counts[3] += usize::from(left && bottom);
        }
        let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
        match best {
            1 => SeriesLabelPosition::LowerRight,
            2 => SeriesLabelPosition::UpperLeft,
            3 => SeriesLabelPosition::LowerLeft,
            _ => SeriesLabelPosition::UpperRight,
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        area.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, (FONT, 26))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(self.x.clone(), self.y.clone())?;
        chart
            .configure_mesh()
            .x_labels(self.x.ticks.len() + 1)
            .y_labels(self.y.ticks.len() + 1)
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 18))
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()?;

        for (i, curve) in self.curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let line = color.stroke_width(2);
            let mut segments = finite_segments(&curve.points);
            let n_points: usize = segments.iter().map(Vec::len).sum();
            let dots: Vec<(f64, f64)> = segments
                .iter()
                .filter(|s| n_points <= MARKER_MAX_POINTS || s.len() == 1)
                .flatten()
                .copied()
                .collect();
            if segments.is_empty() {
                // nothing finite to draw, but the curve keeps its legend entry
                segments.push(Vec::new());
            }
            for (k, seg) in segments.into_iter().enumerate() {
                let drawn = chart.draw_series(LineSeries::new(seg, line))?;
                if k == 0 {
                    drawn.label(curve.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                    });
                }
            }
            chart.draw_series(dots.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }

        if !self.curves.is_empty() {
            chart
                .configure_series_labels()
                .position(self.legend.clone())
                .margin(12)
                .label_font((FONT, 16))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .draw()?;
        }
        Ok(())
    }
}

fn draw_err<E: std::error::Error + Send + Sync>(
    path: &Path,
) -> impl FnOnce(DrawingAreaErrorKind<E>) -> Error + '_ {
    move |e| Error::Io(format!("plot {}: drawing failed: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::Io(format!("plot {}: cannot write: {e}", path.display())))
}

fn render_svg(chart: &Chart<'_>, path: &Path) -> Result<(), Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
        chart.draw(&root).map_err(draw_err(path))?;
        root.present().map_err(draw_err(path))?;
    }
    write_file(path, svg.as_bytes())
}

fn render_png(chart: &Chart<'_>, path: &Path) -> Result<(), Error> {
    let mut rgb = vec![0u8; PLOT_WIDTH as usize * PLOT_HEIGHT as usize * 3];
    {
        let backend = BitMapBackend::with_buffer(&mut rgb, (PLOT_WIDTH, PLOT_HEIGHT));
        let root = backend.into_drawing_area();
        chart.draw(&root).map_err(draw_err(path))?;
        root.present().map_err(draw_err(path))?;
    }
    let encode_err = |e: png::EncodingError| {
        Error::Io(format!("plot {}: PNG encoding failed: {e}", path.display()))
    };
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, PLOT_WIDTH, PLOT_HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(encode_err)?;
        writer.write_image_data(&rgb).map_err(encode_err)?;
        writer.finish().map_err(encode_err)?;
    }
    write_file(path, &bytes)
}

/// Draws `curves` as a line chart with axes, tick labels, axis titles, a legend and a title,
/// and writes it to `svg_path` (SVG) and `png_path` (PNG, regardless of the extension), each
/// [`PLOT_WIDTH`] x [`PLOT_HEIGHT`] pixels. Existing files are overwritten; the parent
/// directories must exist.
///
/// Axis ranges cover every finite point with a little padding; a chart with no finite points
/// (or no curves) still gets axes over `[0, 1]`. Each curve gets a color from a fixed
/// 10-color cycle and an entry in the legend, which goes into the emptiest corner.
///
/// # Errors
/// [`Error::Io`] naming the file when drawing, encoding or writing fails.
pub fn plot_curves(
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    svg_path: &Path,
    png_path: &Path,
) -> Result<(), Error> {
    ensure_font(svg_path)?;
    let chart = Chart::new(title, x_label, y_label, curves);
    render_svg(&chart, svg_path)?;
    render_png(&chart, png_path)
}

/// Writes the training curves of `metrics` into `out_dir` (created if missing):
///
/// - `loss.svg` / `loss.png`: "train" loss and, when any epoch has one, "validation" loss;
/// - `accuracy.svg` / `accuracy.png`: "train" and "validation" accuracy, each only when at
///   least one epoch has it. When no epoch has any accuracy, the accuracy files are not
///   written (a regression run has none).
///
/// Epochs without a value for a series are skipped (the line joins its neighbours); NaN
/// values break the line (see the [module docs](self)). An empty `metrics` gives an empty
/// loss chart.
///
/// # Errors
/// [`Error::Io`] naming the file when `out_dir` cannot be created or a file cannot be
/// drawn or written.
pub fn plot_training(metrics: &[EpochRow], out_dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::Io(format!("plot {}: cannot write: {e}", out_dir.display())))?;
    let series = |name: &str, f: &dyn Fn(&EpochRow) -> Option<f64>| -> Option<Curve> {
        let points: Vec<(f64, f64)> = metrics
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect();
        (!points.is_empty()).then(|| Curve::new(name, points))
    };

    let loss: Vec<Curve> = [
        series("train", &|r| Some(r.train_loss)),
        series("validation", &|r| r.val_loss),
    ]
    .into_iter()
    .flatten()
    .collect();
    plot_curves(
        "Loss",
        "epoch",
        "loss",
        &loss,
        &out_dir.join("loss.svg"),
        &out_dir.join("loss.png"),
    )?;

    let acc: Vec<Curve> = [
        series("train", &|r| r.train_accuracy),
        series("validation", &|r| r.val_accuracy),
    ]
    .into_iter()
    .flatten()
    .collect();
    if acc.is_empty() {
        return Ok(());
    }
    plot_curves(
        "Accuracy",
        "epoch",
        "accuracy",
        &acc,
        &out_dir.join("accuracy.svg"),
        &out_dir.join("accuracy.png"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_range_pads_and_handles_degenerate_input() {
        assert_eq!(axis_range([].into_iter()), (0.0, 1.0));
        assert_eq!(
            axis_range([f64::NAN, f64::INFINITY].into_iter()),
            (0.0, 1.0)
        );
        assert_eq!(axis_range([0.0].into_iter()), (-1.0, 1.0));
        let (lo, hi) = axis_range([2.0].into_iter());
        assert!((lo - 1.8).abs() < 1e-12 && (hi - 2.2).abs() < 1e-12);
        let (lo, hi) = axis_range([0.0, 10.0, f64::NAN].into_iter());
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
        for vals in [
            vec![-1e308, 1e308],
            vec![f64::MAX],
            vec![-f64::MAX, f64::MAX],
            vec![5e-324],
            vec![1e-320, 2e-320],
        ] {
            let (lo, hi) = axis_range(vals.iter().copied());
            assert!(lo < hi && (hi - lo).is_finite(), "{vals:?} -> {lo} {hi}");
        }
    }

    #[test]
    fn nice_ticks_are_round_and_bounded() {
        let labels: Vec<String> = nice_ticks(0.0, 1.0, 5, 0.0).iter().map(fmt_tick).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let labels: Vec<String> = nice_ticks(-0.13, 2.6, 8, 0.0)
            .iter()
            .map(fmt_tick)
            .collect();
        assert_eq!(labels, ["0", "0.5", "1", "1.5", "2", "2.5"]);
        assert_eq!(
            nice_ticks(0.45, 12.55, 10, 1.0),
            vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
        assert_eq!(nice_ticks(0.8, 5.2, 10, 1.0), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(nice_ticks(0.9, 1.1, 10, 1.0), vec![1.0]);
        assert_eq!(nice_ticks(1.0, 1.0, 10, 0.0), vec![1.0]);
        for (lo, hi) in [
            (-f64::MAX / 2.0, f64::MAX / 2.0),
            (1e-300, 2e-300),
            (1e300, 2e300),
            (5e-324, 1e-323),
            (1e20, 1e20 + 1e5),
        ] {
            let t = nice_ticks(lo, hi, 8, 0.0);
            assert!(!t.is_empty() && t.len() <= 10, "{lo} {hi} {t:?}");
            assert!(t.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(fmt_tick(&0.30000000000000004), "0.3");
        assert_eq!(fmt_tick(&2.0), "2");
        assert_eq!(fmt_tick(&-0.0), "0");
        assert_eq!(fmt_tick(&-0.00001), "-1.00e-5");
        assert_eq!(fmt_tick(&1.5e7), "1.50e7");
    }

    #[test]
    fn segments_break_at_non_finite_points() {
        let s = finite_segments(&[
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 2.0),
            (3.0, 3.0),
            (f64::INFINITY, 1.0),
        ]);
        assert_eq!(s, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
    }
}
