//! `nabla export` with the real binary: a trained run written as ONNX, what it says, and
//! its bad input (one line, exit 2, nothing written). ONNX Runtime's verdict on the files
//! is in nabla-experiment's `tests/onnx.rs`.

mod common;
use common::{assert_bad, lm_text, nabla, ok, text, tmp_with};

/// A small, fast config on the bundled digits.
const SMALL: &str = include_str!("fixtures/digits-mlp-sgd.toml");

#[test]
fn a_run_exports_and_bad_input_writes_nothing() {
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    ok(&nabla(
        &["train", "c.toml", "--out", "a", "--epochs", "1", "--plain"],
        d,
    ));
    let o = nabla(&["export", "a", "--onnx", "a.onnx"], d);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("loaded") && err.contains("model.safetensors"),
        "{err}"
    );
    assert!(
        out.contains("opset 18")
            && out.contains("input [batch, 64]")
            && out.contains("output [batch, 10]"),
        "{out}"
    );
    let bytes = std::fs::read(d.join("a.onnx")).unwrap();
    assert!(bytes.len() > 4 * 64 * 10, "{} bytes", bytes.len());
    // older opsets are written too
    for opset in ["17", "13"] {
        ok(&nabla(
            &["export", "a", "--onnx", "b.onnx", "--opset", opset],
            d,
        ));
    }

    // an opset out of range, a folder that does not exist, a folder as the file
    assert_bad(
        &nabla(&["export", "a", "--onnx", "c.onnx", "--opset", "12"], d),
        "--opset",
    );
    assert_bad(
        &nabla(&["export", "a", "--onnx", "no/c.onnx"], d),
        "no such folder",
    );
    assert_bad(&nabla(&["export", "a", "--onnx", "a"], d), "is a folder");
    // a run folder without a checkpoint
    std::fs::create_dir(d.join("empty")).unwrap();
    std::fs::copy(d.join("a/config.toml"), d.join("empty/config.toml")).unwrap();
    let before = std::fs::read_dir(d).unwrap().count();
    assert_bad(
        &nabla(&["export", "empty", "--onnx", "c.onnx"], d),
        "checkpoint",
    );
    assert_eq!(
        std::fs::read_dir(d).unwrap().count(),
        before,
        "something was written"
    );
    assert!(!d.join("c.onnx").exists());
}

