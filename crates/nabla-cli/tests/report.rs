//! End-to-end tests of the run report (`report.html`, `nabla report`) and the TensorBoard
//! event file (`--tensorboard`, `train.tensorboard`) with the real binary, and their bad
//! input: not a run, a truncated `health.jsonl`, a read-only run folder, a wrong key type.

use nabla::report::tensorboard::{event_files, proto, read_events};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{assert_bad, assert_ok, nabla, text, tmp, BIN};

/// A small, fast config on the bundled digits, a health record every 5 steps.
const SMALL: &str = include_str!("fixtures/digits-mlp-health.toml");

fn train(d: &Path, cfg: &str, out: &str, extra: &[&str]) -> Output {
    std::fs::write(d.join("c.toml"), cfg).unwrap();
    let mut args = vec!["train", "c.toml", "--out", out, "--plain"];
    args.extend_from_slice(extra);
    nabla(&args, d)
}

/// Every file of a folder (recursively) with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            m.extend(snapshot(&p));
        } else {
            let md = std::fs::metadata(&p).unwrap();
            m.insert(
                p.clone(),
                (std::fs::read(&p).unwrap(), md.modified().unwrap()),
            );
        }
    }
    m
}

#[test]
fn every_run_gets_a_self_contained_report_that_nabla_report_rebuilds() {
    let dir = tmp();
    let d = dir.path();
    let o = train(d, SMALL, "r", &[]);
    assert_ok(&o);
    let run = d.join("r");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in [
        "<section id=\"diagnoses\">",
        "<section id=\"curves\">",
        "<section id=\"health\">",
        "<section id=\"confusion\">",
        "<section id=\"model\">",
        "<section id=\"config\">",
        "Gradient norm per parameter tensor",
        "(log scale)",
        "Update / weight ratio",
        "1 (ReLU) dead",
        "Learning rate",
        "macro avg",
        "0 (Linear)",
        "[None, 32]",
        "health_every = 5",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    // self-contained: nothing to load, no script
    for bad in [
        "src=",
        "href=\"http",
        "href='http",
        "<script",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(bad), "report.html has {bad}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    // the confusion matrix of the test set was kept: 20% of the 1797 digits (359.4)
    let cm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("confusion.json")).unwrap())
            .unwrap();
    let counts: Vec<Vec<u64>> = serde_json::from_value(cm["counts"].clone()).unwrap();
    assert_eq!(counts.len(), 10);
    let total: u64 = counts.iter().flatten().sum();
    let diag: u64 = (0..10).map(|i| counts[i][i]).sum();
    assert_eq!(total, 359, "{cm}");
    let acc = diag as f64 / total as f64;
    let closing = text(&o).0;
    assert!(
        closing.contains(&format!("test_accuracy={acc:.4}")),
        "{closing} vs {acc}"
    );
    // rebuilt: the same bytes; to stdout (two spellings) and to another file
    std::fs::remove_file(run.join("report.html")).unwrap();
    let o = nabla(&["report", "r"], d);
    assert_ok(&o);
    assert!(text(&o).0.contains("report.html"));
    assert_eq!(
        std::fs::read_to_string(run.join("report.html")).unwrap(),
        html
    );
    for args in [
        vec!["report", "r", "--stdout"],
        vec!["report", "r", "-o", "-"],
    ] {
        let o = nabla(&args, d);
        assert_ok(&o);
        assert_eq!(text(&o).0, html);
    }
    let o = nabla(&["report", "r", "-o", "elsewhere.html"], d);
    assert_ok(&o);
    assert_eq!(
        std::fs::read_to_string(d.join("elsewhere.html")).unwrap(),
        html
    );
}

#[test]
fn early_stopping_and_failed_runs_get_reports_too() {
    let dir = tmp();
    let d = dir.path();
    // lr 0: the validation loss never improves, so patience 1 stops after epoch 2
    let cfg = SMALL
        .replace("lr = 0.003", "lr = 0.0")
        .replace("epochs = 2", "epochs = 20\nearly_stopping_patience = 1");
    let o = train(d, &cfg, "early", &[]);
    assert_ok(&o);
    let html = std::fs::read_to_string(d.join("early/report.html")).unwrap();
    assert!(html.contains("2 epochs (stopped early)"), "header");
    // a run stopped by a NaN: its report shows the health records it has
    let cfg = SMALL
        .replace("lr = 0.003", "lr = 1e30")
        .replace("adam", "sgd");
    let o = train(d, &cfg, "nan", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    let html = std::fs::read_to_string(d.join("nan/report.html")).unwrap();
    assert!(html.contains("<section id=\"health\">") && html.contains("unfinished"));
    assert!(html.contains("No confusion.json"));
}

#[test]
fn report_bad_input() {
    let dir = tmp();
    let d = dir.path();
    // not a run; no such folder
    std::fs::create_dir_all(d.join("empty")).unwrap();
    assert_bad(&nabla(&["report", "empty"], d), "not a nabla run");
    assert_bad(
        &nabla(&["report", "missing"], d),
        "run folder missing: no such folder",
    );
    assert!(std::fs::read_dir(d.join("empty")).unwrap().next().is_none());
    // --stdout and -o together
    assert_eq!(
        nabla(&["report", "empty", "--stdout", "-o", "x"], d)
            .status
            .code(),
        Some(2)
    );
    // a health.jsonl cut mid-line: the complete lines are used, the damage reported, exit 0
    let o = train(d, SMALL, "r", &[]);
    assert_ok(&o);
    let p = d.join("r/health.jsonl");
    let t = std::fs::read_to_string(&p).unwrap();
    let lines = t.lines().count();
    std::fs::write(&p, &t[..t.len() - 30]).unwrap();
    let o = nabla(&["report", "r"], d);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("line {lines} is cut short")) && err.contains("health.jsonl"),
        "{err}"
    );
    let html = std::fs::read_to_string(d.join("r/report.html")).unwrap();
    assert!(html.contains(&format!("From {} gradient-health records", lines - 1)));
    assert!(html.contains("cut short"), "the report notes the damage");
    // a config.toml that no longer parses: the report is still made, noting it
    let cfg = d.join("r/config.toml");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, "[train\n").unwrap();
    let o = nabla(&["report", "r", "--stdout"], d);
    assert_ok(&o);
    assert!(text(&o).1.contains("config.toml"), "{}", text(&o).1);
    std::fs::write(&cfg, good).unwrap();
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs `nabla args` in `cwd` as a user who cannot write there: this user when not root,
/// else `nobody` (uid 65534, through util-linux's `setpriv`) with a copy of the binary it
/// can run.
fn nabla_unprivileged(args: &[&str], cwd: &Path, bin_dir: &Path) -> Output {
    if !is_root() {
        return nabla(args, cwd);
    }
    let bin = bin_dir.join("nabla");
    if !bin.exists() && std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args(args)
        .current_dir(cwd)
        .env_remove("NABLA_DATA")
        .output()
        .expect("setpriv runs (util-linux)")
}

