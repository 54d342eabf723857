//! The run report rendered by a real browser: headless Chromium (Debian's `chromium`
//! package) takes a screenshot of a trained run's `report.html`; the page must not be blank
//! (many colours, the heatmap's cells among them) and the browser must log no
//! console message about it (a script error, a blocked resource, a CSP violation).
//!
//! Skipped with a note when `/usr/bin/chromium` is absent, unless `NABLA_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`, which installs it).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{nabla, tmp_with};

const CHROMIUM: &str = "/usr/bin/chromium";

const CONFIG: &str = include_str!("fixtures/digits-mlp-render.toml");

/// Runs Chromium headless on `url`, writing a 1200 x 3000 screenshot to `png`; returns its
/// stderr (with `--enable-logging=stderr`, console messages appear there as `:CONSOLE`).
fn screenshot(url: &str, png: &Path, profile: &Path) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,3000")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // read stderr on a thread so a chatty browser cannot block on a full pipe
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = reader.join().unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{log}");
    log
}

#[test]
fn the_report_renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("NABLA_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("{CHROMIUM} is absent but NABLA_REQUIRE_CHROMIUM=1 (apt-get install chromium)");
        }
        eprintln!("note: {CHROMIUM} is absent: the headless rendering test is skipped (apt-get install chromium)");
        return;
    }
    let dir = tmp_with("c.toml", CONFIG);
    let d = dir.path();
    let o = nabla(&["train", "c.toml", "--out", "run", "--plain"], d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = std::fs::canonicalize(d.join("run/report.html")).unwrap();
    let png = d.join("report.png");
    let log = screenshot(
        &format!("file://{}", report.display()),
        &png,
        &d.join("profile"),
    );
    // console messages (errors, blocked loads, CSP violations) name the page; the rest of
    // Chromium's log is noise about D-Bus, GPUs and sandboxes
    let page: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Uncaught")
                || l.contains("report.html")
                || l.contains("Content Security Policy")
        })
        .collect();
    assert!(
        page.is_empty(),
        "chromium logged about the page:\n{}",
        page.join("\n")
    );
    // decode the screenshot
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 3000));
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let ch = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        t => panic!("unexpected PNG colour type {t:?}"),
    };
    let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(ch)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let distinct: HashSet<[u8; 3]> = px.iter().copied().collect();
    let background = |p: &[u8; 3]| p.iter().all(|&c| c >= 240);
    let ink = px.iter().filter(|p| !background(p)).count() as f64 / px.len() as f64;
    // the heatmap's cells: pixels of exactly the colours its rects are filled with
    let html = std::fs::read_to_string(&report).unwrap();
    let start = html
        .find("<svg class=\"chart heatmap\"")
        .expect("a heatmap");
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    let fills: HashSet<[u8; 3]> = svg
        .split("fill=\"#")
        .skip(1)
        .map(|t| {
            let h = |i: usize| u8::from_str_radix(&t[i..i + 2], 16).unwrap();
            [h(0), h(2), h(4)]
        })
        .collect();
    assert!(fills.len() > 20, "{} heatmap colours", fills.len());
    let viridis = px.iter().filter(|p| fills.contains(*p)).count();
    assert!(
        distinct.len() > 500,
        "{} colours: a blank page?",
        distinct.len()
    );
    assert!(
        ink > 0.05,
        "only {:.1}% of the page is not background",
        100.0 * ink
    );
    assert!(viridis > 2000, "{viridis} heatmap pixels");
    eprintln!(
        "screenshot {}: {} colours, {:.1}% ink, {viridis} heatmap pixels",
        png.display(),
        distinct.len(),
        100.0 * ink
    );
}
