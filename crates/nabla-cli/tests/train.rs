//! End-to-end tests of `nabla train`, `eval`, `predict`, `summary`, `gradcheck` with the real
//! binary: results, exact resume, and every kind of bad input (one line, exit 2, nothing lost).

use nabla::train::checkpoint::list_checkpoints;
use std::path::{Path, PathBuf};

mod common;
use common::{
    assert_bad, assert_ok, kill_and_resume_equals, lm_text, nabla, newest_weights, ok, text, tmp,
    tmp_with,
};

/// A small, fast config on the bundled digits.
const SMALL: &str = include_str!("fixtures/digits-mlp-sgd.toml");

#[test]
fn default_train_reaches_97_percent_and_writes_everything() {
    let dir = tmp();
    let d = dir.path();
    let o = nabla(&["train", "--out", "run"], d);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("test_accuracy="), "{last}");
    let acc: f64 = last.split(['=', ' ']).nth(1).unwrap().parse().unwrap();
    assert!(acc >= 0.97, "{last}");
    let run = d.join("run");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "loss.svg",
        "loss.png",
        "accuracy.svg",
        "accuracy.png",
    ] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 30);
    let row: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for k in [
        "epoch",
        "step",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ] {
        assert!(row.get(k).is_some(), "metrics row lacks {k}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    for k in [
        "test_accuracy",
        "test_loss",
        "epochs",
        "train_seconds",
        "parameters",
        "samples_per_second",
    ] {
        assert!(s.get(k).is_some(), "summary lacks {k}");
    }
    assert_eq!(s["parameters"], 64 * 128 + 128 + 128 * 10 + 10);
    // eval reproduces the test numbers from the checkpoint
    let e = nabla(&["eval", "run"], d);
    assert_ok(&e);
    let eval_out = text(&e).0;
    assert_eq!(eval_out.lines().last().unwrap(), last);
    assert!(
        eval_out.contains("precision") && eval_out.contains("recall"),
        "{eval_out}"
    );
    // predict: a CSV row of 64 pixel values
    std::fs::write(d.join("x.csv"), vec!["0.5"; 64].join(",") + "\n").unwrap();
    let p = nabla(&["predict", "run", "x.csv"], d);
    assert_ok(&p);
    assert!(text(&p).0.contains("x.csv:1: class"), "{}", text(&p).0);
    // predict: an 8x8 grayscale PNG (the digits' image size)
    let png_path = d.join("digit.png");
    {
        let f = std::fs::File::create(&png_path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(f), 8, 8);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let px: Vec<u8> = (0..64)
            .map(|i| if (i % 8) == 3 || (i % 8) == 4 { 255 } else { 0 })
            .collect();
        w.write_image_data(&px).unwrap();
    }
    let p = nabla(&["predict", "run", "digit.png"], d);
    assert_ok(&p);
    assert!(text(&p).0.contains("digit.png: class"), "{}", text(&p).0);
    // a PNG of the wrong size and a file that is not a PNG
    std::fs::write(d.join("bad.png"), b"not a png").unwrap();
    assert_bad(&nabla(&["predict", "run", "bad.png"], d), "bad.png");
}

#[test]
fn resume_is_bitwise_identical() {
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    // (a) 2 epochs straight
    let a = nabla(&["train", "c.toml", "--out", "a", "--plain"], d);
    assert_ok(&a);
    // (b) 1 epoch, stop, resume for 1 more
    let b1 = nabla(
        &["train", "c.toml", "--out", "b", "--epochs", "1", "--plain"],
        d,
    );
    assert_ok(&b1);
    let b2 = nabla(&["train", "--resume", "b", "--epochs", "2", "--plain"], d);
    assert_ok(&b2);
    assert!(text(&b2).0.contains("resuming"), "{}", text(&b2).0);
    assert_eq!(
        newest_weights(&d.join("a")),
        newest_weights(&d.join("b")),
        "1+1 epochs differ from 2"
    );
    assert_eq!(text(&a).0.lines().last(), text(&b2).0.lines().last());
    // (c) killed with SIGKILL in the middle of an epoch, then resumed
    // (checkpoints every 7 steps; an epoch has 41 steps)
    kill_and_resume_equals(
        d,
        &["c.toml", "--epochs", "40"],
        &["--epochs", "2"],
        "a",
        14,
        82,
    );
}