#[test]
fn text_models_export_with_their_vocabulary_and_a_layer_without_an_onnx_form_is_named() {
    let cfg = r#"[data]
dataset = "text"
path = "t.txt"
seq_len = 8
[model]
layers = [
  { type = "embedding", dim = 8 },
  { type = "lstm", hidden = 8 },
  { type = "linear", out = 12 },
]
[train]
epochs = 1
batch_size = 16
"#;
    let dir = tmp_with("lm.toml", cfg);
    let d = dir.path();
    std::fs::write(d.join("t.txt"), lm_text()).unwrap();
    ok(&nabla(&["train", "lm.toml", "--out", "lm", "--plain"], d));
    let out = ok(&nabla(&["export", "lm", "--onnx", "lm.onnx"], d));
    assert!(
        out.contains("input [batch, sequence]") && out.contains("lm.vocab.json"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(d.join("lm.vocab.json")).unwrap(),
        std::fs::read(d.join("lm/vocab.json")).unwrap()
    );
    // the same from the config and the checkpoint: the vocabulary comes from the text
    let o = nabla(&["export", "lm", "--onnx", "lm2.onnx"], d);
    let ck = loaded(&o);
    ok(&nabla(
        &[
            "export",
            "--config",
            "lm.toml",
            "--checkpoint",
            &ck,
            "--onnx",
            "lm3.onnx",
        ],
        d,
    ));
    assert!(
        std::fs::read(d.join("lm2.onnx")).unwrap() == std::fs::read(d.join("lm3.onnx")).unwrap()
    );
    assert_eq!(
        std::fs::read(d.join("lm3.vocab.json")).unwrap(),
        std::fs::read(d.join("lm/vocab.json")).unwrap()
    );
    let gpt = cfg.replace(
        r#"{ type = "lstm", hidden = 8 },"#,
        r#"{ type = "positional_embedding", max_len = 8 },
  { type = "transformer", layers = 1, heads = 2, dim_feedforward = 16, causal = true },"#,
    );
    std::fs::write(d.join("gpt.toml"), gpt).unwrap();
    ok(&nabla(&["train", "gpt.toml", "--out", "gpt", "--plain"], d));
    let out = ok(&nabla(&["export", "gpt", "--onnx", "gpt.onnx"], d));
    assert!(out.contains("output [batch, sequence, 12]"), "{out}");
    // adaptive pooling whose windows overlap unevenly has no ONNX form
    let pool = r#"[data]
dataset = "digits"
[model]
input_shape = [1, 8, 8]
layers = [
  { type = "adaptive_avg_pool2d", output_size = 3 },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
[train]
epochs = 1
"#;
    std::fs::write(d.join("pool.toml"), pool).unwrap();
    ok(&nabla(
        &["train", "pool.toml", "--out", "pool", "--plain"],
        d,
    ));
    assert_bad(
        &nabla(&["export", "pool", "--onnx", "pool.onnx"], d),
        "model.layers[0] (adaptive_avg_pool2d)",
    );
    assert!(!d.join("pool.onnx").exists());
}

/// The checkpoint file `nabla export` said it loaded.
fn loaded(o: &std::process::Output) -> String {
    let (_, err) = text(o);
    let line = err
        .lines()
        .find(|l| l.contains("loaded"))
        .expect("a loaded line");
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn a_config_and_a_checkpoint_export_what_the_run_folder_exports() {
    // diabetes: a standardized regression, whose standardizer is refitted from the config
    let cfg = "[data]\ndataset = \"diabetes\"\n[model]\nlayers = [{ type = \"linear\", out = 8 }, \
               { type = \"tanh\" }, { type = \"linear\", out = 1 }]\n[train]\nepochs = 1\n";
    let dir = tmp_with("diab.toml", cfg);
    let d = dir.path();
    ok(&nabla(&["train", "diab.toml", "--out", "r", "--plain"], d));
    let o = nabla(&["export", "r", "--onnx", "a.onnx"], d);
    let ck = loaded(&o);
    let out = ok(&nabla(
        &[
            "export",
            "--config",
            "diab.toml",
            "--checkpoint",
            &ck,
            "--onnx",
            "b.onnx",
        ],
        d,
    ));
    assert!(out.contains("output [batch, 1]"), "{out}");
    let (a, b) = (
        std::fs::read(d.join("a.onnx")).unwrap(),
        std::fs::read(d.join("b.onnx")).unwrap(),
    );
    assert!(a == b, "the config's export differs from the run's");

    // bad input: one line, exit 2, nothing written
    let before = std::fs::read_dir(d).unwrap().count();
    let bad: [(&[&str], &str); 5] = [
        (
            &["export", "--config", "diab.toml", "--onnx", "c.onnx"],
            "--checkpoint",
        ),
        (&["export", "--onnx", "c.onnx"], "RUN_DIR"),
        (
            &[
                "export",
                "r",
                "--config",
                "diab.toml",
                "--checkpoint",
                &ck,
                "--onnx",
                "c.onnx",
            ],
            "--config",
        ),
        (
            &["export", "r", "--data", "x", "--onnx", "c.onnx"],
            "--config",
        ),
        (
            &[
                "export",
                "--config",
                "no.toml",
                "--checkpoint",
                &ck,
                "--onnx",
                "c.onnx",
            ],
            "no.toml",
        ),
    ];
    for (args, words) in bad {
        assert_bad(&nabla(args, d), words);
    }
    // weights of another model
    let wide = cfg.replace("out = 8", "out = 9");
    std::fs::write(d.join("wide.toml"), wide).unwrap();
    assert_bad(
        &nabla(
            &[
                "export",
                "--config",
                "wide.toml",
                "--checkpoint",
                &ck,
                "--onnx",
                "c.onnx",
            ],
            d,
        ),
        "0.weight",
    );
    assert_eq!(
        std::fs::read_dir(d).unwrap().count(),
        before + 1,
        "only wide.toml"
    );
    assert!(!d.join("c.onnx").exists());
}
