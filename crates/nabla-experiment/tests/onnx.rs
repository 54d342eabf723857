//! ONNX export, judged by ONNX Runtime: models built from layer configs with seeded weights
//! are exported, checked by `onnx.checker.check_model(full_check=True)` and run by ONNX
//! Runtime's CPU provider on the inputs nabla ran, at batch sizes 1 and 7; the outputs must
//! agree within rtol 1e-3, atol 1e-5 (`tests/onnx_check.py`). Needs Python with `onnx` and
//! `onnxruntime` (`NABLA_PYTHON`, else `python3`): skipped with a message when they are
//! absent, failed when `NABLA_REQUIRE_ONNXRUNTIME=1` (as CI sets it).

use nabla_core::{DType, Mt19937, Tensor};
use nabla_experiment::{build_model, ExperimentConfig};
use nabla_nn::{ForwardCtx, Module};
use nabla_onnx::{export, save, ExportOptions};
use std::path::Path;
use std::process::Command;

/// A Python with `onnx` and `onnxruntime`, or `None` (the test is skipped).
fn python() -> Option<String> {
    let py = std::env::var("NABLA_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import onnx, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var("NABLA_REQUIRE_ONNXRUNTIME").as_deref() != Ok("1"),
        "NABLA_REQUIRE_ONNXRUNTIME=1 but {py} cannot import onnx and onnxruntime"
    );
    eprintln!("skipped: {py} cannot import onnx and onnxruntime (set NABLA_PYTHON)");
    None
}

/// A config of `layers` over samples of `input_shape`.
fn config(input_shape: &str, layers: &str) -> ExperimentConfig {
    let text = format!("[model]\ninput_shape = {input_shape}\nlayers = [\n{layers}\n]\n");
    ExperimentConfig::from_toml_str(&text, "case.toml").unwrap()
}

struct Case {
    name: &'static str,
    input_shape: &'static str,
    layers: &'static str,
    opset: i64,
}

const CASES: &[Case] = &[
    Case {
        name: "mlp",
        input_shape: "[20]",
        layers: r#"{ type = "linear", out = 32 }, { type = "relu" }, { type = "dropout", p = 0.5 },
                   { type = "linear", out = 16 }, { type = "leaky_relu", negative_slope = 0.1 },
                   { type = "linear", out = 5 }"#,
        opset: 18,
    },
    Case {
        name: "mnist-cnn",
        input_shape: "[1, 28, 28]",
        layers: r#"{ type = "conv2d", out = 8, kernel_size = 3 }, { type = "relu" },
                   { type = "conv2d", out = 16, kernel_size = 3 }, { type = "relu" },
                   { type = "max_pool2d", kernel_size = 2 }, { type = "dropout2d", p = 0.25 },
                   { type = "flatten" }, { type = "linear", out = 32 }, { type = "relu" },
                   { type = "linear", out = 10 }"#,
        opset: 13,
    },
    Case {
        name: "lenet5-batch-norm",
        input_shape: "[1, 28, 28]",
        layers: r#"{ type = "conv2d", out = 6, kernel_size = 5, padding = 2 },
                   { type = "batch_norm2d" }, { type = "tanh" },
                   { type = "avg_pool2d", kernel_size = 2 },
                   { type = "conv2d", out = 16, kernel_size = 5 }, { type = "batch_norm2d" },
                   { type = "sigmoid" }, { type = "avg_pool2d", kernel_size = 2, stride = 2 },
                   { type = "flatten" }, { type = "linear", out = 120 },
                   { type = "batch_norm1d" }, { type = "silu" }, { type = "linear", out = 10 }"#,
        opset: 17,
    },
    Case {
        name: "layer-norm-gelu",
        input_shape: "[12]",
        layers: r#"{ type = "linear", out = 24 }, { type = "layer_norm" }, { type = "gelu" },
                   { type = "linear", out = 24, bias = false }, { type = "layer_norm", bias = false },
                   { type = "gelu", approximate = "tanh" }, { type = "linear", out = 3 },
                   { type = "softmax" }"#,
        opset: 17,
    },
    Case {
        name: "layer-norm-gelu-opset-20",
        input_shape: "[12]",
        layers: r#"{ type = "linear", out = 24 }, { type = "layer_norm" }, { type = "gelu" },
                   { type = "linear", out = 24 }, { type = "gelu", approximate = "tanh" },
                   { type = "linear", out = 3 }"#,
        opset: 20,
    },
    Case {
        name: "patches-permute-mean",
        input_shape: "[1, 16, 16]",
        layers: r#"{ type = "conv2d", out = 8, kernel_size = 4, stride = 4 },
                   { type = "flatten", start_dim = 2 }, { type = "permute", dims = [0, 2, 1] },
                   { type = "layer_norm" }, { type = "linear", out = 8 }, { type = "gelu" },
                   { type = "mean", dim = 1 }, { type = "linear", out = 4 }"#,
        opset: 17,
    },
    Case {
        name: "vision-transformer",
        input_shape: "[1, 28, 28]",
        layers: r#"{ type = "conv2d", out = 8, kernel_size = 4, stride = 4 },
                   { type = "flatten", start_dim = 2 }, { type = "permute", dims = [0, 2, 1] },
                   { type = "positional_embedding", max_len = 49 },
                   { type = "transformer", layers = 2, heads = 2, dim_feedforward = 16,
                     dropout = 0.0, activation = "gelu", norm_first = true },
                   { type = "mean", dim = 1 }, { type = "linear", out = 10 }"#,
        opset: 18,
    },
    Case {
        name: "same-padding-strides-pools",
        input_shape: "[3, 17, 15]",
        layers: r#"{ type = "conv2d", out = 4, kernel_size = [3, 4], padding = "same", dilation = 2 },
                   { type = "relu" },
                   { type = "conv2d", out = 8, kernel_size = 3, stride = 2, padding = [1, 0], groups = 2 },
                   { type = "max_pool2d", kernel_size = 3, stride = 1, padding = 1, ceil_mode = true },
                   { type = "avg_pool2d", kernel_size = 2, padding = 1, count_include_pad = false },
                   { type = "conv_transpose2d", out = 6, kernel_size = 3, stride = 2, padding = 1, output_padding = 1 },
                   { type = "adaptive_avg_pool2d", output_size = [2, 2] },
                   { type = "flatten" }, { type = "linear", out = 3 }"#,
        opset: 18,
    },
    Case {
        name: "conv1d-pools-global",
        input_shape: "[2, 30]",
        layers: r#"{ type = "conv1d", out = 6, kernel_size = 5, padding = 2 }, { type = "relu" },
                   { type = "max_pool1d", kernel_size = 2 },
                   { type = "conv1d", out = 4, kernel_size = 3, stride = 2 },
                   { type = "avg_pool1d", kernel_size = 3, stride = 1, padding = 1 },
                   { type = "flatten" }, { type = "linear", out = 2 }"#,
        opset: 21,
    },
];

