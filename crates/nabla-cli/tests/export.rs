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
    // an older opset is written too
    ok(&nabla(
        &["export", "a", "--onnx", "b.onnx", "--opset", "17"],
        d,
    ));

    // an opset out of range, a folder that does not exist, a folder as the file
    assert_bad(
        &nabla(&["export", "a", "--onnx", "c.onnx", "--opset", "16"], d),
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
