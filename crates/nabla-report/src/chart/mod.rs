//! Line charts, laid out once and drawn as SVG or PNG.
//!
//! A [`LineChart`] has axes with readable ticks (linear, or decades for a log scale), one
//! line per series, point markers with tooltips when there are few points, an optional
//! dashed reference line, and a legend. [`LineChart::layout`] turns it into a
//! [`Drawing`]: a short list of shapes (rectangles, lines, polylines, dots, text) in
//! pixels. [`Drawing::to_svg`] writes that as an `<svg>` element for the HTML report,
//! [`Drawing::to_svg_document`] as a standalone `.svg` file, and [`Drawing::to_png`] as a
//! PNG, so every chart looks the same in every format.
//!
//! Values that cannot be drawn (NaN, ±inf, and on a log scale zero and negative values)
//! break a line into pieces and do not affect the axis ranges; a point standing alone is
//! drawn as a dot. A chart with nothing to draw says "no finite values to plot".
//!
//! ```
//! use nabla_report::chart::{LineChart, Series};
//! let chart = LineChart {
//!     title: "Loss".into(),
//!     x_label: "epoch".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series::new("train", vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.4)])],
//!     ..LineChart::default()
//! };
//! let drawing = chart.layout(530.0, 260.0);
//! assert!(drawing.to_svg().starts_with("<svg"));
//! assert!(drawing.to_png(530, 276).unwrap().starts_with(b"\x89PNG"));
//! ```

pub mod draw;
mod layout;
pub(crate) mod png;
mod svg;
mod ticks;

pub use draw::{Colour, Drawing};
pub use ticks::{decade, log_ticks};

/// Series colours (Tableau 10), reused in order; series from the eleventh on are dashed.
pub const PALETTE: [Colour; 10] = [
    Colour(0x4e, 0x79, 0xa7),
    Colour(0xf2, 0x8e, 0x2b),
    Colour(0xe1, 0x57, 0x59),
    Colour(0x76, 0xb7, 0xb2),
    Colour(0x59, 0xa1, 0x4f),
    Colour(0xed, 0xc9, 0x48),
    Colour(0xb0, 0x7a, 0xa1),
    Colour(0xff, 0x9d, 0xa7),
    Colour(0x9c, 0x75, 0x5f),
    Colour(0xba, 0xb0, 0xac),
];

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend and tooltips.
    pub name: String,
    /// `(x, y)` points in x order; a point with a non-finite `x` or `y` (or, on a log
    /// scale, `y <= 0`) breaks the line.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name` through `points`.
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

impl LineChart {
    /// The chart as an `<svg>` element for an HTML page, `width` pixels wide and `height`
    /// pixels high plus the legend's rows: [`LineChart::layout`] then
    /// [`Drawing::to_svg`].
    pub fn to_svg(&self, width: u32, height: u32) -> String {
        self.layout(f64::from(width), f64::from(height)).to_svg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rasterized chart's RGB pixels.
    fn pixels(c: &LineChart, w: u32, h: u32) -> Vec<[u8; 3]> {
        let d = c.layout_fixed(f64::from(w), f64::from(h));
        let rgb = d.to_rgb(w, h).unwrap();
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect()
    }

    #[test]
    fn extreme_values_still_draw() {
        for pts in [
            vec![(0.0, 1e-300), (1.0, 1e300)],
            vec![(0.0, -f64::MAX), (1.0, f64::MAX)],
            vec![(1e15, 1.0), (1e15 + 1.0, 2.0)],
            vec![(-f64::MAX, 1.0), (f64::MAX, 2.0)],
        ] {
            for log_y in [false, true] {
                let c = LineChart {
                    series: vec![Series::new("s", pts.clone())],
                    log_y,
                    ..LineChart::default()
                };
                let svg = c.to_svg(400, 200);
                assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
                pixels(&c, 200, 100);
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
        // the page's stylesheet finds its classes
        for class in [
            "chart",
            "title",
            "label",
            "tick",
            "ref-label",
            "plot",
            "grid",
            "ref",
            "swatch",
            "line",
            "legend",
        ] {
            assert!(svg.contains(&format!("class=\"{class}\"")), "no {class}");
        }
        // inline in a page: no namespace (the page links nothing)
        assert!(!svg.contains("http"));
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
        let svg = c.to_svg(300, 200);
        assert!(svg.contains("no finite values") && svg.contains("class=\"empty\""));
        // the series keeps its legend entry
        assert!(svg.contains(">s</text>"));
        // a log chart of zeros has nothing to draw either
        let c = LineChart {
            log_y: true,
            series: vec![Series::new("s", vec![(1.0, 0.0), (2.0, 0.0)])],
            ..LineChart::default()
        };
        assert!(c.to_svg(300, 200).contains("no finite values"));
    }

    #[test]
    fn lines_and_colours_reach_the_raster() {
        let c = LineChart {
            series: vec![Series::new("a", vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.5)])],
            ..LineChart::default()
        };
        let px = pixels(&c, 400, 250);
        assert!(px.iter().filter(|p| **p == [0x4e, 0x79, 0xa7]).count() > 200);
        // a log scale and a dashed reference line rasterize too: the reference's colour
        let c = LineChart {
            log_y: true,
            reference: Some((1e-3, "ref".into())),
            series: vec![Series::new(
                "r",
                vec![(0.0, 1e-1), (1.0, 1e-4), (2.0, 1e-5)],
            )],
            ..LineChart::default()
        };
        let px = pixels(&c, 400, 250);
        assert!(px.contains(&[0xb4, 0x53, 0x09]));
        assert!(px.contains(&[0x4e, 0x79, 0xa7]));
    }

    #[test]
    fn an_empty_chart_rasterizes_its_message() {
        let c = LineChart {
            series: vec![Series::new("nan", vec![(0.0, f64::NAN), (1.0, f64::NAN)])],
            ..LineChart::default()
        };
        let px = pixels(&c, 300, 200);
        // text (grey, anti-aliased) in the plot's middle (y 84), the legend's swatch
        let middle = &px[70 * 300..90 * 300];
        assert!(middle.iter().any(|p| p[0] < 200), "no message");
        assert!(px.contains(&[0x4e, 0x79, 0xa7]));
    }
}