/// Random input of `batch` samples of `shape`.
fn input(batch: usize, shape: &[usize], rng: &mut Mt19937) -> Tensor {
    let mut s = vec![batch];
    s.extend_from_slice(shape);
    Tensor::normal(&s, 0.0, 1.0, DType::F32, rng).unwrap()
}

fn run_json(x: &Tensor, y: &Tensor) -> serde_json::Value {
    serde_json::json!({
        "x": x.to_vec_f64(), "x_shape": x.shape(),
        "y": y.to_vec_f64(), "y_shape": y.shape(),
    })
}

/// Batch norm's running statistics set away from 0 and 1, so the inference form matters.
fn shift_buffers(m: &dyn Module, rng: &mut Mt19937) {
    for l in m.children() {
        shift_buffers(l.1, rng);
    }
    for (name, v) in m.buffers() {
        if name == "running_var" || name == "running_mean" {
            let t = Tensor::uniform(&v.shape(), 0.5, 1.5, DType::F32, rng).unwrap();
            v.set(&t).unwrap();
        }
    }
}

#[test]
fn onnx_runtime_gives_nablas_outputs() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Mt19937::new(7);
    let mut cases = Vec::new();
    for c in CASES {
        let cfg = config(c.input_shape, c.layers);
        let shape = cfg.model.input_shape.clone().unwrap();
        let (model, _) = build_model(&cfg, &shape, None, &mut rng).unwrap();
        for l in model.layers() {
            shift_buffers(l.as_ref(), &mut rng);
        }
        let opts = ExportOptions {
            input_shape: shape.clone(),
            opset: c.opset,
            ..ExportOptions::default()
        };
        let exported = export(&cfg.model.layers, &model, &opts).unwrap();
        let path = dir.path().join(format!("{}.onnx", c.name));
        if c.name == "mnist-cnn" {
            // the external-data form a model past 2 GiB takes, here for every weight
            nabla_onnx::save_external(&exported.model, &path, 0).unwrap();
            let small = std::fs::metadata(&path).unwrap().len();
            let data = std::fs::metadata(dir.path().join("mnist-cnn.onnx.data"))
                .unwrap()
                .len();
            assert!(small < 8192 && data > 4 * 16 * 8 * 9, "{small} {data}");
        } else {
            save(&exported.model, &path).unwrap();
        }
        let runs: Vec<_> = [1, 7]
            .iter()
            .map(|&b| {
                let x = input(b, &shape, &mut rng);
                let y = model.forward(&x, &mut ForwardCtx::eval()).unwrap();
                run_json(&x, &y)
            })
            .collect();
        cases.push(serde_json::json!({
            "name": c.name, "model": path.to_str().unwrap(), "runs": runs,
        }));
    }
    // token models: embedding and recurrent stacks (ONNX's gate orders), at two sequence
    // lengths on one exported file (the sequence axis is dynamic)
    let sequences: [(&str, i64, &str); 5] = [
        (
            "character-gpt",
            18,
            r#"{ type = "embedding", dim = 16, num = 12, std = 0.5 },
            { type = "positional_embedding", max_len = 12 },
            { type = "transformer", layers = 2, heads = 4, dim_feedforward = 32, dropout = 0.0,
              activation = "gelu", norm_first = true, causal = true, bias = false },
            { type = "linear", out = 12, tie = "embedding", bias = false }"#,
        ),
        (
            "post-norm-encoder-sinusoidal",
            17,
            r#"{ type = "embedding", dim = 8, num = 12 },
            { type = "positional_embedding", max_len = 16, kind = "sinusoidal" },
            { type = "transformer", layers = 1, heads = 2, dim_feedforward = 16 },
            { type = "linear", out = 12 }"#,
        ),
        (
            "embedding-lstm-2-layers",
            13,
            r#"{ type = "embedding", dim = 8, num = 12 },
            { type = "lstm", hidden = 16, num_layers = 2 }, { type = "linear", out = 12 }"#,
        ),
        (
            "embedding-gru-bidirectional",
            14,
            r#"{ type = "embedding", dim = 8, num = 12 },
            { type = "gru", hidden = 10, bidirectional = true, num_layers = 2 },
            { type = "linear", out = 12 }"#,
        ),
        (
            "embedding-rnn-relu-no-bias",
            21,
            r#"{ type = "embedding", dim = 6, num = 12 },
            { type = "rnn", hidden = 7, nonlinearity = "relu", bias = false, bidirectional = true },
            { type = "linear", out = 12 }"#,
        ),
    ];
    for (name, opset, layers) in sequences {
        // (a causal model is a next-token model on text; the others are checked as layers)
        let data = if layers.contains("causal = true") {
            "[data]\ndataset = \"text\"\npath = \"t.txt\"\nseq_len = 5\n"
        } else {
            ""
        };
        let text = format!("{data}[model]\ninput_shape = [5]\nlayers = [\n{layers}\n]\n");
        let cfg = ExperimentConfig::from_toml_str(&text, "case.toml").unwrap();
        let (model, _) = build_model(&cfg, &[5], None, &mut rng).unwrap();
        let opts = ExportOptions {
            input_shape: vec![5],
            opset,
            ..ExportOptions::default()
        };
        let exported = export(&cfg.model.layers, &model, &opts).unwrap();
        let path = dir.path().join(format!("{name}.onnx"));
        save(&exported.model, &path).unwrap();
        let runs: Vec<_> = [(1, 5), (7, 9)]
            .iter()
            .map(|&(b, t)| {
                let ids: Vec<i64> = (0..b * t).map(|_| (rng.random() * 12.0) as i64).collect();
                let x = Tensor::from_vec(ids.clone(), &[b, t]).unwrap();
                let y = model.forward(&x, &mut ForwardCtx::eval()).unwrap();
                serde_json::json!({
                    "x": ids, "x_shape": [b, t], "x_dtype": "int64",
                    "y": y.to_vec_f64(), "y_shape": y.shape(),
                })
            })
            .collect();
        cases.push(serde_json::json!({
            "name": name, "model": path.to_str().unwrap(), "runs": runs,
        }));
    }
    // a standardized model takes raw features: the standardizer is the graph's first ops
    let cfg = config(
        "[4]",
        r#"{ type = "linear", out = 8 }, { type = "tanh" }, { type = "linear", out = 2 }"#,
    );
    let (model, _) = build_model(&cfg, &[4], None, &mut rng).unwrap();
    let (mean, std) = (vec![10.0, -3.0, 0.5, 100.0], vec![2.0, 0.25, 1.0, 30.0]);
    let opts = ExportOptions {
        input_shape: vec![4],
        standardize: Some((mean.clone(), std.clone())),
        ..ExportOptions::default()
    };
    let exported = export(&cfg.model.layers, &model, &opts).unwrap();
    let path = dir.path().join("standardized.onnx");
    save(&exported.model, &path).unwrap();
    let raw = input(7, &[4], &mut rng)
        .mul(
            &Tensor::from_vec(std.clone(), &[4])
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap(),
        )
        .unwrap()
        .add(
            &Tensor::from_vec(mean.clone(), &[4])
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap(),
        )
        .unwrap();
    let scaled = nabla_data::Standardizer::from_parts(mean, std)
        .unwrap()
        .transform(&raw)
        .unwrap();
    let y = model.forward(&scaled, &mut ForwardCtx::eval()).unwrap();
    cases.push(serde_json::json!({
        "name": "standardized-mlp", "model": path.to_str().unwrap(), "runs": [run_json(&raw, &y)],
    }));
    let (text, ok) = judge(&py, dir.path(), cases);
    assert!(ok, "ONNX Runtime disagrees:\n{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("max abs diff")).count(),
        CASES.len() + 6
    );
}