/// A small CNN on the digits as 1×8×8 images.
const CNN: &str = include_str!("fixtures/digits-cnn.toml");

fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    let n = (w * h) as usize * color.samples();
    wr.write_image_data(&(0..n).map(|i| (i * 37 % 256) as u8).collect::<Vec<_>>())
        .unwrap();
}

#[test]
fn cnn_train_resume_predict_summary_gradcheck() {
    let dir = tmp_with("cnn.toml", CNN);
    let d = dir.path();
    let o = nabla(&["summary", "cnn.toml"], d);
    let out = text(&o).0;
    assert!(
        o.status.success() && out.contains("[None, 4, 6, 6]") && out.contains("[None, 4, 3, 3]"),
        "{out}"
    );
    let g = nabla(&["gradcheck", "cnn.toml"], d);
    assert!(
        g.status.success() && text(&g).0.contains("gradcheck passed"),
        "{}",
        text(&g).0
    );
    let a = nabla(&["train", "cnn.toml", "--out", "a", "--plain"], d);
    assert_ok(&a);
    let acc: f64 = text(&a)
        .0
        .lines()
        .last()
        .unwrap()
        .split(['=', ' '])
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(acc > 0.8, "{}", text(&a).0);
    // killed mid-epoch and resumed: bitwise the same (an epoch has 41 steps)
    kill_and_resume_equals(
        d,
        &["cnn.toml", "--epochs", "40"],
        &["--epochs", "2"],
        "a",
        14,
        82,
    );
    // predict an 8x8 grayscale PNG; a PNG of another size is one line, exit 2
    write_png(&d.join("ok.png"), 8, 8, png::ColorType::Grayscale);
    let p = nabla(&["predict", "a", "ok.png"], d);
    assert!(
        p.status.success() && text(&p).0.contains("ok.png: class"),
        "{}",
        text(&p).1
    );
    write_png(&d.join("big.png"), 28, 28, png::ColorType::Grayscale);
    assert_bad(&nabla(&["predict", "a", "big.png"], d), "28x28");
    // a checkpoint whose conv weight has another shape
    let cfg = std::fs::read_to_string(d.join("a/config.toml")).unwrap();
    std::fs::create_dir_all(d.join("other")).unwrap();
    std::fs::write(
        d.join("other/config.toml"),
        cfg.replacen("out = 4", "out = 5", 1),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("other/checkpoints")).unwrap();
    let src = list_checkpoints(&d.join("a")).pop().unwrap();
    let dst = d.join("other/checkpoints").join(src.file_name().unwrap());
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("model.safetensors"), dst.join("model.safetensors")).unwrap();
    assert_bad(&nabla(&["eval", "other"], d), "0.weight");
}

