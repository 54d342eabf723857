//! Charts are written as SVG and PNG; files are checked by content, PNGs by their header.

use std::path::Path;
use tempfile::TempDir;

use nabla_report::plot::{plot_curves, plot_training, Curve, EpochRow};
use nabla_report::plot::{PLOT_HEIGHT, PLOT_WIDTH};

/// Width and height from the PNG signature and IHDR chunk, parsed by hand.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() > 33, "{} is too short for a PNG", path.display());
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} lacks the PNG signature",
        path.display()
    );
    assert_eq!(&b[8..12], &13u32.to_be_bytes(), "IHDR length");
    assert_eq!(&b[12..16], b"IHDR");
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    assert_eq!(b[24], 8, "bit depth");
    assert_eq!(b[25], 2, "color type RGB");
    (w, h)
}

fn svg(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(
        s.contains("<svg") && s.trim_end().ends_with("</svg>"),
        "{s}"
    );
    s
}

fn rows(n: usize) -> Vec<EpochRow> {
    (1..=n)
        .map(|e| {
            let e_f = e as f64;
            EpochRow {
                epoch: e,
                train_loss: 2.0 / e_f,
                train_accuracy: Some(1.0 - 0.6 / e_f),
                val_loss: Some(2.2 / e_f + 0.05),
                val_accuracy: Some(1.0 - 0.7 / e_f),
            }
        })
        .collect()
}

#[test]
fn plot_curves_writes_svg_and_png() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let (svg_path, png_path) = (dir.join("c.svg"), dir.join("c.png"));
    let curves = vec![
        Curve::new(
            "sine",
            (0..50)
                .map(|i| (i as f64 / 5.0, (i as f64 / 5.0).sin()))
                .collect(),
        ),
        Curve::new(
            "cosine",
            (0..50)
                .map(|i| (i as f64 / 5.0, (i as f64 / 5.0).cos()))
                .collect(),
        ),
    ];
    plot_curves(
        "Waves & <friends>",
        "time (s)",
        "amplitude",
        &curves,
        &svg_path,
        &png_path,
    )
    .unwrap();
    let s = svg(&svg_path);
    for text in [
        "Waves &amp; &lt;friends&gt;",
        "sine",
        "cosine",
        "time (s)",
        "amplitude",
    ] {
        assert!(s.contains(text), "SVG lacks {text:?}");
    }
    assert!(s.contains(&format!("width=\"{PLOT_WIDTH}\"")));
    assert!(s.contains("<polyline"), "no lines in the SVG");
    assert_eq!(png_size(&png_path), (PLOT_WIDTH, PLOT_HEIGHT));
    // the PNG is not blank: text and lines make it far from uniform
    assert!(std::fs::metadata(&png_path).unwrap().len() > 5_000);
}

#[test]
fn plot_training_writes_four_files() {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("nested/plots");
    plot_training(&rows(12), &dir).unwrap();
    for (stem, title) in [("loss", "Loss"), ("accuracy", "Accuracy")] {
        let s = svg(&dir.join(format!("{stem}.svg")));
        for text in [title, "train", "validation", "epoch", stem] {
            assert!(s.contains(text), "{stem}.svg lacks {text:?}");
        }
        assert_eq!(
            png_size(&dir.join(format!("{stem}.png"))),
            (PLOT_WIDTH, PLOT_HEIGHT)
        );
    }
}

#[test]
fn missing_series_are_skipped() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let mut r = rows(4);
    for row in &mut r {
        row.val_loss = None;
        row.val_accuracy = None;
    }
    r[1].train_accuracy = None; // a gap inside a series
    plot_training(&r, dir).unwrap();
    let loss = svg(&dir.join("loss.svg"));
    assert!(loss.contains("train") && !loss.contains("validation"));
    let acc = svg(&dir.join("accuracy.svg"));
    assert!(acc.contains("train") && !acc.contains("validation"));

    // no accuracy at all: only the loss chart
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    for row in &mut r {
        row.train_accuracy = None;
    }
    plot_training(&r, dir).unwrap();
    assert!(dir.join("loss.svg").exists() && dir.join("loss.png").exists());
    assert!(!dir.join("accuracy.svg").exists() && !dir.join("accuracy.png").exists());
}

#[test]
fn single_epoch() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    plot_training(&rows(1), dir).unwrap();
    assert_eq!(
        png_size(&dir.join("accuracy.png")),
        (PLOT_WIDTH, PLOT_HEIGHT)
    );
    assert!(
        svg(&dir.join("loss.svg")).contains("<circle"),
        "a lone point is a dot"
    );
}

#[test]
fn nan_and_inf_values_break_the_lines() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let mut r = rows(6);
    r[2].train_loss = f64::NAN;
    r[3].val_loss = Some(f64::INFINITY);
    r[0].train_accuracy = Some(f64::NAN);
    r[5].val_accuracy = Some(f64::NAN);
    plot_training(&r, dir).unwrap();
    let s = svg(&dir.join("loss.svg"));
    assert!(!s.contains("NaN") && !s.contains("inf"));

    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let r: Vec<EpochRow> = rows(3)
        .into_iter()
        .map(|mut r| {
            r.train_loss = f64::NAN;
            r.val_loss = Some(f64::NAN);
            r
        })
        .collect();
    plot_training(&r, dir).unwrap();
    assert!(svg(&dir.join("loss.svg")).contains("validation"));
}

#[test]
fn empty_inputs() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    plot_training(&[], dir).unwrap();
    assert_eq!(png_size(&dir.join("loss.png")), (PLOT_WIDTH, PLOT_HEIGHT));
    plot_curves(
        "Nothing",
        "x",
        "y",
        &[],
        &dir.join("n.svg"),
        &dir.join("n.png"),
    )
    .unwrap();
    assert!(svg(&dir.join("n.svg")).contains("Nothing"));
}

#[test]
fn flat_curve() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let flat = [Curve::new("flat", vec![(3.0, 0.0), (3.0, 0.0)])];
    plot_curves(
        "Flat",
        "x",
        "y",
        &flat,
        &dir.join("f.svg"),
        &dir.join("f.png"),
    )
    .unwrap();
}

#[test]
fn extreme_magnitudes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    for (i, pts) in [
        vec![(0.0, -1e308), (1.0, 1e308), (2.0, 0.0)],
        vec![(0.0, 1e300), (1.0, 2e300)],
        vec![(0.0, 1e-300), (1.0, 2e-300)],
        vec![(-1e308, 0.0), (1e308, 1.0)],
    ]
    .into_iter()
    .enumerate()
    {
        let c = [Curve::new("huge", pts)];
        let (s, p) = (dir.join(format!("h{i}.svg")), dir.join(format!("h{i}.png")));
        plot_curves("Huge", "x", "y", &c, &s, &p).unwrap();
    }
}

#[test]
fn errors_name_the_file() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let missing = dir.join("no-such-dir").join("chart.png");
    let err = plot_curves(
        "T",
        "x",
        "y",
        &[Curve::new("a", vec![(0.0, 1.0), (1.0, 2.0)])],
        &dir.join("ok.svg"),
        &missing,
    )
    .unwrap_err();
    assert!(matches!(err, nabla_core::Error::Io(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("chart.png") && msg.contains("cannot write"),
        "{msg}"
    );

    // out_dir is an existing file
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let msg = plot_training(&rows(2), &file).unwrap_err().to_string();
    assert!(msg.contains("a-file"), "{msg}");
}