/// Runs `onnx_check.py` on `cases`; gives its output and whether every model agreed.
fn judge(py: &str, dir: &Path, cases: Vec<serde_json::Value>) -> (String, bool) {
    let spec = dir.join("spec.json");
    std::fs::write(&spec, serde_json::json!({ "cases": cases }).to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx_check.py");
    let out = Command::new(py).arg(&script).arg(&spec).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    (text, out.status.success())
}

/// A real model past protobuf's 2 GiB (540M weights, 2.16 GB): `save` writes it in the
/// external-data form, and ONNX Runtime runs it. Needs about 10 GB of memory and a minute
/// in release: `cargo test --release -p nabla-experiment --test onnx -- --ignored`.
#[test]
#[ignore]
fn a_model_past_2_gib_is_written_with_its_weights_beside_it_and_runs() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "[16384]",
        r#"{ type = "linear", out = 33000 }, { type = "relu" }, { type = "linear", out = 4 }"#,
    );
    let mut rng = Mt19937::new(3);
    let (model, _) = build_model(&cfg, &[16384], None, &mut rng).unwrap();
    let opts = ExportOptions {
        input_shape: vec![16384],
        ..ExportOptions::default()
    };
    let started = std::time::Instant::now();
    let exported = export(&cfg.model.layers, &model, &opts).unwrap();
    let path = dir.path().join("large.onnx");
    save(&exported.model, &path).unwrap();
    eprintln!("export and save: {:.1} s", started.elapsed().as_secs_f64());
    let small = std::fs::metadata(&path).unwrap().len();
    let data = std::fs::metadata(dir.path().join("large.onnx.data"))
        .unwrap()
        .len();
    assert!(small < 1 << 20 && data > 1 << 31, "{small} {data}");
    let x = input(2, &[16384], &mut rng);
    let y = model.forward(&x, &mut ForwardCtx::eval()).unwrap();
    drop((exported, model));
    let case = serde_json::json!({
        "name": "large", "model": path.to_str().unwrap(), "runs": [run_json(&x, &y)],
    });
    let (text, ok) = judge(&py, dir.path(), vec![case]);
    assert!(ok, "ONNX Runtime disagrees:\n{text}");
}