#[test]
fn summary_and_gradcheck() {
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    let o = nabla(&["summary", "c.toml"], d);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(
        out.contains("Linear") && out.contains("[None, 32]") && out.contains("2080"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Total params: {}", 64 * 32 + 32 + 32 * 10 + 10)),
        "{out}"
    );
    let out = ok(&nabla(&["gradcheck", "c.toml"], d));
    assert!(
        out.contains("0.weight") && out.contains("3.bias") && out.contains("gradcheck passed"),
        "{out}"
    );
}

/// The step checkpoints a run keeps: the newest two by default, the newest N, or all; `best`
/// is kept apart in every case.
#[test]
fn keep_checkpoints_chooses_what_is_kept() {
    let dir = tmp();
    let d = dir.path();
    // the digits' 1294 training rows in batches of 32: 41 steps an epoch; a checkpoint every 7
    // steps (7, 14, .., 77) and at each epoch's end (41, 82): 13 in 2 epochs
    for (keep, expected) in [
        ("", 2),
        ("keep_checkpoints = 3\n", 3),
        ("keep_checkpoints = \"all\"\n", 13),
    ] {
        std::fs::write(
            d.join("k.toml"),
            format!("{SMALL}{keep}progress = \"quiet\"\n"),
        )
        .unwrap();
        let run = d.join(format!("run{expected}"));
        let o = nabla(&["train", "k.toml", "--out", run.to_str().unwrap()], d);
        assert!(o.status.success(), "{:?}", text(&o));
        assert_eq!(list_checkpoints(&run).len(), expected, "{keep}");
        assert!(run.join("checkpoints/best/model.safetensors").exists());
        let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert_eq!(
            saved.contains("keep_checkpoints"),
            !keep.is_empty(),
            "{saved}"
        );
    }
}

#[test]
fn bad_configs_are_one_line_exit_2() {
    let dir = tmp();
    let d = dir.path();
    let cases: &[(&str, &str, &str)] = &[
        ("syntax.toml", "[train\nepochs = 2\n", "line 1"),
        ("type.toml", "[train]\nepochs = \"two\"\n", "train.epochs"),
        ("unknown_key.toml", "[train]\nepochs = 2\nlearning_rate = 3\n", "learning_rate"),
        ("layer.toml", "[model]\nlayers = [{ type = \"conv9\" }]\n", "conv9"),
        ("sizes.toml", "[model]\ninput_shape = [64]\nlayers = [{ type = \"linear\", out = 32 }, { type = \"linear\", in = 30, out = 10 }]\n", "model.layers[1] (linear)"),
        ("classes.toml", "[model]\ninput_shape = [64]\nlayers = [{ type = \"linear\", out = 7 }]\n", "10 classes"),
        ("shape.toml", "[model]\ninput_shape = [63]\nlayers = [{ type = \"linear\", out = 10 }]\n", "model.input_shape"),
        ("mnist.toml", "[data]\ndataset = \"mnist\"\npath = \"/nonexistent/data\"\n[model]\nlayers = [{ type = \"linear\", out = 10 }]\n", "data folder /nonexistent/data: no such folder"),
        ("smoothing.toml", "[model]\nlayers = [{ type = \"linear\", out = 10 }]\n[train]\nloss = \"nll\"\nlabel_smoothing = 0.1\n", "train.label_smoothing"),
        ("huge.toml", "[model]\ninput_shape = [64]\nlayers = [{ type = \"linear\", out = 100000 }, { type = \"linear\", out = 100000000 }]\n", "model.layers[1] (linear)"),
        ("overflow.toml", "[model]\ninput_shape = [4294967296, 4294967296, 4]\nlayers = [{ type = \"linear\", out = 10 }]\n", "model.input_shape"),
        ("reg_metric.toml", "[data]\ndataset = \"diabetes\"\n[model]\nlayers = [{ type = \"linear\", out = 1 }]\n[train]\nloss = \"mse\"\nmetrics = [\"accuracy\"]\n", "train.metrics"),
        ("reg_loss.toml", "[data]\ndataset = \"diabetes\"\n[model]\nlayers = [{ type = \"linear\", out = 1 }]\n[train]\nloss = \"cross_entropy\"\n", "train.loss"),
        ("keep0.toml", "[train]\nkeep_checkpoints = 0\n", "checkpoints >= 1, or \"all\", got 0"),
        ("keep_neg.toml", "[train]\nkeep_checkpoints = -2\n", "train.keep_checkpoints"),
        ("keep_word.toml", "[train]\nkeep_checkpoints = \"every\"\n", "or \"all\", got \"every\""),
        ("keep_float.toml", "[train]\nkeep_checkpoints = 1.5\n", "train.keep_checkpoints"),
    ];
    for (file, body, needle) in cases {
        std::fs::write(d.join(file), body).unwrap();
        let o = nabla(&["train", file, "--out", "never"], d);
        assert_bad(&o, needle);
        assert!(
            !d.join("never").exists(),
            "{file}: an output folder was created"
        );
    }
    assert_bad(&nabla(&["train", "missing.toml"], d), "missing.toml");
    assert_bad(&nabla(&["train", "--resume", "nope"], d), "nope");
    // a resumed run keeps its seed (and so its splits) and its folder
    assert_bad(
        &nabla(&["train", "--resume", "nope", "--seed", "3"], d),
        "--seed",
    );
    assert_bad(
        &nabla(&["train", "--resume", "nope", "--out", "x"], d),
        "--out",
    );
    assert_bad(&nabla(&["eval", "nope"], d), "nope");
    assert_bad(&nabla(&["train", "--epochs", "x"], d), "--epochs");
}

#[test]
fn bad_checkpoints_and_outputs() {
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    let o = nabla(
        &["train", "c.toml", "--out", "r", "--epochs", "1", "--plain"],
        d,
    );
    assert_ok(&o);
    // training again into the same folder would overwrite it
    assert_bad(
        &nabla(&["train", "c.toml", "--out", "r"], d),
        "already holds a run",
    );
    let ck = |run: &str| -> PathBuf { list_checkpoints(&d.join(run)).pop().unwrap() };
    // a truncated checkpoint: every checkpoint of a copy is damaged
    let copy = |name: &str| {
        let dst = d.join(name);
        std::fs::create_dir_all(dst.join("checkpoints")).unwrap();
        std::fs::copy(d.join("r/config.toml"), dst.join("config.toml")).unwrap();
        let src = ck("r");
        let to = dst.join("checkpoints").join(src.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for f in ["model.safetensors", "optim.safetensors", "state.json"] {
            std::fs::copy(src.join(f), to.join(f)).unwrap();
        }
        to
    };
    let t = copy("trunc");
    let bytes = std::fs::read(t.join("model.safetensors")).unwrap();
    std::fs::write(t.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    assert_bad(&nabla(&["eval", "trunc"], d), "model.safetensors");
    assert_bad(
        &nabla(&["train", "--resume", "trunc"], d),
        "model.safetensors",
    );
    let c = copy("corrupt");
    std::fs::write(c.join("state.json"), b"{ not json").unwrap();
    // eval needs only the weights; resuming needs the state and says which file is bad
    let e = nabla(&["eval", "corrupt"], d);
    assert_ok(&e);
    assert_bad(&nabla(&["train", "--resume", "corrupt"], d), "state.json");
    // a checkpoint of another model: the config now has 16 hidden units
    let m = copy("other");
    let cfg = std::fs::read_to_string(d.join("other/config.toml"))
        .unwrap()
        .replace("out = 32", "out = 16");
    std::fs::write(d.join("other/config.toml"), cfg).unwrap();
    let _ = m;
    assert_bad(&nabla(&["eval", "other"], d), "does not fit this model");
    // an output folder that cannot be written
    std::fs::write(d.join("file"), b"x").unwrap();
    assert_bad(
        &nabla(&["train", "c.toml", "--out", "file/sub"], d),
        "file/sub",
    );
    // a learning rate so large the loss becomes NaN
    // (health_every = 0: the monitor's diagnosis would be a warning line before the error)
    std::fs::write(
        d.join("nan.toml"),
        SMALL
            .replace("lr = 0.05", "lr = 1e30")
            .replace("[train]", "[train]\nhealth_every = 0"),
    )
    .unwrap();
    let o = nabla(&["train", "nan.toml", "--out", "nan", "--plain"], d);
    assert_bad(&o, "non-finite");
    assert!(text(&o).1.contains("epoch 1"), "{}", text(&o).1);
    assert!(text(&o).1.contains("--detect-anomaly"), "{}", text(&o).1);
    // anomaly mode names the op and the layer that made the first NaN or infinity
    let o = nabla(
        &[
            "train",
            "nan.toml",
            "--out",
            "nan2",
            "--plain",
            "--detect-anomaly",
        ],
        d,
    );
    assert_bad(&o, "anomaly:");
    let err = text(&o).1;
    assert!(err.contains("(Linear)") && err.contains("pass"), "{err}");
}

#[test]
fn csv_tabular_train_predict_and_bad_files() {
    let dir = tmp();
    let d = dir.path();
    // two well separated classes in 3 features, with a header and a named label column
    let mut csv = String::from("a,b,label,c\n");
    let mut r = 1u64;
    for i in 0..200 {
        let mut next = || {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((r >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let k = i % 2;
        let off = if k == 0 { -3.0 } else { 3.0 };
        csv.push_str(&format!(
            "{},{},{k},{}\n",
            10.0 + off + next(),
            100.0 - off + next(),
            off * 2.0 + next()
        ));
    }
    std::fs::write(d.join("data.csv"), csv).unwrap();
    let cfg = include_str!("fixtures/csv-two-classes.toml");
    std::fs::write(d.join("c.toml"), cfg).unwrap();
    let o = nabla(&["train", "c.toml", "--out", "run", "--plain"], d);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("test_accuracy=1.0000"),
        "{out}"
    );
    assert!(d.join("run/standardizer.json").exists());
    // raw (unstandardized) rows: the saved standardizer is applied
    std::fs::write(d.join("rows.csv"), "7.0,103.0,-6.0\n13.0,97.0,6.0\n").unwrap();
    let p = nabla(&["predict", "run", "rows.csv"], d);
    let (out, err) = text(&p);
    assert!(p.status.success(), "{err}");
    assert!(
        out.contains("rows.csv:1: class 0") && out.contains("rows.csv:2: class 1"),
        "{out}"
    );
    // the training file itself (header and label column) and rows cut from it
    let p = nabla(&["predict", "run", "data.csv"], d);
    let (out, err) = text(&p);
    assert!(p.status.success(), "{err}");
    assert_eq!(out.lines().count(), 200, "{out}");
    assert!(
        out.starts_with("data.csv:1: class 0") && out.contains("data.csv:2: class 1"),
        "{out}"
    );
    let cut: String = std::fs::read_to_string(d.join("data.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("cut.csv"), cut).unwrap();
    let p = nabla(&["predict", "run", "cut.csv"], d);
    assert_ok(&p);
    assert!(text(&p).0.contains("cut.csv:3: class 0"), "{}", text(&p).0);
    std::fs::write(d.join("wide.csv"), "1,2,3,4,5\n").unwrap();
    assert_bad(&nabla(&["predict", "run", "wide.csv"], d), "wide.csv");
    // ragged rows and non-numbers name the row
    std::fs::write(d.join("data.csv"), "a,b,label,c\n1,2,0,3\n1,2,1\n").unwrap();
    assert_bad(&nabla(&["train", "c.toml", "--out", "r2"], d), "data.csv");
    std::fs::write(d.join("data.csv"), "a,b,label,c\n1,2,0,3\n1,x,1,4\n").unwrap();
    assert_bad(&nabla(&["train", "c.toml", "--out", "r3"], d), "data.csv");
    assert!(!d.join("r2").exists() && !d.join("r3").exists());
}

#[test]
fn regression_train_eval_predict_and_bad_targets() {
    let dir = tmp();
    let d = dir.path();
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/diabetes-mlp.toml"
    );
    let o = nabla(&["train", cfg, "--epochs", "5", "--out", "run"], d);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("test_r2=") && last.contains("test_mae=") && last.contains("test_loss="),
        "{last}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/summary.json")).unwrap())
            .unwrap();
    for k in ["test_r2", "test_mae", "test_rmse", "test_loss"] {
        assert!(s[k].is_f64(), "summary lacks {k}: {s}");
    }
    assert!(s.get("test_accuracy").is_none(), "{s}");
    // eval gives the same numbers from the checkpoint, with no data folder (bundled)
    let e = nabla(&["eval", "run"], d);
    assert_ok(&e);
    let first_three = |l: &str| l.split(' ').take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(
        first_three(text(&e).0.lines().last().unwrap()),
        first_three(last)
    );
    // predict prints a value per row (features are standardized with the saved statistics)
    std::fs::write(
        d.join("rows.csv"),
        "59,2,32.1,101,157,93.2,38,4,4.8598,87\n",
    )
    .unwrap();
    let p = nabla(&["predict", "run", "rows.csv"], d);
    assert_ok(&p);
    let v: f64 = text(&p)
        .0
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(v.is_finite(), "{}", text(&p).0);
    // a regression CSV whose target is not a number: one line naming the row, exit 2
    std::fs::write(
        d.join("t.csv"),
        "a,b,y\n1,2,3.5\n2,3,n/a\n3,4,1.0\n4,5,2.0\n",
    )
    .unwrap();
    std::fs::write(
        d.join("t.toml"),
        "[data]\ndataset = \"csv\"\npath = \"t.csv\"\ntask = \"regression\"\n[model]\nlayers = [{ type = \"linear\", out = 1 }]\n[train]\nloss = \"l1\"\n",
    )
    .unwrap();
    assert_bad(&nabla(&["train", "t.toml", "--out", "never"], d), "line 3");
    assert!(!d.join("never").exists());
}

#[test]
fn eval_and_predict_say_which_checkpoint_they_loaded() {
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    assert_ok(&nabla(&["train", "c.toml", "--out", "r", "--plain"], d));
    let cks = list_checkpoints(&d.join("r"));
    assert!(cks.len() >= 2, "{cks:?}");
    let (newest, previous) = (&cks[cks.len() - 1], &cks[cks.len() - 2]);
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    // the newest, named on stderr
    let e = nabla(&["eval", "r"], d);
    assert_ok(&e);
    let err = text(&e).1;
    assert!(
        err.contains("loaded") && err.contains(&name(newest)),
        "{err}"
    );
    let good_line = text(&e).0.lines().last().unwrap().to_string();
    // damage the newest: eval says so (file and reason) and which one it used instead
    let w = newest.join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 3]).unwrap();
    let e = nabla(&["eval", "r"], d);
    assert_ok(&e);
    let err = text(&e).1;
    assert!(
        err.contains("damaged") && err.contains(&name(newest)) && err.contains("model.safetensors"),
        "{err}"
    );
    assert!(
        err.lines().last().unwrap().contains(&name(previous)),
        "{err}"
    );
    std::fs::write(d.join("x.csv"), vec!["0.5"; 64].join(",") + "\n").unwrap();
    let p = nabla(&["predict", "r", "x.csv"], d);
    assert_ok(&p);
    assert!(text(&p).1.contains("damaged"), "{}", text(&p).1);
    // --checkpoint picks one explicitly: a folder, or the weights file itself
    let e = nabla(
        &["eval", "r", "--checkpoint", previous.to_str().unwrap()],
        d,
    );
    assert_ok(&e);
    assert!(!text(&e).1.contains("damaged"), "{}", text(&e).1);
    let f = previous.join("model.safetensors");
    let e = nabla(&["eval", "r", "--checkpoint", f.to_str().unwrap()], d);
    assert_ok(&e);
    assert_bad(
        &nabla(&["eval", "r", "--checkpoint", w.to_str().unwrap()], d),
        "model.safetensors",
    );
    assert_bad(
        &nabla(&["eval", "r", "--checkpoint", "nowhere"], d),
        "nowhere",
    );
    // a folder holding only model.safetensors (as PyTorch could write it) is a checkpoint
    let only = d.join("only");
    std::fs::create_dir_all(&only).unwrap();
    std::fs::copy(&f, only.join("model.safetensors")).unwrap();
    let e = nabla(&["eval", "r", "--checkpoint", "only"], d);
    assert_ok(&e);
    let run2 = d.join("r2/checkpoints/ckpt-0000000001");
    std::fs::create_dir_all(&run2).unwrap();
    std::fs::copy(d.join("r/config.toml"), d.join("r2/config.toml")).unwrap();
    std::fs::copy(&f, run2.join("model.safetensors")).unwrap();
    let e = nabla(&["eval", "r2"], d);
    assert_ok(&e);
    assert!(text(&e)
        .0
        .lines()
        .last()
        .unwrap()
        .starts_with("test_accuracy="));
    assert!(good_line.starts_with("test_accuracy="), "{good_line}");
    // resuming it needs the optimizer and loader state: one line naming what is missing
    assert_bad(&nabla(&["train", "--resume", "r2"], d), "state.json");
}

#[test]
fn thread_counts_far_beyond_the_cores_are_refused() {
    let dir = tmp();
    let d = dir.path();
    let o = nabla(&["train", "--threads", "100000", "--out", "never"], d);
    assert_bad(&o, "--threads 100000");
    assert!(!d.join("never").exists());
    assert_bad(
        &nabla(&["bench", "W6", "--threads", "100000"], d),
        "--threads",
    );
}

/// A tiny character-level LSTM on a made-up text.
const LM: &str = include_str!("fixtures/char-lstm.toml");

#[test]
fn text_models_train_resume_sample_and_refuse_bad_input() {
    let dir = tmp();
    let d = dir.path();
    std::fs::write(d.join("t.txt"), lm_text()).unwrap();
    std::fs::write(d.join("lm.toml"), LM).unwrap();
    let a = nabla(&["train", "lm.toml", "--out", "a", "--plain"], d);
    let (out, err) = text(&a);
    assert!(a.status.success(), "{err}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("val_loss=") && last.contains(" val_bpc="),
        "{last}"
    );
    assert!(
        out.contains("train_bpc") && out.contains("val_bpc"),
        "{out}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("a/summary.json")).unwrap()).unwrap();
    let (vl, vb) = (
        s["val_loss"].as_f64().unwrap(),
        s["val_bpc"].as_f64().unwrap(),
    );
    assert!((vb - vl / std::f64::consts::LN_2).abs() < 1e-9, "{s}");
    assert!(d.join("a/vocab.json").exists());
    // killed mid-epoch (an epoch has 10 steps at batch 4) and resumed: bitwise the same
    kill_and_resume_equals(
        d,
        &["lm.toml", "--epochs", "40"],
        &["--epochs", "2"],
        "a",
        7,
        20,
    );
    // sampling: the prompt then N characters; the same seed gives the same text
    let s1 = nabla(
        &[
            "sample", "a", "--prompt", "abc", "--length", "30", "--seed", "5",
        ],
        d,
    );
    assert_ok(&s1);
    let t1 = text(&s1).0;
    assert!(
        t1.starts_with("abc") && t1.trim_end_matches('\n').chars().count() == 33,
        "{t1:?}"
    );
    let s2 = nabla(
        &[
            "sample", "a", "--prompt", "abc", "--length", "30", "--seed", "5",
        ],
        d,
    );
    assert_eq!(t1, text(&s2).0);
    let s3 = nabla(
        &[
            "sample",
            "a",
            "--length",
            "30",
            "--seed",
            "6",
            "--top-k",
            "3",
            "--temperature",
            "0.8",
        ],
        d,
    );
    assert_ok(&s3);
    // bad sampling input
    assert_bad(&nabla(&["sample", "a", "--prompt", "abz"], d), "'z'");
    assert_bad(
        &nabla(&["sample", "a", "--temperature", "0"], d),
        "--temperature",
    );
    assert_bad(
        &nabla(&["sample", "a", "--temperature", "-1"], d),
        "--temperature",
    );
    std::fs::write(d.join("c.toml"), SMALL).unwrap();
    let o = nabla(
        &[
            "train", "c.toml", "--out", "mlp", "--epochs", "1", "--plain",
        ],
        d,
    );
    assert_ok(&o);
    assert_bad(&nabla(&["sample", "mlp"], d), "not a text model");
    // a checkpoint whose LSTM weights have another shape
    let cfg = std::fs::read_to_string(d.join("a/config.toml")).unwrap();
    std::fs::create_dir_all(d.join("other/checkpoints/ckpt-0000000001")).unwrap();
    std::fs::write(
        d.join("other/config.toml"),
        cfg.replace("hidden = 16", "hidden = 12"),
    )
    .unwrap();
    std::fs::copy(d.join("a/vocab.json"), d.join("other/vocab.json")).unwrap();
    let src = list_checkpoints(&d.join("a")).pop().unwrap();
    std::fs::copy(
        src.join("model.safetensors"),
        d.join("other/checkpoints/ckpt-0000000001/model.safetensors"),
    )
    .unwrap();
    assert_bad(&nabla(&["sample", "other"], d), "weight_ih_l0");
    // bad text data and configs: one line, exit 2, nothing written
    let cases: &[(&str, &[u8], &str, &str)] = &[
        ("empty.txt", b"", "", "empty"),
        (
            "latin1.txt",
            b"caf\xe9 au lait, encore et encore",
            "",
            "UTF-8",
        ),
        ("short.txt", b"abcdefgh", "", "shorter"),
        ("t.txt", b"", "seq_len = 8", "seq_len = 0"),
        (
            "t.txt",
            b"",
            "{ type = \"lstm\", hidden = 16, num_layers = 2, dropout = 0.1 },",
            "{ type = \"flatten\" },\n  { type = \"lstm\", hidden = 16 },",
        ),
    ];
    for (i, (file, bytes, from, to)) in cases.iter().enumerate() {
        if !bytes.is_empty() || from.is_empty() {
            std::fs::write(d.join(file), bytes).unwrap();
        }
        let mut cfg = LM.replace("path = \"t.txt\"", &format!("path = \"{file}\""));
        if !from.is_empty() {
            cfg = cfg.replace(from, to);
        }
        let name = format!("bad{i}.toml");
        std::fs::write(d.join(&name), cfg).unwrap();
        let out = format!("never{i}");
        let o = nabla(&["train", &name, "--out", &out], d);
        let needle = match i {
            0 => "empty",
            1 => "UTF-8",
            2 => "short.txt",
            3 => "data.seq_len",
            // flattening mixes the positions a next-character model keeps apart
            _ => "model.layers[1] (flatten)",
        };
        assert_bad(&o, needle);
        assert!(
            !d.join(&out).exists(),
            "case {i}: an output folder was created"
        );
    }
}

#[test]
fn health_reports_and_its_bad_input() {
    let dir = tmp();
    let d = dir.path();
    std::fs::write(
        d.join("c.toml"),
        SMALL.replace("[train]", "[train]\nhealth_every = 10"),
    )
    .unwrap();
    let o = nabla(&["train", "c.toml", "--out", "r", "--plain"], d);
    assert_ok(&o);
    let out = ok(&nabla(&["health", "r"], d));
    assert!(
        out.contains("0.weight") && out.contains("grad_norm") && out.contains("update/weight"),
        "{out}"
    );
    assert!(
        out.contains("1 (ReLU)") && out.contains("dead") && out.contains("diagnoses"),
        "{out}"
    );
    // a health.jsonl cut mid-line: the complete lines are used, the damage reported, exit 0
    let p = d.join("r/health.jsonl");
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, &t[..t.len() - 30]).unwrap();
    let h = nabla(&["health", "r"], d);
    assert_ok(&h);
    assert!(text(&h).1.contains("cut short"), "{}", text(&h).1);
    // not a run; a run without health records
    std::fs::create_dir_all(d.join("empty")).unwrap();
    assert_bad(&nabla(&["health", "empty"], d), "not a nabla run");
    std::fs::remove_file(&p).unwrap();
    assert_bad(&nabla(&["health", "r"], d), "health.jsonl");
    // health_every must be a non-negative integer
    for bad in ["-1", "2.5", "\"often\""] {
        std::fs::write(
            d.join("h.toml"),
            SMALL.replace("[train]", &format!("[train]\nhealth_every = {bad}")),
        )
        .unwrap();
        assert_bad(
            &nabla(&["train", "h.toml", "--out", "never"], d),
            "train.health_every",
        );
    }
}

/// Started by mpirun (its environment) as one of several ranks, a build without the `mpi`
/// feature refuses instead of training K copies into the same folder.
#[cfg(not(feature = "mpi"))]
#[test]
fn several_ranks_without_the_mpi_feature_are_refused() {
    use common::BIN;
    use std::process::Command;
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    for (var, rank) in [
        ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
        ("PMI_SIZE", "PMI_RANK"),
    ] {
        let o = Command::new(BIN)
            .args(["train", "c.toml", "--out", "x"])
            .current_dir(d)
            .env(var, "2")
            .env(rank, "1")
            .output()
            .unwrap();
        assert_bad(&o, "built without MPI");
        assert_bad(&o, "--features mpi");
        assert_bad(&o, &format!("rank 1 of 2 ranks ({var}=2)"));
        assert!(!d.join("x").exists());
    }
    // nor does bench run K copies that compete for the cores
    let o = Command::new(BIN)
        .args(["bench", "W6"])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_bad(&o, "--features mpi");
    // one rank is one process: it trains
    let o = Command::new(BIN)
        .args(["train", "c.toml", "--out", "y", "--epochs", "1", "--plain"])
        .current_dir(d)
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(d.join("y/summary.json").exists());
}
