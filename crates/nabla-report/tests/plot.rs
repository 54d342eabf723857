//! Charts are written as SVG and PNG; files are checked by content, PNGs by their header
//! and their decoded pixels.

use std::path::Path;
use tempfile::TempDir;

use nabla_report::chart::{LineChart, Series, PALETTE};
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

/// The PNG's pixels, decoded with the `png` crate, row by row.
fn png_pixels(path: &Path) -> Vec<[u8; 3]> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (PLOT_WIDTH, PLOT_HEIGHT));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn rgb(c: nabla_report::chart::Colour) -> [u8; 3] {
    [c.0, c.1, c.2]
}

/// A standalone SVG document: its namespace, its size, and no coordinate that is not a
/// number.
fn svg(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(
        s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && s.ends_with("</svg>"),
        "{s}"
    );
    assert!(
        s.contains(&format!(r#"width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}""#)),
        "{s}"
    );
    // a white background, and every tag closed
    assert!(s.contains(r##"fill="#ffffff""##));
    assert_eq!(s.matches('<').count(), s.matches('>').count());
    for bad in ["NaN", "inf", "=\"\"", ",\""] {
        assert!(!s.contains(bad), "{bad} in {s}");
    }
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

#[test]
fn the_png_shows_the_lines_in_their_colours() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    plot_training(&rows(12), dir).unwrap();
    let px = png_pixels(&dir.join("loss.png"));
    let count = |c: [u8; 3]| px.iter().filter(|p| **p == c).count();
    // both curves are drawn, each in its colour, well beyond the legend's swatch
    assert!(
        count(rgb(PALETTE[0])) > 1000,
        "train: {}",
        count(rgb(PALETTE[0]))
    );
    assert!(count(rgb(PALETTE[1])) > 1000);
    // the plot's middle row crosses a line: not all background there
    let w = PLOT_WIDTH as usize;
    let row = |y: usize| &px[y * w..(y + 1) * w];
    let non_white = |y: usize| row(y).iter().filter(|p| **p != [255; 3]).count();
    assert!(
        non_white(PLOT_HEIGHT as usize / 2) > 500,
        "the plot's background"
    );
    // white outside the plot (the margin right of the frame)
    assert!(px[w * 200 + w - 3] == [255; 3]);
}

#[test]
fn log_scales_and_reference_lines_rasterize() {
    let tmp = TempDir::new().unwrap();
    let c = LineChart {
        title: "Update / weight ratio".into(),
        x_label: "step".into(),
        y_label: "ratio".into(),
        log_y: true,
        reference: Some((1e-3, "≈1e-3: healthy".into())),
        series: (0..12)
            .map(|i| {
                Series::new(
                    format!("layer {i}"),
                    (0..100)
                        .map(|s| (s as f64, 1e-2 / (1.0 + s as f64 * i as f64)))
                        .collect(),
                )
            })
            .collect(),
        ..LineChart::default()
    };
    let d = c.layout_fixed(640.0, 400.0);
    let (svg_path, png_path) = (tmp.path().join("r.svg"), tmp.path().join("r.png"));
    std::fs::write(&svg_path, d.to_svg_document(PLOT_WIDTH, PLOT_HEIGHT)).unwrap();
    std::fs::write(&png_path, d.to_png(PLOT_WIDTH, PLOT_HEIGHT).unwrap()).unwrap();
    let s = svg(&svg_path);
    assert!(s.contains("stroke-dasharray") && s.contains(">1e-3<"));
    let px = png_pixels(&png_path);
    // the reference line's colour, and the eleventh series' (dashed, the palette again)
    assert!(px.iter().filter(|p| **p == [0xb4, 0x53, 0x09]).count() > 200);
    assert!(px.contains(&rgb(PALETTE[9])));
}

#[test]
fn an_all_nan_chart_still_makes_both_files() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let nan = [Curve::new("nan", vec![(1.0, f64::NAN), (2.0, f64::NAN)])];
    let (s, p) = (dir.join("n.svg"), dir.join("n.png"));
    plot_curves("Nothing finite", "x", "y", &nan, &s, &p).unwrap();
    assert!(svg(&s).contains("no finite values to plot"));
    let px = png_pixels(&p);
    // the message and the title are drawn; no curve colour but the legend's swatch
    assert!(px.iter().filter(|p| **p != [255; 3]).count() > 300);
    let swatch = px.iter().filter(|p| **p == rgb(PALETTE[0])).count();
    assert!(swatch > 0 && swatch < 200, "{swatch}");
}

#[test]
fn a_long_legend_stays_inside_the_file() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    let many: Vec<Curve> = (0..40)
        .map(|i| {
            Curve::new(
                format!("a rather long curve name {i}"),
                vec![(0.0, i as f64), (1.0, 1.0)],
            )
        })
        .collect();
    let (s, p) = (dir.join("m.svg"), dir.join("m.png"));
    plot_curves("Many", "x", "y", &many, &s, &p).unwrap();
    let s = svg(&s);
    assert!(
        s.contains(" more</text>"),
        "the legend says what it leaves out"
    );
    assert_eq!(png_size(&p), (PLOT_WIDTH, PLOT_HEIGHT));
}