#[test]
fn layers_without_an_onnx_form_and_bad_opsets_are_refused_by_name() {
    let mut rng = Mt19937::new(1);
    let mut refused = |cfg: &ExperimentConfig, opset: i64| -> String {
        let shape = cfg.model.input_shape.clone().unwrap();
        let (model, _) = build_model(cfg, &shape, None, &mut rng).unwrap();
        let opts = ExportOptions {
            input_shape: shape,
            opset,
            ..ExportOptions::default()
        };
        export(&cfg.model.layers, &model, &opts)
            .unwrap_err()
            .to_string()
    };
    let uneven = config(
        "[1, 7, 7]",
        r#"{ type = "adaptive_avg_pool2d", output_size = 3 }, { type = "flatten" }"#,
    );
    let e = refused(&uneven, 18);
    assert!(
        e.contains("model.layers[0] (adaptive_avg_pool2d)") && e.contains("divide"),
        "{e}"
    );
    let mlp = config("[4]", r#"{ type = "linear", out = 5 }"#);
    for opset in [12, 22] {
        let e = refused(&mlp, opset);
        assert!(e.contains("--opset") && e.contains("13 to 21"), "{e}");
    }
    // an opset the exporter writes, but too old for one layer: that layer is named
    let norm = config(
        "[4]",
        r#"{ type = "linear", out = 6 }, { type = "relu" }, { type = "layer_norm" }"#,
    );
    let e = refused(&norm, 16);
    assert!(
        e.contains("model.layers[2] (layer_norm)") && e.contains("opset 17") && e.contains("16"),
        "{e}"
    );
    let gpt = config(
        "[6]",
        r#"{ type = "embedding", dim = 8, num = 5 },
           { type = "transformer", layers = 1, heads = 2, dim_feedforward = 8 }"#,
    );
    let e = refused(&gpt, 15);
    assert!(
        e.contains("model.layers[1] (transformer)") && e.contains("opset 17"),
        "{e}"
    );
}