#[test]
fn a_read_only_run_folder_is_left_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    let d = dir.path();
    assert_ok(&train(d, SMALL, "r", &[]));
    let run = d.join("r");
    std::fs::remove_file(run.join("report.html")).unwrap();
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&run, 0o555);
    let bin_dir = d.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    set(&bin_dir, 0o755);
    set(d, 0o755);
    let before = snapshot(&run);
    let o = nabla_unprivileged(&["report", "r"], d, &bin_dir);
    assert_bad(&o, "-o FILE");
    assert!(text(&o).1.contains("--stdout"), "{}", text(&o).1);
    // stdout instead: the report, and the folder as it was
    let o = nabla_unprivileged(&["report", "r", "--stdout"], d, &bin_dir);
    assert_ok(&o);
    assert!(text(&o).0.starts_with("<!DOCTYPE html>"));
    assert!(text(&o).0.contains("<section id=\"health\">"));
    assert_eq!(snapshot(&run), before, "the read-only run folder changed");
    set(&run, 0o755);
}

#[test]
fn tensorboard_event_files_hold_scalars_and_histograms() {
    let dir = tmp();
    let d = dir.path();
    let o = train(d, SMALL, "r", &["--tensorboard"]);
    assert_ok(&o);
    let files = event_files(&d.join("r"));
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");
    let events = read_events(&files[0]).unwrap();
    assert_eq!(
        events[0].what,
        Some(proto::What::FileVersion("brain.Event:2".into()))
    );
    let mut scalars: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    let mut hists: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events[1..] {
        let Some(proto::What::Summary(s)) = &e.what else {
            panic!("not a summary: {e:?}")
        };
        for v in &s.value {
            match &v.value {
                Some(proto::Value::SimpleValue(x)) => {
                    scalars.entry(v.tag.clone()).or_default().push((e.step, *x))
                }
                Some(proto::Value::Histo(h)) => {
                    assert!(h.num > 0.0 && h.bucket.iter().sum::<f64>() == h.num);
                    *hists.entry(v.tag.clone()).or_default() += 1;
                }
                None => panic!("empty value {}", v.tag),
            }
        }
    }
    // the epochs' scalars agree with metrics.jsonl; 2 epochs of 41 steps
    let metrics = std::fs::read_to_string(d.join("r/metrics.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let loss = &scalars["loss/train"];
    assert_eq!(loss.len(), 2);
    for (row, (step, v)) in rows.iter().zip(loss) {
        assert_eq!(*step, row["step"].as_i64().unwrap());
        assert_eq!(*v, row["train_loss"].as_f64().unwrap() as f32);
    }
    for tag in ["loss/val", "accuracy/train", "accuracy/val", "lr"] {
        assert_eq!(scalars[tag].len(), 2, "{tag}");
    }
    // health steps 1, 5, 10, ..., 80 (82 steps): global and per-layer norms, histograms
    let health = std::fs::read_to_string(d.join("r/health.jsonl")).unwrap();
    let n = health.lines().count();
    assert_eq!(scalars["grad_norm/global"].len(), n);
    assert_eq!(scalars["grad_norm/0.weight"][0].0, 1);
    for tag in [
        "grad_norm/2.bias",
        "update_ratio/0.weight",
        "dead_fraction/1 (ReLU)",
    ] {
        assert_eq!(scalars[tag].len(), n, "{tag}");
    }
    for tag in [
        "weights/0.weight",
        "grads/0.weight",
        "weights/2.bias",
        "grads/2.bias",
    ] {
        assert_eq!(hists[tag], n, "{tag}");
    }
    // the TOML key does the same; a wrong type is refused naming it
    let o = train(
        d,
        &SMALL.replace("[train]", "[train]\ntensorboard = true"),
        "r2",
        &[],
    );
    assert_ok(&o);
    assert_eq!(event_files(&d.join("r2")).len(), 1);
    std::fs::write(
        d.join("bad.toml"),
        SMALL.replace("[train]", "[train]\ntensorboard = \"yes\""),
    )
    .unwrap();
    let o = nabla(&["train", "bad.toml", "--out", "never"], d);
    assert_bad(&o, "train.tensorboard");
    assert!(!d.join("never").exists());
    // without it: no event file
    let o = train(d, SMALL, "r3", &[]);
    assert!(o.status.success());
    assert!(event_files(&d.join("r3")).is_empty());
}
