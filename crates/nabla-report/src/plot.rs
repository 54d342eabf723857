//! Loss and accuracy curves as SVG and PNG files.
//!
//! The charts are the report page's [line charts](crate::chart), laid out once and written
//! twice: a standalone SVG document and a PNG, each [`PLOT_WIDTH`] x [`PLOT_HEIGHT`]
//! pixels, drawn 1.25 times the page's scale. The PNG's text uses a bundled copy of DejaVu
//! Sans, so no system font is needed.
//!
//! Non-finite values (NaN, ±inf) are never drawn: a curve is broken into separate line
//! pieces at them, and they do not affect the axis ranges. A point standing alone (one
//! epoch, or a finite value between two NaNs) is drawn as a dot.
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

use crate::chart::{png, LineChart, Series};
use nabla_core::Error;
use std::path::Path;

/// Width in pixels of every chart (the SVG's `width` and the PNG's).
pub const PLOT_WIDTH: u32 = 800;
/// Height in pixels of every chart (the SVG's `height` and the PNG's).
pub const PLOT_HEIGHT: u32 = 500;

/// Files are drawn this many times the report page's scale (text, lines, margins), as a
/// chart looked at alone is looked at larger.
const ZOOM: f64 = 1.25;

/// One named line of a chart: `(x, y)` points drawn in the given order.
pub type Curve = Series;

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

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::Io(format!("plot {}: cannot write: {e}", path.display())))
}

/// Draws `curves` as a line chart with axes, tick labels, axis titles, a legend under the
/// plot and a title, and writes it to `svg_path` (SVG) and `png_path` (PNG, regardless of
/// the extension), each [`PLOT_WIDTH`] x [`PLOT_HEIGHT`] pixels. Existing files are
/// overwritten; the parent directories must exist.
///
/// The x axis spans every finite point; the y axis covers every finite value with a
/// little padding. Each curve gets a colour from a fixed 10-colour cycle and an entry in
/// the legend, and a dot at every point when it has few. A chart with no finite point (or
/// no curves) says so in place of the plot.
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
    let chart = LineChart {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series: curves.to_vec(),
        ..LineChart::default()
    };
    let drawing = chart.layout_fixed(f64::from(PLOT_WIDTH) / ZOOM, f64::from(PLOT_HEIGHT) / ZOOM);
    write_file(
        svg_path,
        drawing.to_svg_document(PLOT_WIDTH, PLOT_HEIGHT).as_bytes(),
    )?;
    let err = |e: String| Error::Io(format!("plot {}: {e}", png_path.display()));
    let rgb = drawing.rasterize(PLOT_WIDTH, PLOT_HEIGHT).map_err(err)?;
    let bytes = png::encode(&rgb, PLOT_WIDTH, PLOT_HEIGHT).map_err(err)?;
    write_file(png_path, &bytes)
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
